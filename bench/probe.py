"""A bounded availability probe, run on a lab host by bench/bench.py (and the
faults scenario).

Requests every URL in a thread of its own (a request that waits delays no
other URL), --interval apart, each with --timeout, until --stop-file
appears or --max-requests requests per URL were made, then writes a
JSON summary per URL: requests sent, failed, refused (the connection itself
refused: nobody listening), cut (connected, then closed before an answer:
the server went away while answering), the longest gap between two successful answers,
and with --timeline every request as [seconds since start, answer time in
seconds, ok]. Standard library only (a lab host has nothing else).

URLs: http://HOST:PORT/PATH; https://HOST:PORT/PATH with the client
certificate of --cacert, --cert and --key (the Docker API with mutual TLS);
unix:///PATH/TO/SOCKET, which asks GET /_ping on a Unix socket (the Docker
API as the docker group uses it).
"""

import argparse
import http.client
import json
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def opener(args):
    """A urllib opener that presents the client certificate to https:// URLs."""
    if not args.cert:
        return urllib.request.build_opener()
    context = ssl.create_default_context(cafile=args.cacert)
    context.load_cert_chain(args.cert, args.key)
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))


# The connection was made, and closed before an answer: the server that
# held it went away while answering (dockerd closes the connections it
# serves when it exits).
CUT = (
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    ConnectionResetError,
    BrokenPipeError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


def check(url, timeout, tls_opener):
    """(ok, refused, cut): whether the URL answered 200, whether the
    connection was refused outright, and whether it was cut before an
    answer."""
    try:
        if url.startswith("unix://"):
            conn = UnixConnection(url[len("unix://") :], timeout)
            try:
                conn.request("GET", "/_ping")
                return conn.getresponse().status == 200, False, False
            finally:
                conn.close()
        with tls_opener.open(url, timeout=timeout) as response:
            return response.status == 200, False, False
    except ConnectionRefusedError:
        return False, True, False
    except CUT:
        return False, False, True
    except urllib.error.URLError as exc:
        return False, isinstance(exc.reason, ConnectionRefusedError), isinstance(exc.reason, CUT)
    except (OSError, ValueError, http.client.HTTPException):
        return False, False, False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--max-requests", type=int, default=3000)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--cacert")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--timeline", action="store_true", help="record every request")
    args = parser.parse_args()
    tls_opener = opener(args)
    counts = {"sent": 0, "failed": 0, "refused": 0, "cut": 0, "last_ok": None, "longest_gap_s": 0.0}
    state = {url: {"url": url, **counts} for url in args.urls}
    timeline = {url: [] for url in args.urls}
    start = time.monotonic()

    def probe(url):
        # Each URL in a thread of its own: a request that waits (a TLS
        # listener held by systemd while dockerd restarts) delays no other.
        item = state[url]
        for _request in range(args.max_requests):
            if os.path.exists(args.stop_file):
                break
            now = time.monotonic()
            ok, refused, cut = check(url, args.timeout, tls_opener)
            item["sent"] += 1
            if args.timeline:
                timeline[url].append([round(now - start, 4), round(time.monotonic() - now, 4), ok])
            if ok:
                if item["last_ok"] is not None:
                    item["longest_gap_s"] = max(item["longest_gap_s"], now - item["last_ok"])
                item["last_ok"] = now
            else:
                item["failed"] += 1
                item["refused"] += refused
                item["cut"] += cut
            time.sleep(args.interval)

    threads = [threading.Thread(target=probe, args=(url,), daemon=True) for url in args.urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary = {
        "duration_s": round(time.monotonic() - start, 2),
        "urls": [
            {k: (round(v, 3) if isinstance(v, float) else v) for k, v in item.items() if k != "last_ok"}
            | ({"timeline": timeline[url]} if args.timeline else {})
            for url, item in state.items()
        ],
    }
    with open(args.out + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(summary, handle)
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()

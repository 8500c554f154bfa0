"""Record what dockerd sends an authorization plugin: the fixtures of the
policy's unit tests (tests/unit/plugins/module_utils/fixtures/authz/).

Run on a lab host (standard library only):

    python3 authz_capture.py serve SOCKET OUT.jsonl   # an authz plugin that allows all and records
    python3 authz_capture.py fixture OUT.jsonl VERSION > docker-VERSION.json

``serve`` answers dockerd's plugin protocol on SOCKET
(/run/docker/plugins/NAME.sock): /Plugin.Activate with the authz
capability, /AuthZPlugin.AuthZReq and .AuthZRes with Allow, and appends
every AuthZReq to OUT.jsonl. Enable it with "authorization-plugins": [NAME]
in daemon.json and a reload, run the client commands to record, and take it
out again the same way before stopping it (dockerd refuses every call while
a plugin it names does not answer).

``fixture`` keeps the requests of the ``# case: NAME`` markers the driver
sent (a GET /_ping?case=NAME before each case), one list per case.
"""

import json
import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    out = None

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/Plugin.Activate":
            answer = {"Implements": ["authz"]}
        else:
            if self.path == "/AuthZPlugin.AuthZReq":
                with open(self.out, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(body) + "\n")
            answer = {"Allow": True}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1.2+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args):
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _address = super().get_request()
        return request, ("local", 0)


def serve(path, out):
    Handler.out = out
    if os.path.exists(path):
        os.unlink(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with UnixServer(path, Handler) as server:
        server.serve_forever()


def fixture(path, version):
    cases, name = {}, None
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            request = json.loads(line)
            parts = urlsplit(request.get("RequestUri") or "")
            marker = parse_qs(parts.query).get("case") if parts.path.endswith("/_ping") else None
            if marker:
                # The last marker ("end") only closes the case before it.
                name = None if marker[0] == "end" else marker[0]
                if name:
                    cases[name] = []
            elif name:
                cases[name].append(request)
    json.dump({"docker": version, "cases": cases}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    else:
        fixture(sys.argv[2], sys.argv[3])

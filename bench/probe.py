"""A bounded availability probe, run on a lab host by bench/bench.py.

Requests every URL once per round, --interval apart, each with --timeout,
until --stop-file appears or --max-requests rounds were made, then writes a
JSON summary per URL: requests sent, failed, and the longest gap between two
successful answers. Standard library only (a lab host has nothing else).
"""

import argparse
import json
import os
import time
import urllib.error
import urllib.request


def check(url, timeout):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - lab URLs given by bench.py
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--max-requests", type=int, default=3000)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args()
    state = {
        url: {"url": url, "sent": 0, "failed": 0, "last_ok": None, "longest_gap_s": 0.0} for url in args.urls
    }
    start = time.monotonic()
    for _request in range(args.max_requests):
        if os.path.exists(args.stop_file):
            break
        for url in args.urls:
            item = state[url]
            now = time.monotonic()
            ok = check(url, args.timeout)
            item["sent"] += 1
            if ok:
                if item["last_ok"] is not None:
                    item["longest_gap_s"] = max(item["longest_gap_s"], now - item["last_ok"])
                item["last_ok"] = now
            else:
                item["failed"] += 1
        time.sleep(args.interval)
    summary = {
        "duration_s": round(time.monotonic() - start, 2),
        "urls": [
            {k: (round(v, 3) if isinstance(v, float) else v) for k, v in item.items() if k != "last_ok"}
            for item in state.values()
        ],
    }
    with open(args.out + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(summary, handle)
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()

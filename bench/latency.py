"""Latency of Engine API calls, run on a lab host by bench/bench.py (--only
authz): how long each of --count calls takes, one after the other, and
their p50 and p95 in milliseconds, as JSON on stdout.

Kinds: ``ping``, ``GET /_ping`` over TLS with the client bundle in
--bundle, each call on a connection of its own (a new TLS handshake each,
as the docker CLI makes); ``run``, ``docker run --rm IMAGE true`` with the
docker CLI over TLS (DOCKER_HOST, DOCKER_CERT_PATH=--bundle), which makes
about ten API calls. Standard library only (a lab host has nothing else).
"""

import argparse
import http.client
import json
import os
import ssl
import statistics
import subprocess
import time


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def ping(args):
    context = ssl.create_default_context(cafile=os.path.join(args.bundle, "ca.pem"))
    context.load_cert_chain(os.path.join(args.bundle, "cert.pem"), os.path.join(args.bundle, "key.pem"))
    conn = http.client.HTTPSConnection(args.host, args.port, context=context, timeout=30)
    try:
        conn.request("GET", "/_ping")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"GET /_ping answered {response.status}")
    finally:
        conn.close()


def run(args):
    env = {
        **os.environ,
        "DOCKER_HOST": f"tcp://{args.host}:{args.port}",
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": args.bundle,
    }
    subprocess.run(["docker", "run", "--rm", args.image, "true"], env=env, check=True, capture_output=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["ping", "run"])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2376)
    parser.add_argument("--image", default="digitalocean/flask-helloworld")
    args = parser.parse_args()
    call = ping if args.kind == "ping" else run
    call(args)  # warm up: the image, the plugin's first start
    times = []
    for _call in range(args.count):
        start = time.perf_counter()
        call(args)
        times.append((time.perf_counter() - start) * 1000)
    print(
        json.dumps(
            {
                "count": len(times),
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(percentile(times, 0.95), 2),
            }
        )
    )


if __name__ == "__main__":
    main()

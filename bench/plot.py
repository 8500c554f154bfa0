"""Draw the reconfiguration measurement of bench/bench.py into a PNG.

One panel per Docker version and change (a reload, a restart): each probe's
requests over the converge, as answer time (ms) against seconds since the
probe started; a failed request is a red cross at the top of the panel, a
refused connection a black one. Reads bench/results/latest.json (or the
file given) and writes bench/results/reconfigure.png (or --out). Needs
matplotlib (bench/requirements.txt, which `make bench` installs).
"""

import argparse
import json
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
KINDS = {
    "published_port": ("flaskapp's published port (127.0.0.1:1337)", "tab:blue"),
    "container_address": ("flaskapp's own address (:5000)", "tab:green"),
    "unix_api": ("Engine API, Unix socket (GET /_ping)", "tab:purple"),
    "tls_api": ("Engine API, TLS listener :2376 (GET /_ping)", "tab:orange"),
}
VERSIONS = {"bookworm": "Docker 20.10 (Debian 12)", "trixie": "Docker 26.1", "trixie-docker28": "Docker 28"}
CHANGES = {
    "reload": "a reloadable change (one more registry mirror)",
    "restart": "a change that needs a restart (server certificate reissued)",
}


def panel(axis, summary, title):
    """One change's timelines on ``axis``."""
    top = 1.0
    for kind, (label, colour) in KINDS.items():
        timeline = summary[kind]["timeline_first_sample"]
        answered = [(t, latency * 1000) for t, latency, ok in timeline if ok]
        if answered:
            top = max(top, max(ms for _t, ms in answered))
        times, answer_ms = [t for t, _ms in answered], [ms for _t, ms in answered]
        axis.plot(times, answer_ms, ".", ms=2, color=colour, label=label)
    for kind, (_label, colour) in KINDS.items():
        failed = [t for t, _latency, ok in summary[kind]["timeline_first_sample"] if not ok]
        if failed:
            axis.plot(failed, [top * 2] * len(failed), "x", color="red", ms=6)
            axis.annotate(f"{len(failed)} failed", (failed[0], top * 2), fontsize=7, color=colour)
    axis.set_title(title, fontsize=9)
    axis.set_xlabel("seconds since the probe started")
    axis.set_ylabel("answer time (ms, log scale)")
    # Log scale: a request held for hundreds of ms through a restart and the
    # usual 1-3 ms answers both stay readable.
    axis.set_yscale("log")
    axis.set_ylim(0.1, top * 4)
    axis.grid(alpha=0.3)


def draw(results, out):
    reconfigure = results.get("reconfigure") or {}
    if not reconfigure:
        raise SystemExit("no reconfigure results: run bench/bench.py --only reconfigure first")
    rows = len(reconfigure)
    figure, axes = plt.subplots(rows, 2, figsize=(13, 4 * rows), squeeze=False)
    for row, (distribution, changes) in enumerate(sorted(reconfigure.items())):
        for column, change in enumerate(("reload", "restart")):
            summary = changes[change]
            did = ", ".join(summary["actions"])
            title = f"{VERSIONS.get(distribution, distribution)}: {CHANGES[change]} -> {did}"
            panel(axes[row][column], summary, title)
    axes[0][0].legend(loc="upper left", fontsize=7, markerscale=4)
    figure.suptitle(
        "Requests during a converge, one probe every 20 ms (red x: failed; first sample of bench/bench.py)",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    return out


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", nargs="?", default=str(RESULTS / "latest.json"))
    parser.add_argument("--out", default=str(RESULTS / "reconfigure.png"))
    args = parser.parse_args()
    print(f"Written: {draw(json.loads(Path(args.results).read_text()), args.out)}")


if __name__ == "__main__":
    main()

"""Benchmarks of the configurator on the local lab (`make bench`).

Measures, on bench hosts of its own (containers labelled
dockerlab.role=bench, never the user's lab hosts):

1. first converge of playbooks/site.yml on a fresh Debian 12 host: wall time,
   the share spent installing packages, the ten slowest tasks;
2. the idempotent re-run on a converged host: wall time, changed (must be 0),
   tasks executed;
3. availability through a reconfiguration: while flaskapp serves, a bounded
   probe on the lab host requests the published port and the container's own
   address while a converge switches the TCP listener from off to tls, which
   restarts the daemon; requests sent and failed, longest gap, and how long the
   Engine API was down (as docker_daemon_restart reports it); with the
   userland proxy off (the hardened default) and on;
4. reconfiguration without downtime (--only reconfigure), on a Debian 12
   (Docker 20.10) host and, with --distributions, others: a probe on the lab
   host asks flaskapp's published port, the container's own address, the
   Engine API on the Unix socket and on the TLS listener (root's client
   bundle) every 20 ms, each request recorded, while a converge applies a
   change dockerd reloads (one more registry mirror: same dockerd process
   expected) and then one it must restart for (the server certificate
   reissued for a new name); requests failed and refused, longest gaps,
   whether dockerd's PID stayed, and what the handler did and why.
   bench/plot.py draws the requests over time into a PNG;
5. scaling: the idempotent re-run over 1, 2, 4 and 8 hosts in one play, with
   the CPU time it took: ansible-playbook's own (with its workers and the
   docker exec clients it starts) and the whole machine's (which adds the lab
   hosts running the modules, and the Docker engine); and the same for
   bench/floor.yml, which only reads each host once (the one module site.yml
   runs on a converged host): the least a re-run can do, whose ratio is the
   floor of site.yml's here. The counts are measured in rounds (one sample
   of each per round), so that a slow spell of the machine does not fall on
   one count only;
6. the authorization policy's cost (--only authz), on a Debian 12 host and,
   with --distributions, others: the latency of GET /_ping over TLS (a new
   connection each, 200 calls) and of `docker run --rm IMAGE true` with the
   docker CLI over TLS (30 calls), p50 and p95, without the policy (root's
   bundle), and with it (root's bundle, which the policy allows at once, and
   a restricted user's, which it judges in full). bench/latency.py times
   them on the lab host.

Each figure is min / median / max over --samples runs. Prints a table and
writes bench/results/<UTC time>.json and bench/results/latest.json. It
measures; it asserts nothing (targets are in the table for comparison).
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SITE = ROOT / "playbooks" / "site.yml"
FLOOR = ROOT / "bench" / "floor.yml"
PROBE = ROOT / "bench" / "probe.py"
LATENCY = ROOT / "bench" / "latency.py"
# The restricted user of the authz measurement.
BENCH_USER = "benchuser"
HOSTS_PLAYBOOK = ROOT / "tests" / "lab" / "hosts.yml"
PACKAGE_ACTIONS = {"ansible.builtin.apt", "apt", "ansible.builtin.package", "package"}
TARGETS = {
    "rerun_wall_s": "<= 6 s, 0 changed",
    "first_non_package_s": "< 25 s",
    "availability_failed": "0",
    "scaling_ratio_8": "<= 2.5",
    "reload_failed": "0",
    "reload_pid": "same PID every time",
    "restart_tls_refused": "0",
    "authz_added_p50_ms": "<= 2 ms added at p50",
    # docker run --rm IMAGE makes five API calls: HEAD /_ping, create,
    # attach, wait and start.
    "authz_added_p50_ms_run": "<= 10 ms (5 API calls x 2 ms)",
}
# The lab's registry mirror (inventory/lab/group_vars/all.yml) and one more,
# never pulled from, that the reload measurement adds and takes away.
LAB_MIRROR = "http://dockerlab-registry:5000"
SPARE_MIRROR = "http://127.0.0.1:5999"
# What the probe asks during a reconfiguration, in this order.
PROBE_KINDS = ("published_port", "container_address", "unix_api", "tls_api")
DOCKER_VERSIONS = {"bookworm": "20.10", "trixie": "26.1", "trixie-docker28": "28"}


def log(message):
    print(f"[bench] {message}", flush=True)


def env(**extra):
    base = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        # The benchmark's own CA: never reissue the lab's bundles.
        "DOCKERLAB_PKI_DIR": str(Path.home() / ".dockerlab" / "pki-bench"),
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    }
    base.update(extra)
    return base


def bench_names(count, distribution="bookworm"):
    return [f"bench-{distribution}-{i}" for i in range(1, count + 1)]


def inventory_file(names):
    """A static inventory of bench hosts, reached with docker exec."""
    hosts = {name: {"ansible_connection": "community.docker.docker"} for name in names}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False, dir=ROOT / ".lab") as handle:
        handle.write(json.dumps({"all": {"children": {"lab": {"hosts": hosts}}}}))
    return handle.name


def machine_busy_s():
    """CPU seconds every process of this machine has used so far (/proc/stat)."""
    with open("/proc/stat") as handle:
        fields = handle.readline().split()[1:]
    # user nice system idle iowait irq softirq steal: all but idle and iowait.
    ticks = [int(f) for f in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def run_json(playbook, names, extra_vars=None, forks=None, check=True, cpu=None):
    """Run a playbook with the json callback; return (wall seconds, parsed output).

    With a dict as ``cpu``, also record the CPU seconds the run took:
    "ansible" (ansible-playbook and every process it waited for) and
    "machine" (all processes of this machine meanwhile)."""
    inventory = inventory_file(names)
    cmd = [
        "ansible-playbook",
        "-i",
        inventory,
        # The lab's settings (registry mirror, lab user) without its dynamic inventory.
        "-e",
        f"@{ROOT / 'inventory' / 'lab' / 'group_vars' / 'all.yml'}",
        str(playbook),
    ]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if forks:
        cmd += ["--forks", str(forks)]
    before, busy = os.times(), machine_busy_s()
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=ROOT, check=False)
    wall = time.monotonic() - start
    if cpu is not None:
        after = os.times()
        cpu["ansible"] = after.children_user + after.children_system
        cpu["ansible"] -= before.children_user + before.children_system
        cpu["machine"] = machine_busy_s() - busy
    os.unlink(inventory)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        data = None
    if check and (proc.returncode != 0 or data is None):
        sys.exit(
            f"[bench] {playbook.name} failed (rc {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        )
    return wall, data


def task_durations(data, host):
    """[(seconds, task name, action)] for every task that ran on ``host``."""
    out = []
    for play in data["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get(host)
            if result is None:
                continue
            duration = task["task"]["duration"]
            seconds = iso_seconds(duration["end"]) - iso_seconds(duration["start"])
            out.append((seconds, task["task"]["name"], result.get("action", "")))
    return out


def iso_seconds(stamp):
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def stats(data, host):
    return data["stats"].get(host, {})


def spread(values):
    values = list(values)
    return {
        "min": round(min(values), 2),
        "median": round(statistics.median(values), 2),
        "max": round(max(values), 2),
        "samples": len(values),
    }


def create_hosts(names, fresh, distribution="bookworm"):
    """Ensure bench hosts exist (recreated with empty volumes when fresh)."""
    if fresh:
        for name in names:
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
            subprocess.run(["docker", "volume", "rm", f"{name}-docker"], capture_output=True, check=False)
    hosts = [{"name": n, "distribution": distribution} for n in names]
    cmd = [
        "ansible-playbook",
        str(HOSTS_PLAYBOOK),
        "-e",
        json.dumps({"lab_hosts": hosts, "lab_hosts_role": "bench", "lab_hosts_prune": False}),
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env(ANSIBLE_STDOUT_CALLBACK="default"), cwd=ROOT, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"[bench] creating bench hosts failed:\n{proc.stdout[-3000:]}")


def remove_hosts():
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=dockerlab.role=bench"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True, check=False)
    vols = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", "label=dockerlab.role=bench"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if vols:
        subprocess.run(["docker", "volume", "rm", *vols], capture_output=True, check=False)


# --- the measurements ----------------------------------------------------------


def first_converge(samples):
    walls, package, other, slowest = [], [], [], []
    for i in range(samples):
        log(f"first converge {i + 1}/{samples} on a fresh host")
        create_hosts(bench_names(1), fresh=True)
        wall, data = run_json(SITE, bench_names(1))
        tasks = task_durations(data, "bench-bookworm-1")
        pkg = sum(task[0] for task in tasks if task[2] in PACKAGE_ACTIONS)
        walls.append(wall)
        package.append(pkg)
        other.append(wall - pkg)
        if not slowest:
            slowest = sorted(tasks, reverse=True)[:10]
    return {
        "wall_s": spread(walls),
        "package_s": spread(package),
        "non_package_s": spread(other),
        "slowest_tasks_first_sample": [
            {"s": round(s, 2), "task": name, "action": a} for s, name, a in slowest
        ],
    }


def rerun_sample(names, playbook=SITE):
    """One re-run of ``playbook`` over ``names``: wall and CPU seconds,
    changed (all hosts) and tasks executed (the first host)."""
    cpu = {}
    wall, data = run_json(playbook, names, forks=max(len(names), 5), cpu=cpu)
    st = stats(data, names[0])
    return {
        "wall": wall,
        "changed": sum(stats(data, n).get("changed", 0) for n in names),
        "executed": st.get("ok", 0) + st.get("changed", 0),
        "ansible_cpu": cpu["ansible"],
        "machine_cpu": cpu["machine"],
    }


def summarize(runs):
    return {
        "wall_s": spread(r["wall"] for r in runs),
        "changed": max(r["changed"] for r in runs),
        "tasks_executed": max(r["executed"] for r in runs),
        "ansible_cpu_s": spread(r["ansible_cpu"] for r in runs),
        "machine_cpu_s": spread(r["machine_cpu"] for r in runs),
    }


def rerun(samples, names=None, playbook=SITE):
    names = names or bench_names(1)
    return summarize([rerun_sample(names, playbook) for _sample in range(samples)])


def host_exec(host, *argv, check=True):
    return subprocess.run(["docker", "exec", host, *argv], capture_output=True, text=True, check=check)


def flask_address(host):
    """flaskapp's address on the lab host's bridge."""
    networks = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    return host_exec(host, "docker", "inspect", "-f", networks, "flaskapp").stdout.strip()


def start_probe(host, urls, max_requests, options=()):
    """Start bench/probe.py on ``host`` (copied there first), detached: every
    URL every 20 ms, 1 s timeout, at most ``max_requests`` rounds; a second
    to settle before the change it measures."""
    subprocess.run(["docker", "cp", str(PROBE), f"{host}:/root/probe.py"], check=True)
    host_exec(host, "rm", "-f", "/root/probe.stop", "/root/probe.json")
    command = ["python3", "/root/probe.py", "--out", "/root/probe.json", "--stop-file", "/root/probe.stop"]
    command += ["--max-requests", str(max_requests), "--interval", "0.02", "--timeout", "1", *options]
    subprocess.run(["docker", "exec", "-d", host, *command, *urls], check=True)
    time.sleep(1)


def stop_probe(host):
    """A second after the change, stop the probe and return its summary."""
    time.sleep(1)
    host_exec(host, "touch", "/root/probe.stop")
    for _attempt in range(100):
        out = host_exec(host, "cat", "/root/probe.json", check=False)
        if out.returncode == 0 and out.stdout.strip():
            return json.loads(out.stdout)
        time.sleep(0.2)
    sys.exit(f"[bench] the probe on {host} wrote no result")


def availability(samples):
    """The probe through a daemon restart, with the userland proxy off (the
    hardened default: published ports through NAT rules) and on."""
    return {
        "userland_proxy_off": availability_with(samples, userland_proxy=False),
        "userland_proxy_on": availability_with(samples, userland_proxy=True),
    }


def availability_with(samples, userland_proxy):
    host = "bench-bookworm-1"
    results = []
    proxy = {"docker_engine_userland_proxy": userland_proxy}
    for i in range(samples):
        log(
            f"availability {i + 1}/{samples}, userland proxy {'on' if userland_proxy else 'off'}: "
            "listener off, then tls (a daemon restart)"
        )
        run_json(SITE, [host], {"docker_access_tcp": "off", **proxy})
        start_probe(host, ["http://127.0.0.1:1337/", f"http://{flask_address(host)}:5000/"], 3000)
        data = run_json(SITE, [host], {"docker_access_tcp": "tls", **proxy})[1]
        probe = stop_probe(host)
        downtime = None
        for play in data["plays"]:
            for task in play["tasks"]:
                res = task["hosts"].get(host, {})
                if "downtime" in res and res.get("restarted"):
                    downtime = res["downtime"]
        results.append({"probe": probe, "api_downtime_s": downtime})
    summary = {}
    for url_kind, index in (("published_port", 0), ("container_address", 1)):
        per = [r["probe"]["urls"][index] for r in results if r["probe"]]
        summary[url_kind] = {
            "url": per[0]["url"] if per else "",
            "sent": spread(p["sent"] for p in per),
            "failed": spread(p["failed"] for p in per),
            "longest_gap_s": spread(p["longest_gap_s"] for p in per),
        }
    downs = [r["api_downtime_s"] for r in results if r["api_downtime_s"] is not None]
    summary["api_downtime_s"] = spread(downs) if downs else None
    return summary


def main_pid(host):
    out = host_exec(host, "systemctl", "show", "--property=MainPID", "--value", "docker.service")
    return out.stdout.strip()


def handler_result(data, host):
    """What docker_daemon_restart did in a run: {action, reason, pid}, or {}."""
    for play in data["plays"]:
        for task in play["tasks"]:
            res = task["hosts"].get(host, {})
            if res.get("applied") in ("reload", "restart", "start"):
                return {key: res.get(key) for key in ("applied", "reason", "pid", "downtime")}
    return {}


def probed(host, extra_vars):
    """Converge ``host`` with ``extra_vars`` while the probe runs; returns
    (the probe's summary, the handler's result, dockerd's PID before, after)."""
    bundle = "/root/.docker"
    # In PROBE_KINDS' order.
    urls = [
        "http://127.0.0.1:1337/",
        f"http://{flask_address(host)}:5000/",
        "unix:///var/run/docker.sock",
        "https://127.0.0.1:2376/_ping",
    ]
    tls = [f"--cacert={bundle}/ca.pem", f"--cert={bundle}/cert.pem", f"--key={bundle}/key.pem"]
    start_probe(host, urls, 1500, ["--timeline", *tls])
    before = main_pid(host)
    data = run_json(SITE, [host], extra_vars)[1]
    after = main_pid(host)
    return stop_probe(host), handler_result(data, host), before, after


def reconfigure_summary(samples):
    """Per probe kind: sent, failed, refused, longest gap (spreads); the
    handler's actions and reasons; how often dockerd's PID stayed; and the
    first sample's request timeline, for bench/plot.py."""
    summary = {"samples": len(samples)}
    for index, kind in enumerate(PROBE_KINDS):
        per = [sample["probe"]["urls"][index] for sample in samples]
        summary[kind] = {
            "url": per[0]["url"],
            "sent": spread(p["sent"] for p in per),
            "failed": spread(p["failed"] for p in per),
            "refused": spread(p["refused"] for p in per),
            "longest_gap_s": spread(p["longest_gap_s"] for p in per),
            "timeline_first_sample": per[0]["timeline"],
        }
    summary["actions"] = sorted({sample["handler"].get("applied") or "none" for sample in samples})
    summary["reasons"] = sorted({sample["handler"].get("reason") or "" for sample in samples})
    summary["pid_unchanged"] = sum(sample["pid_before"] == sample["pid_after"] for sample in samples)
    return summary


def reconfigure(samples, distribution):
    """A reloadable change, then one that needs a restart, under the probe."""
    host = bench_names(1, distribution)[0]
    create_hosts([host], fresh=False, distribution=distribution)
    log(f"reconfigure on {host}: converging it")
    run_json(SITE, [host])
    runs = {"reload": [], "restart": []}
    for i in range(samples):
        log(f"reconfigure {i + 1}/{samples} on {host}: one more registry mirror (a reload)")
        run_json(SITE, [host], {"docker_engine_registry_mirrors": [LAB_MIRROR]})
        probe, handler, before, after = probed(
            host, {"docker_engine_registry_mirrors": [LAB_MIRROR, f"{SPARE_MIRROR}{i}"]}
        )
        runs["reload"].append({"probe": probe, "handler": handler, "pid_before": before, "pid_after": after})
        log(f"reconfigure {i + 1}/{samples} on {host}: server certificate for a new name (a restart)")
        run_json(SITE, [host])
        probe, handler, before, after = probed(
            host, {"docker_access_extra_sans": [f"DNS:bench-restart-{i}.lab.example"]}
        )
        runs["restart"].append({"probe": probe, "handler": handler, "pid_before": before, "pid_after": after})
    run_json(SITE, [host])
    return {kind: reconfigure_summary(items) for kind, items in runs.items()}


def latency(host, kind, bundle, count):
    """bench/latency.py on ``host``: p50 and p95 (ms) of ``count`` calls."""
    subprocess.run(["docker", "cp", str(LATENCY), f"{host}:/root/latency.py"], check=True)
    out = host_exec(host, "python3", "/root/latency.py", kind, "--bundle", bundle, "--count", str(count))
    return json.loads(out.stdout)


def authz(samples, distribution):
    """The policy's cost per API call: off, then on, in rounds."""
    host = bench_names(1, distribution)[0]
    create_hosts([host], fresh=False, distribution=distribution)
    host_exec(host, "sh", "-c", f"id {BENCH_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {BENCH_USER}")
    root, user = "/root/.docker", f"/home/{BENCH_USER}/.docker"
    runs = {"off_root": [], "on_root": [], "on_restricted": []}
    for i in range(samples):
        log(f"authz {i + 1}/{samples} on {host}: without the policy")
        run_json(SITE, [host], {"docker_access_restricted_users": [], "docker_access_authz": False})
        runs["off_root"].append({kind: latency(host, kind, root, count) for kind, count in LATENCY_CALLS})
        log(f"authz {i + 1}/{samples} on {host}: with the policy ({BENCH_USER} restricted)")
        run_json(SITE, [host], {"docker_access_restricted_users": [BENCH_USER]})
        runs["on_root"].append({kind: latency(host, kind, root, count) for kind, count in LATENCY_CALLS})
        runs["on_restricted"].append(
            {kind: latency(host, kind, user, count) for kind, count in LATENCY_CALLS}
        )
    run_json(SITE, [host], {"docker_access_restricted_users": [], "docker_access_authz": False})
    # Its certificate, still valid, would count as revoked in the other
    # measurements and turn the policy on there: the bench's CA forgets it.
    shutil.rmtree(Path(env()["DOCKERLAB_PKI_DIR"]) / "users" / BENCH_USER, ignore_errors=True)
    out = {
        case: {
            kind: {stat: spread(sample[kind][stat] for sample in items) for stat in ("p50_ms", "p95_ms")}
            for kind, _count in LATENCY_CALLS
        }
        for case, items in runs.items()
    }
    for kind, _count in LATENCY_CALLS:
        base = out["off_root"][kind]["p50_ms"]["median"]
        out[f"added_p50_ms_{kind}"] = {
            case: round(out[case][kind]["p50_ms"]["median"] - base, 2)
            for case in ("on_root", "on_restricted")
        }
    return out


# (kind, calls per sample) of the authz measurement.
LATENCY_CALLS = (("ping", 200), ("run", 30))


def authz_rows(az, docker):
    """The table's rows for one distribution's authz results."""
    rows = []
    names = {"ping": "GET /_ping over TLS", "run": "docker run --rm over TLS"}
    for kind, _count in LATENCY_CALLS:
        for case, label in (
            ("off_root", "no policy"),
            ("on_root", "policy, root"),
            ("on_restricted", "policy, restricted"),
        ):
            item = az[case][kind]
            rows.append(
                (
                    f"{names[kind]}, Docker {docker}, {label}: p50 / p95 (ms)",
                    f"{item['p50_ms']['median']:.1f} / {item['p95_ms']['median']:.1f}",
                    "",
                )
            )
        added = az[f"added_p50_ms_{kind}"]
        rows.append(
            (
                "  added at p50 (ms): root / restricted",
                f"{added['on_root']:.1f} / {added['on_restricted']:.1f}",
                TARGETS["authz_added_p50_ms"] if kind == "ping" else TARGETS["authz_added_p50_ms_run"],
            )
        )
    return rows


def scaling(samples):
    create_hosts(bench_names(8), fresh=False)
    log("converging 8 bench hosts (first time for the new ones)")
    run_json(SITE, bench_names(8), forks=8)
    # In rounds (1, 2, 4, 8 hosts, then the floor over 1 and 8), not each
    # count's samples in a row: a slow spell of the machine then falls on
    # every count alike instead of on one.
    sites = {count: [] for count in (1, 2, 4, 8)}
    floors = {count: [] for count in (1, 8)}
    for i in range(samples):
        log(f"scaling: round {i + 1}/{samples}: re-run over 1, 2, 4 and 8 hosts, then the floor over 1 and 8")
        for count, runs in sites.items():
            runs.append(rerun_sample(bench_names(count)))
        for count, runs in floors.items():
            runs.append(rerun_sample(bench_names(count), FLOOR))
    out = {str(count): summarize(runs) for count, runs in sites.items()}
    floor = {str(count): summarize(runs) for count, runs in floors.items()}
    for runs in (out, floor):
        base = runs["1"]["wall_s"]["median"]
        for count in runs:
            runs[count]["ratio_to_1"] = round(runs[count]["wall_s"]["median"] / base, 2)
    # What each host beyond the first costs the machine, in CPU seconds: on a
    # machine with fewer CPUs than hosts this, not latency, sets the ratio.
    extra = out["8"]["machine_cpu_s"]["median"] - out["1"]["machine_cpu_s"]["median"]
    return {"hosts": out, "floor": floor, "machine_cpu_s_per_extra_host": round(extra / 7, 2)}


# --- report ---------------------------------------------------------------------


def fmt(s):
    return f"{s['min']:.1f} / {s['median']:.1f} / {s['max']:.1f}"


def table(results):
    rows = [("measure", "min / median / max", "target")]
    if "first_converge" in results:
        fc = results["first_converge"]
        rows += [
            ("first converge, wall (s)", fmt(fc["wall_s"]), ""),
            ("  of which package installation (s)", fmt(fc["package_s"]), ""),
            ("  everything else (s)", fmt(fc["non_package_s"]), TARGETS["first_non_package_s"]),
        ]
    if "rerun" in results:
        rr = results["rerun"]
        rows += [
            ("idempotent re-run, wall (s)", fmt(rr["wall_s"]), TARGETS["rerun_wall_s"]),
            ("  changed / tasks executed", f"{rr['changed']} / {rr['tasks_executed']}", "0 changed"),
        ]
    for mode, av in (results.get("availability") or {}).items():
        proxy = "proxy off" if mode == "userland_proxy_off" else "proxy on"
        for kind in ("container_address", "published_port"):
            a = av[kind]
            rows += [
                (
                    f"restart, {proxy}: {kind.replace('_', ' ')} failed / sent",
                    f"{fmt(a['failed'])} of {a['sent']['median']:.0f}",
                    TARGETS["availability_failed"],
                ),
                ("  longest gap (s)", fmt(a["longest_gap_s"]), ""),
            ]
        if av.get("api_downtime_s"):
            rows.append(("  Engine API down (s)", fmt(av["api_downtime_s"]), ""))
    for distribution, rc in (results.get("reconfigure") or {}).items():
        docker = DOCKER_VERSIONS.get(distribution, distribution)
        rows += reconfigure_rows(rc, docker)
    for distribution, az in (results.get("authz") or {}).items():
        rows += authz_rows(az, DOCKER_VERSIONS.get(distribution, distribution))
    if "scaling" in results:
        for count, sc in results["scaling"]["hosts"].items():
            rows += [
                (
                    f"re-run over {count} host(s) (s), ratio",
                    f"{fmt(sc['wall_s'])}  x{sc['ratio_to_1']}",
                    TARGETS["scaling_ratio_8"] if count == "8" else "",
                ),
                (
                    "  CPU s: ansible-playbook / machine",
                    f"{sc['ansible_cpu_s']['median']:.1f} / {sc['machine_cpu_s']['median']:.1f}",
                    "",
                ),
            ]
        per_host = results["scaling"]["machine_cpu_s_per_extra_host"]
        rows.append(("  machine CPU s per host beyond the first", f"{per_host:.2f}", ""))
        for count, fl in results["scaling"]["floor"].items():
            rows.append(
                (
                    f"floor: one host read over {count} host(s) (s), ratio",
                    f"{fmt(fl['wall_s'])}  x{fl['ratio_to_1']}",
                    "",
                )
            )
    width = max(len(r[0]) for r in rows)
    mid = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b:<{mid}}  {c}" for a, b, c in rows)


def reconfigure_rows(rc, docker):
    """The table's rows for one distribution's reconfiguration results."""
    reload, restart = rc["reload"], rc["restart"]
    label = {kind: kind.replace("_", " ").replace("api", "API") for kind in PROBE_KINDS}

    def failed(summary, kind, what="failed"):
        return f"{fmt(summary[kind][what])} of {summary[kind]['sent']['median']:.0f}"

    rows = [
        (
            f"reload (a registry mirror), Docker {docker}: {label['published_port']} failed / sent",
            failed(reload, "published_port"),
            TARGETS["reload_failed"],
        ),
        (f"  {label['unix_api']} failed / sent", failed(reload, "unix_api"), TARGETS["reload_failed"]),
        (f"  {label['tls_api']} failed / sent", failed(reload, "tls_api"), ""),
        (
            "  dockerd PID unchanged; the handler did",
            f"{reload['pid_unchanged']} of {reload['samples']}; {', '.join(reload['actions'])}",
            TARGETS["reload_pid"],
        ),
        (
            f"restart (server certificate reissued), Docker {docker}: {label['tls_api']} refused / sent",
            failed(restart, "tls_api", "refused"),
            TARGETS["restart_tls_refused"],
        ),
        (f"  {label['tls_api']} failed / sent", failed(restart, "tls_api"), ""),
        (f"  {label['unix_api']} failed / sent", failed(restart, "unix_api"), ""),
        (
            f"  {label['published_port']} failed / sent (dockerd rebuilds its NAT chains)",
            failed(restart, "published_port"),
            "reported",
        ),
        ("    longest gap (s)", fmt(restart["published_port"]["longest_gap_s"]), ""),
        (f"  {label['container_address']} failed / sent", failed(restart, "container_address"), "0"),
        ("  the handler did", ", ".join(restart["actions"]), "restart"),
    ]
    return rows


def slowest_table(results):
    """The first converge's ten slowest tasks (first sample), or "" without one."""
    slowest = (results.get("first_converge") or {}).get("slowest_tasks_first_sample") or []
    if not slowest:
        return ""
    lines = ["ten slowest tasks of the first converge (first sample):"]
    lines += [f"{task['s']:6.2f} s  {task['task']}  ({task['action']})" for task in slowest]
    return "\n".join(lines)


def machine():
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "docker": subprocess.run(
            ["docker", "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True, check=False
        ).stdout.strip(),
    }


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=3, help="samples per figure (default 3)")
    parser.add_argument("--first-samples", type=int, default=3, help="samples of the slow first converge")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["first", "rerun", "availability", "reconfigure", "scaling", "authz"],
        default=["first", "rerun", "availability", "reconfigure", "scaling", "authz"],
    )
    parser.add_argument(
        "--distributions",
        nargs="*",
        choices=sorted(DOCKER_VERSIONS),
        default=["bookworm"],
        help="lab host distributions of the reconfigure and authz measurements (default bookworm)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench hosts afterwards")
    args = parser.parse_args()
    (ROOT / ".lab").mkdir(exist_ok=True)
    results = {
        "machine": machine(),
        "samples": args.samples,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        if "first" in args.only:
            results["first_converge"] = first_converge(args.first_samples)
        else:
            create_hosts(bench_names(1), fresh=False)
            run_json(SITE, bench_names(1))
        if "rerun" in args.only:
            log("idempotent re-runs")
            results["rerun"] = rerun(args.samples)
        if "availability" in args.only:
            results["availability"] = availability(args.samples)
        if "reconfigure" in args.only:
            results["reconfigure"] = {d: reconfigure(args.samples, d) for d in args.distributions}
        if "scaling" in args.only:
            results["scaling"] = scaling(args.samples)
        if "authz" in args.only:
            results["authz"] = {d: authz(args.samples, d) for d in args.distributions}
    finally:
        if not args.keep:
            remove_hosts()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = json.dumps(results, indent=2) + "\n"
    (RESULTS / f"{stamp}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print()
    print(
        f"Machine: {results['machine']['platform']}, {results['machine']['cpus']} CPUs, Docker "
        f"{results['machine']['docker']} (lab hosts: Debian 12, Docker 20.10)"
    )
    print(table(results))
    if slowest_table(results):
        print()
        print(slowest_table(results))
    print(f"\nWritten: bench/results/{stamp}.json")


if __name__ == "__main__":
    main()

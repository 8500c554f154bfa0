"""Helpers for the testinfra tests of every Molecule scenario.

The tests run on the controller; `host` (testinfra) runs commands on a lab
host through `docker exec`. Some outcomes can only be shown by running
Ansible again (a refused input, a rolled-back restart, a check run): those
go through run_playbook(), against the scenario's own inventory.
"""

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def host_name(host):
    """The inventory name of the testinfra host (the container's name, with
    testinfra's docker backend)."""
    backend = host.backend
    return getattr(backend, "host", None) or backend.name


def playbook_command(host, playbook, extra_vars=None, check=False):
    """(argv, env) of ansible-playbook against this one host with the
    scenario's inventory, the project's ansible.cfg and the tests' own CA."""
    cmd = [
        "ansible-playbook",
        "--inventory",
        os.environ["MOLECULE_INVENTORY_FILE"],
        "--limit",
        host_name(host),
        str(playbook),
    ]
    if extra_vars:
        cmd += ["--extra-vars", json.dumps(extra_vars)]
    if check:
        cmd += ["--check", "--diff"]
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",  # Molecule forces colour for its own runs
        "PYTHONUNBUFFERED": "1",  # each line as it happens (run_playbook_until reads them)
        # The tests' own CA, as in .config/molecule/config.yml: never the lab's.
        "DOCKERLAB_PKI_DIR": pki_dir(),
    }
    return cmd, env


def pki_dir():
    """The controller's PKI directory the scenarios use."""
    return os.environ.get("DOCKERLAB_PKI_DIR", str(Path.home() / ".dockerlab" / "pki-molecule"))


def run_playbook(host, playbook, extra_vars=None, check=False, timeout=600):
    """Run a playbook against this one host with the scenario's inventory.

    Returns the CompletedProcess (stdout holds Ansible's output)."""
    cmd, env = playbook_command(host, playbook, extra_vars, check)
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False, cwd=PROJECT
    )


def run_playbook_until(host, playbook, marker, delay=0.3, extra_vars=None, timeout=300):
    """Run a playbook and SIGKILL it (its whole process group, as a killed CI
    job or a closed terminal would) ``delay`` seconds after a line containing
    ``marker`` appears. Returns (killed, output): killed is False when the
    run ended before the marker."""
    cmd, env = playbook_command(host, playbook, extra_vars)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=PROJECT,
        start_new_session=True,
    )
    lines = []
    deadline = time.monotonic() + timeout
    try:
        for line in proc.stdout:
            lines.append(line)
            if marker in line:
                time.sleep(delay)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return True, "".join(lines)
            if time.monotonic() > deadline:
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    return False, "".join(lines)


# "TASK [ROLE : NAME] ***" or "TASK [NAME] ***"; NAME without the role.
TASK_LINE = re.compile(r"^TASK \[(?:[\w.]+ : )?(.*)\] \*+$")


def recap(output, host):
    """The PLAY RECAP counters of ``host`` as a dict (ok, changed, failed...)."""
    for line in ANSI.sub("", output).splitlines():
        if line.startswith(host + " ") and "ok=" in line:
            return {k: int(v) for k, v in (f.split("=") for f in line.split(":", 1)[1].split())}
    raise AssertionError(f"no PLAY RECAP line for {host} in:\n{output[-3000:]}")


def changed_tasks(output):
    """The names of the tasks that reported changed, in order (without the
    role's prefix), from Ansible's default output."""
    names, task = [], None
    for line in ANSI.sub("", output).splitlines():
        match = TASK_LINE.match(line)
        if match:
            task = match.group(1)
        elif line.startswith("changed:") and task is not None and (not names or names[-1] != task):
            names.append(task)
    return names


FINGERPRINT_PATHS = (
    "/etc/docker",
    "/etc/systemd/system/docker.service.d",
    "/etc/systemd/system/dockerlab-listener.socket",
    "/etc/group",
    "/etc/gshadow",
)


def fingerprint(host):
    """What a refused run must leave exactly as it was: checksums and modes
    of the Docker configuration, the drop-ins, the group files and the TLS
    files, the running daemon's command line and the list of containers."""
    paths = " ".join(FINGERPRINT_PATHS)
    files = host.run(
        f"find {paths} -type f -exec sha256sum {{}} + 2>/dev/null | sort; "
        f"find {paths} -printf '%p %m %u %g\\n' 2>/dev/null | sort"
    ).stdout
    unit = host.run("systemctl show docker.service -p ExecStart -p ActiveState -p MainPID").stdout
    containers = host.run("docker ps -a --format '{{.ID}} {{.Names}} {{.State}}'").stdout
    text = "\n".join([files, unit, containers])
    return hashlib.sha256(text.encode()).hexdigest(), text


def put_file(host, path, content):
    """Write ``content`` to ``path`` on the host, byte for byte."""
    encoded = base64.b64encode(content.encode()).decode()
    host.run_test("echo %s | base64 -d > %s", encoded, path)


def journal(host, unit="docker.service", lines=40):
    """The unit's recent journal, to print when a service test fails."""
    return host.run(f"journalctl -u {unit} -n {lines} --no-pager").stdout


PROBE = PROJECT / "bench" / "probe.py"


def start_probe(host, urls, *, rounds=600, interval=0.02, timeout=10, bundle=None):
    """bench/probe.py on the host, in the background, against ``urls``:
    at most ``rounds`` rounds, ``interval`` apart, each request waiting up to
    ``timeout`` seconds (a connection that waits is not refused); https://
    URLs with the client bundle in directory ``bundle``. Stop it with
    stop_probe, which returns its summary per URL."""
    subprocess.run(["docker", "cp", str(PROBE), f"{host_name(host)}:/root/probe.py"], check=True)
    host.run("rm -f /root/probe.stop /root/probe.json")
    tls = ["--cacert", f"{bundle}/ca.pem", "--cert", f"{bundle}/cert.pem", "--key", f"{bundle}/key.pem"]
    subprocess.run(
        [
            *("docker", "exec", "-d", host_name(host), "python3", "/root/probe.py"),
            *("--out", "/root/probe.json", "--stop-file", "/root/probe.stop"),
            *("--max-requests", str(rounds), "--interval", str(interval), "--timeout", str(timeout)),
            *(tls if bundle else []),
            *urls,
        ],
        check=True,
    )
    time.sleep(1)


def stop_probe(host):
    """Stop the probe start_probe started; its summary per URL."""
    host.run("touch /root/probe.stop")
    for _attempt in range(120):
        out = host.run("cat /root/probe.json")
        if out.rc == 0 and out.stdout.strip():
            return json.loads(out.stdout)["urls"]
        time.sleep(0.5)
    raise AssertionError("the probe wrote no result")

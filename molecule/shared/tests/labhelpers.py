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
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def host_name(host):
    """The inventory name of the testinfra host."""
    return host.backend.host


def run_playbook(host, playbook, extra_vars=None, check=False, timeout=600):
    """Run a playbook against this one host with the scenario's inventory.

    Returns the CompletedProcess (stdout holds Ansible's output)."""
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
        # The tests' own CA, as in .config/molecule/config.yml: never the lab's.
        "DOCKERLAB_PKI_DIR": os.environ.get(
            "DOCKERLAB_PKI_DIR", str(Path.home() / ".dockerlab" / "pki-molecule")
        ),
    }
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False, cwd=PROJECT
    )


def recap(output, host):
    """The PLAY RECAP counters of ``host`` as a dict (ok, changed, failed...)."""
    for line in ANSI.sub("", output).splitlines():
        if line.startswith(host + " ") and "ok=" in line:
            return {k: int(v) for k, v in (f.split("=") for f in line.split(":", 1)[1].split())}
    raise AssertionError(f"no PLAY RECAP line for {host} in:\n{output[-3000:]}")


FINGERPRINT_PATHS = (
    "/etc/docker",
    "/etc/systemd/system/docker.service.d",
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

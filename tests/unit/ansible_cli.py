"""Run the real Ansible command line tools from the unit tests: the venv's
ansible, ansible-playbook or ansible-doc, with the project's ansible.cfg, a
private temporary directory and an explicit inventory where one is needed
(the lab's would ask the Docker engine for its hosts)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(tool, args, *, temp, filter_plugins=None, lookup_plugins=None, env=None, cwd=None, timeout=120):
    """CompletedProcess of ``tool`` (e.g. "ansible") with ``args`` (and ``env`` added to
    the environment)."""
    env = {
        **os.environ,
        **(env or {}),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(temp),
        "ANSIBLE_NOCOLOR": "1",
    }
    for name, path in (
        ("ANSIBLE_FILTER_PLUGINS", filter_plugins),
        ("ANSIBLE_LOOKUP_PLUGINS", lookup_plugins),
    ):
        env.pop(name, None)
        if path:
            env[name] = str(path)
    return subprocess.run(
        [str(BIN / tool), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or temp,
        timeout=timeout,
        check=False,
    )


def debug_run(expression, *, temp, filter_plugins=None, lookup_plugins=None, extra_vars=None):
    """CompletedProcess of ansible's debug module on localhost printing
    ``msg=<{{ expression }}>``, whether or not it succeeds."""
    args = ["localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.debug"]
    if extra_vars:
        args += ["-e", f"@{extra_vars}"]
    return run(
        "ansible",
        [*args, "-a", f"msg=<{{{{ {expression} }}}}>"],
        temp=temp,
        filter_plugins=filter_plugins,
        lookup_plugins=lookup_plugins,
    )


def debug(expression, *, temp, filter_plugins=None, lookup_plugins=None, extra_vars=None):
    """stdout of ansible's debug module on localhost printing ``msg=<{{ expression }}>``."""
    done = debug_run(
        expression,
        temp=temp,
        filter_plugins=filter_plugins,
        lookup_plugins=lookup_plugins,
        extra_vars=extra_vars,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout

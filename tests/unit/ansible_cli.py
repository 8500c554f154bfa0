"""Run the real Ansible command line tools from the unit tests: ansible,
ansible-playbook or ansible-doc as found on PATH (the venv's under plain
pytest, ansible-test's injector under ``ansible-test units``), with the
project's ansible.cfg, this collection on ANSIBLE_COLLECTIONS_PATH, a private
temporary directory and an explicit inventory where one is needed (the lab's
would ask the Docker engine for its hosts). The collection's filters and
lookups are referred to by their FQCN (``dockerlab.docker.engine_plan``)."""

import os
import shutil
import subprocess
from pathlib import Path

# The collection's root: the checkout, or ansible-test's copy of it.
ROOT = Path(__file__).resolve().parents[2]


def collections_path():
    """The directory that holds ``ansible_collections/dockerlab/docker``: the
    one above the collection root when that sits in an ``ansible_collections``
    directory (ansible-test's copy), else the checkout's link to itself
    (``.ansible/collections``, made by ``tests/lab/lab.sh collection``)."""
    if ROOT.parent.parent.name == "ansible_collections":
        return ROOT.parent.parent.parent
    return ROOT / ".ansible" / "collections"


def _python_path():
    """PYTHONPATH for the tools. ansible-test gives the tests of modules and
    module_utils only ansible.module_utils on PYTHONPATH; the tools need the
    whole ansible package, which it names in ANSIBLE_TEST_ANSIBLE_LIB_ROOT."""
    paths = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    lib_root = os.environ.get("ANSIBLE_TEST_ANSIBLE_LIB_ROOT")
    if lib_root:
        paths.insert(0, os.path.dirname(lib_root))
    return os.pathsep.join(paths)


def run(tool, args, *, temp, env=None, cwd=None, timeout=120):
    """CompletedProcess of ``tool`` (e.g. "ansible") with ``args`` (and ``env`` added to
    the environment)."""
    executable = shutil.which(tool)
    assert executable, f"{tool} is not on PATH: {os.environ.get('PATH')}"
    env = {
        **os.environ,
        **(env or {}),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path()),
        "ANSIBLE_LOCAL_TEMP": str(temp),
        "ANSIBLE_NOCOLOR": "1",
    }
    # Plugins come from the collection, by name, and from nowhere else.
    for name in ("ANSIBLE_FILTER_PLUGINS", "ANSIBLE_LOOKUP_PLUGINS"):
        env.pop(name, None)
    python_path = _python_path()
    if python_path:
        env["PYTHONPATH"] = python_path
    return subprocess.run(
        [executable, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd or temp,
        timeout=timeout,
        check=False,
    )


def debug_run(expression, *, temp, extra_vars=None):
    """CompletedProcess of ansible's debug module on localhost printing
    ``msg=<{{ expression }}>``, whether or not it succeeds."""
    args = ["localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.debug"]
    if extra_vars:
        args += ["-e", f"@{extra_vars}"]
    return run("ansible", [*args, "-a", f"msg=<{{{{ {expression} }}}}>"], temp=temp)


def debug(expression, *, temp, extra_vars=None):
    """stdout of ansible's debug module on localhost printing ``msg=<{{ expression }}>``."""
    done = debug_run(expression, temp=temp, extra_vars=extra_vars)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout

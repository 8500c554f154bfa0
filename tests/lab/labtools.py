"""Helpers of the lab's own tests: the lab's Docker engine, and lab hosts
made on this machine by the lab's real task file (tests/lab/tasks/lab_host.yml)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROLE = "test-labhost"  # the label value: neither the lab's nor Molecule's hosts
# A user's own playbook of the collection's roles by full name (the install
# test and the AWX job run it).
USER_PLAYBOOK = """\
- name: My Docker lab hosts
  hosts: all
  gather_facts: false
  roles:
    - dockerlab.docker.docker_engine
    - dockerlab.docker.docker_access
    - dockerlab.docker.flask_app
"""


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def engine_has(image):
    """Whether a Docker engine answers and has ``image``."""
    try:
        return docker("image", "inspect", image, check=False).returncode == 0
    except FileNotFoundError:
        return False


def create_lab_host(directory, name, image, restart_policy="no"):
    """Run lab_host.yml on this machine for one lab host (``directory`` holds
    the playbook and Ansible's temporary files); the CompletedProcess."""
    playbook = Path(directory) / "lab_host.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  connection: local\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        f"    - ansible.builtin.include_tasks: {ROOT}/tests/lab/tasks/network.yml\n"
        f"    - ansible.builtin.include_tasks: {ROOT}/tests/lab/tasks/lab_host.yml\n"
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(Path(directory) / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
    }
    extra = json.dumps(
        {
            "lab_network": "dockerlab",
            "lab_host_name": name,
            "lab_host_image": image,
            "lab_host_role": ROLE,
            "lab_host_restart_policy": restart_policy,
            "ansible_python_interpreter": sys.executable,
        }
    )
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook), "-e", extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )


def remove_lab_host(name):
    """Remove a lab host and its Docker data volume, whatever state they are in."""
    docker("rm", "-f", "-v", name, check=False)
    docker("volume", "rm", f"{name}-docker", check=False)

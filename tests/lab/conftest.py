"""The lab host fixture of the lab's own tests: lab hosts made by the real
task file (tests/lab/tasks/lab_host.yml), removed with their volume
afterwards."""

import json
import os
import subprocess
import sys

import pytest
from labtools import BIN, ROOT, docker

ROLE = "test-labhost"  # the label value: neither the lab's nor Molecule's hosts


@pytest.fixture
def lab_host(tmp_path):
    """Run lab_host.yml for one host; remove the host and its volume afterwards."""
    names = []

    def create(name, image, restart_policy="no"):
        names.append(name)
        playbook = tmp_path / "lab_host.yml"
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
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
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

    yield create
    for name in names:
        docker("rm", "-f", "-v", name, check=False)
        docker("volume", "rm", f"{name}-docker", check=False)

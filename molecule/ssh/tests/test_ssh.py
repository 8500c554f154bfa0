"""The collection over SSH with sudo, as operators reach real machines.

Converge and idempotence already ran site.yml as admin (sudo with a
password) with pipelining off. These tests run the other playbooks and
accounts over SSH through Ansible, and look at the hosts with docker exec as
root (testinfra). They build on each other, in file order.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from labhelpers import PROJECT, fingerprint, host_name, pki_dir, recap

PLAYBOOKS = PROJECT / "playbooks"
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
SSH = EPHEMERAL / "ssh"
INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
REGISTRY_MIRROR = "http://dockerlab-registry:5000"
KNOWN_HOSTS_ARGS = f"-o UserKnownHostsFile={SSH / 'known_hosts'} -o StrictHostKeyChecking=yes"


def ansible(host, *argv, pipelining=False, env=None, inventory=INVENTORY, timeout=900):
    """ansible-playbook (or another tool) over SSH against this one host,
    with the scenario's inventory (inventory/hosts.yml: admin, the sudo password),
    the project's ansible.cfg and the tests' own CA."""
    tool = "ansible-playbook" if str(argv[0]).endswith(".yml") else argv[0]
    args = list(argv) if tool == "ansible-playbook" else list(argv[1:])
    cmd = [tool, "--inventory", str(inventory), "--limit", host_name(host), *map(str, args)]
    run_env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
        "ANSIBLE_PIPELINING": str(pipelining).lower(),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "DOCKERLAB_PKI_DIR": pki_dir(),
        **(env or {}),
    }
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=run_env, check=False, cwd=PROJECT
    )


def address(host):
    return (SSH / f"{host_name(host)}.address").read_text().strip()


def test_sshd_runs_and_the_accounts_are_unprivileged(host):
    assert host.service("ssh").is_running
    for account in ("admin", "deploy"):
        user = host.user(account)
        assert user.uid >= 1000
        assert "docker" not in user.groups
    assert "sudo" in host.user("admin").groups


def test_host_keys_are_checked(host, tmp_path):
    """A known_hosts without the host's key refuses the connection: host key
    checking is on, and nothing learns a key on first use. A connection of
    its own: an open master connection (ControlPersist) was checked when it
    was made and would be reused."""
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    result = ansible(
        host,
        "ansible",
        "all",
        "-m",
        "ansible.builtin.ping",
        "-e",
        json.dumps(
            {
                "ansible_ssh_args": "-o ControlMaster=no",
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={empty} -o StrictHostKeyChecking=yes",
            }
        ),
    )
    assert result.returncode != 0
    assert "Host key verification failed" in result.stdout + result.stderr
    assert empty.read_text() == ""


def test_converge_came_over_ssh_as_admin_with_sudo(host):
    """The converge's commands reached the host as admin through sshd and sudo."""
    log = host.run("journalctl --no-pager -q").stdout
    assert re.search(r"sudo\[\d+\]: +admin : .*USER=root", log), log[-2000:]
    assert log.count("Accepted publickey for admin") >= 2


def test_channels_work_over_ssh_with_pipelining_off(host):
    """docker_channels runs the lab user's commands with runuser: over SSH,
    with sudo and without pipelining, on a host that has no setfacl."""
    assert host.run("command -v setfacl").rc != 0
    result = ansible(host, PLAYBOOKS / "channels.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    for channel in ("unix", "tcp+tls", "api+tls"):
        assert f"{channel:<8} 5 get page     ok " in result.stdout, result.stdout[-4000:]
    assert "no cert  GET /version   ok   refused by the daemon" in result.stdout


def test_audit_works_over_ssh(host, tmp_path):
    result = ansible(
        host, PLAYBOOKS / "audit.yml", "-e", json.dumps({"docker_audit_report_dir": str(tmp_path)})
    )
    assert result.returncode == 0, result.stdout[-4000:]
    report = json.loads((tmp_path / f"{host_name(host)}.json").read_text())
    assert report["host"] == host_name(host)
    assert not [f for f in report["findings"] if f["severity"] in ("high", "critical")]


def test_every_playbook_as_deploy_with_passwordless_sudo_and_pipelining(host, tmp_path):
    """sudo without a password (no ansible_become_password at all), pipelining on."""
    as_deploy = ["-e", json.dumps({"ansible_user": "deploy", "ansible_become_password": None})]
    site = ansible(host, PLAYBOOKS / "site.yml", *as_deploy, pipelining=True)
    assert site.returncode == 0, site.stdout[-4000:]
    assert recap(site.stdout, host_name(host))["changed"] == 0
    channels = ansible(host, PLAYBOOKS / "channels.yml", *as_deploy, pipelining=True)
    assert channels.returncode == 0, channels.stdout[-4000:]
    assert "api+tls  5 get page     ok " in channels.stdout
    audit = ansible(
        host,
        PLAYBOOKS / "audit.yml",
        *as_deploy,
        "-e",
        json.dumps({"docker_audit_report_dir": str(tmp_path)}),
        pipelining=True,
    )
    assert audit.returncode == 0, audit.stdout[-4000:]
    log = host.run("journalctl --no-pager -q").stdout
    assert re.search(r"sudo\[\d+\]: +deploy : .*USER=root", log), log[-2000:]


@pytest.mark.parametrize(
    ("password", "error"),
    [(None, "Missing sudo password"), ("not-the-password", "Incorrect sudo password")],
    ids=["missing", "wrong"],
)
def test_a_missing_or_wrong_sudo_password_stops_the_run_and_changes_nothing(host, password, error):
    before = fingerprint(host)
    # None: the inventory's password is taken away (an empty one is none).
    result = ansible(
        host, PLAYBOOKS / "site.yml", "-e", json.dumps({"ansible_become_password": password or ""})
    )
    assert result.returncode != 0
    assert error in result.stdout + result.stderr, result.stdout[-3000:]
    assert recap(result.stdout, host_name(host))["changed"] == 0
    assert fingerprint(host) == before


@pytest.fixture
def example_inventory(host, tmp_path):
    """inventory/example/ copied as an operator would, with the host names
    filled in: the lab host by its address, as admin, sudo with its password
    (given as an operator gives it, --become-password-file)."""
    copy = tmp_path / "mylab"
    shutil.copytree(PROJECT / "inventory" / "example", copy)
    hosts = yaml.safe_load((copy / "hosts.yml").read_text())
    hosts["lab"]["hosts"] = {
        host_name(host): {
            "ansible_host": address(host),
            "ansible_ssh_private_key_file": str(SSH / "id_ed25519"),
            "ansible_ssh_common_args": KNOWN_HOSTS_ARGS,
        }
    }
    (copy / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return copy


def test_the_example_inventory_works_end_to_end(host, example_inventory, tmp_path):
    """A copy of inventory/example/ converges the host over SSH, grants the
    lab user the docker group and a bundle, walks every channel and audits.
    The lab user's access is taken away first, so the example gives it back."""
    host.run_test("gpasswd -d student docker")
    host.run_test("rm -rf /home/student/.docker")
    variables = yaml.safe_load((example_inventory / "group_vars" / "all.yml").read_text())
    assert variables["docker_access_users"] == ["student"]
    # Added for the test only: this machine reaches no registry but the lab's,
    # and the tests use a CA of their own, never the lab's (the example's
    # default, ~/.dockerlab/pki on the controller).
    common = [
        "--become-password-file",
        str(SSH / "become_password"),
        "-e",
        json.dumps({"docker_engine_registry_mirrors": [REGISTRY_MIRROR], "docker_access_pki_dir": pki_dir()}),
    ]
    site = ansible(host, PLAYBOOKS / "site.yml", *common, inventory=example_inventory)
    assert site.returncode == 0, site.stdout[-4000:]
    assert "docker" in host.user("student").groups
    for name in ("ca.pem", "cert.pem", "key.pem"):
        assert host.file(f"/home/student/.docker/{name}").user == "student"
    again = ansible(host, PLAYBOOKS / "site.yml", *common, inventory=example_inventory)
    assert recap(again.stdout, host_name(host))["changed"] == 0, again.stdout[-3000:]
    channels = ansible(host, PLAYBOOKS / "channels.yml", *common, inventory=example_inventory)
    assert channels.returncode == 0, channels.stdout[-4000:]
    audit = ansible(
        host,
        PLAYBOOKS / "audit.yml",
        *common,
        "-e",
        json.dumps({"docker_audit_report_dir": str(tmp_path / "audit")}),
        inventory=example_inventory,
    )
    assert audit.returncode == 0, audit.stdout[-4000:]
    assert (tmp_path / "audit" / f"{host_name(host)}.json").is_file()

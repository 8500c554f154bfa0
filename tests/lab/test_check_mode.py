"""A dry run first, as operators do: site.yml with --check --diff on a new
controller (no PKI directory yet) and a new host (no Docker, no python3-apt)
passes, says what it would create (the packages, daemon.json, the docker
group, the CA, each server and client certificate, the files on the host,
the listener, the container) and creates none of it, on the host or on the
controller.

This needs the lab's Docker engine and images, which `make test` sets up
before it runs these; it is skipped where no engine answers.
"""

import json
import os
import subprocess

import pytest
from labtools import BIN, ROOT, create_lab_host, docker, engine_has, remove_lab_host

pytestmark = pytest.mark.skipif(
    not engine_has("dockerlab/labhost:bookworm"),
    reason="needs the lab's Docker engine and images (make test sets them up first)",
)

HOST = "dockerlab-test-check"


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """A new lab host with the lab user, and a check run of site.yml from a
    controller whose PKI directory does not exist: (run, pki directory)."""
    base = tmp_path_factory.mktemp("check")
    try:
        made = create_lab_host(base, HOST, "dockerlab/labhost:bookworm")
        assert made.returncode == 0, made.stdout + made.stderr
        docker("exec", HOST, "useradd", "--create-home", "--shell", "/bin/bash", "student")
        pki = base / "pki"
        inventory = base / "hosts.yml"
        inventory.write_text(
            json.dumps(
                {
                    "all": {
                        "hosts": {HOST: {"ansible_connection": "community.docker.docker"}},
                        "vars": {
                            "ansible_python_interpreter": "/usr/bin/python3",
                            "docker_engine_registry_mirrors": ["http://dockerlab-registry:5000"],
                            "docker_access_users": ["student"],
                            "docker_access_pki_dir": str(pki),
                        },
                    }
                }
            )
        )
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_LOCAL_TEMP": str(base / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
        }
        run = subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), "--check", "--diff", "playbooks/site.yml"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=600,
            check=False,
        )
        yield run, pki
    finally:
        remove_lab_host(HOST)


def on_host(*argv):
    return docker("exec", HOST, *argv, check=False)


def test_the_dry_run_passes(dry_run):
    run, _pki = dry_run
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "failed=0" in run.stdout


@pytest.mark.parametrize(
    "said",
    [
        # The packages (apt cannot simulate without python3-apt, which a real run installs first).
        "Would install docker.io, python3-requests, python3-apt with apt.",
        # daemon.json, as a diff
        '+  "live-restore": true,',
        # the docker group
        "+student",
        # the CA, and each client and server certificate
        'Would issue the CA "dockerlab Docker CA" (3650 days)',
        "Would issue the client certificate of root (365 days)",
        "Would issue the client certificate of student (365 days)",
        f"Would issue the server certificate of {HOST} (365 days)",
        # the files on the host
        "Would install /etc/docker/tls, /etc/docker/tls/ca.pem, /etc/docker/tls/server-cert.pem,",
        "/home/student/.docker/cert.pem",
        # the listener drop-in, and the container
        "+++ after: /etc/systemd/system/docker.service.d/dockerlab-listener.conf",
        "Would pull digitalocean/flask-helloworld:latest and run the container flaskapp,",
    ],
)
def test_the_dry_run_says_what_it_would_create(dry_run, said):
    run, _pki = dry_run
    # Ansible folds long messages; compare the text with its lines joined.
    text = " ".join(line.strip() for line in run.stdout.splitlines())
    assert said in text, run.stdout[-6000:]


def test_the_dry_run_creates_nothing_on_the_controller(dry_run):
    _run, pki = dry_run
    assert not pki.exists()


def test_the_dry_run_creates_nothing_on_the_host(dry_run):
    assert on_host("test", "-e", "/etc/docker").returncode != 0
    assert on_host("test", "-e", "/etc/systemd/system/docker.service.d").returncode != 0
    assert on_host("test", "-e", "/home/student/.docker").returncode != 0
    packages = on_host("dpkg-query", "-W", "-f", "${Package} ${Status}\n", "docker.io", "python3-apt")
    assert "install ok installed" not in packages.stdout
    assert "docker" not in on_host("id", "-nG", "student").stdout.split()

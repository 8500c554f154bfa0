"""The lab set-up's own error paths: each bad set-up state stops with a clear
message that says what is wrong and how to fix it, before anything changes.

These run the real script (tests/lab/lab.sh) as a subprocess. Where the
state cannot be staged on this machine directly (another OS, a Docker
engine that will not start), the script's documented seams point it at a
stand-in file or program; nothing is mocked inside the script.
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "tests" / "lab" / "lab.sh"


def run_lab(*steps, env=None, user=None, timeout=120):
    full_env = {**os.environ, **(env or {})}
    cmd = ["/bin/bash", str(LAB), *steps]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def state(tmp_path):
    return {"LAB_STATE": str(tmp_path / "state")}


def os_release(tmp_path, text):
    path = tmp_path / "os-release"
    path.write_text(text)
    return str(path)


def test_refuses_to_run_without_root(state):
    result = run_lab("preflight", env=state, user=65534)
    assert result.returncode == 1
    assert "must run as root" in result.stderr
    assert "sudo make" in result.stderr


@pytest.mark.parametrize(
    ("release", "message"),
    [
        ('ID=fedora\nVERSION_ID="40"\n', "is not Debian ("),
        ("ID=alpine\n", "ID=alpine"),
        ('ID=debian\nVERSION_ID="11"\n', "Debian 11 is too old"),
    ],
)
def test_refuses_a_machine_that_is_not_a_recent_debian(tmp_path, state, release, message):
    env = {**state, "LAB_OS_RELEASE": os_release(tmp_path, release)}
    result = run_lab("preflight", env=env)
    assert result.returncode == 1
    assert message in result.stderr


def test_accepts_a_debian_derivative(tmp_path, state):
    env = {**state, "LAB_OS_RELEASE": os_release(tmp_path, "ID=ubuntu\nID_LIKE=debian\n")}
    result = run_lab("preflight", env=env)
    assert result.returncode == 0, result.stderr


def test_refuses_a_machine_without_apt(tmp_path, state):
    # A PATH with bash and the few tools preflight uses, but no apt-get.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("id", "dirname", "cat", "printf"):
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    env = {**state, "PATH": str(bindir)}
    result = run_lab("preflight", env=env)
    assert result.returncode == 1
    assert "apt-get is not on PATH" in result.stderr


# The distributions LAB_HOSTS takes; each is the tag of a lab host image.
LAB_DISTRIBUTIONS = ["bookworm", "trixie", "trixie-docker28"]


@pytest.mark.parametrize(
    ("hosts", "unknown"),
    [
        ("centos", "centos"),
        ("bookworm buster", "buster"),
        # Docker 28 from forky exists only on top of Debian 13.
        ("trixie-docker28 bookworm-docker28", "bookworm-docker28"),
        ("trixie-docker27", "trixie-docker27"),
        ("forky", "forky"),
    ],
)
def test_refuses_an_unknown_distribution_in_lab_hosts(state, hosts, unknown):
    result = run_lab("preflight", env={**state, "LAB_HOSTS": hosts})
    assert result.returncode == 1
    assert f"LAB_HOSTS has '{unknown}', which is not a supported distribution." in result.stderr
    assert "bookworm (Debian 12), trixie (Debian 13)," in result.stderr
    assert "trixie-docker28 (Debian 13 with Docker 28 from forky)" in result.stderr


def test_accepts_every_supported_distribution_in_lab_hosts(state):
    result = run_lab("preflight", env={**state, "LAB_HOSTS": " ".join(LAB_DISTRIBUTIONS)})
    assert result.returncode == 0, result.stderr


def test_every_supported_distribution_has_an_image_built_by_default():
    # hosts.yml runs each lab host from dockerlab/labhost:DISTRIBUTION.
    build = (ROOT / "tests" / "lab" / "images" / "build.sh").read_text()
    defaults = re.search(r"\|\| targets=\(([^)]*)\)", build).group(1).split()
    assert [t for t in defaults if t.startswith("labhost:")] == [f"labhost:{d}" for d in LAB_DISTRIBUTIONS]


def test_lab_hosts_are_named_and_counted_per_distribution(tmp_path, state):
    # The hosts step hands hosts.yml the list; a stand-in ansible-playbook in
    # the venv (LAB_VENV) records what it is given instead of running it.
    record = tmp_path / "args"
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    playbook = venv_bin / "ansible-playbook"
    playbook.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >{record}\n")
    playbook.chmod(0o755)
    env = {
        **state,
        "LAB_VENV": str(tmp_path / "venv"),
        "LAB_HOSTS": "bookworm trixie-docker28 bookworm trixie-docker28",
    }
    result = run_lab("hosts", env=env)
    assert result.returncode == 0, result.stderr
    args = record.read_text().splitlines()
    assert args[:2] == ["tests/lab/hosts.yml", "-e"]
    assert json.loads(args[2]) == {
        "lab_hosts": [
            {"name": "dockerlab-bookworm-1", "distribution": "bookworm"},
            {"name": "dockerlab-trixie-docker28-1", "distribution": "trixie-docker28"},
            {"name": "dockerlab-bookworm-2", "distribution": "bookworm"},
            {"name": "dockerlab-trixie-docker28-2", "distribution": "trixie-docker28"},
        ]
    }


@pytest.mark.parametrize(
    ("port", "message"),
    [("abc", "is not a port number"), ("70000", "is out of range"), ("0", "is out of range")],
)
def test_refuses_a_bad_registry_port(state, port, message):
    result = run_lab("preflight", env={**state, "LAB_REGISTRY_PORT": port})
    assert result.returncode == 1
    assert f"LAB_REGISTRY_PORT={port}" in result.stderr or f"LAB_REGISTRY_PORT='{port}'" in result.stderr
    assert message in result.stderr


def fake_dockerd(tmp_path, body):
    path = tmp_path / "fake-dockerd"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def engine_env(tmp_path, state, dockerd):
    return {
        **state,
        # A socket nobody serves: no engine answers there, and the lab may start one.
        "DOCKER_HOST": f"unix://{tmp_path}/docker.sock",
        "LAB_DOCKERD": dockerd,
        "LAB_DOCKERD_LOG": str(tmp_path / "dockerd.log"),
        "LAB_DOCKERD_PIDFILE": str(tmp_path / "docker.pid"),
        "LAB_ENGINE_TIMEOUT": "3",
    }


def test_engine_that_exits_at_start_is_reported_with_its_log(tmp_path, state):
    dockerd = fake_dockerd(
        tmp_path, 'echo "failed to start daemon: error initializing graphdriver" >&2; exit 1'
    )
    result = run_lab("engine", env=engine_env(tmp_path, state, dockerd))
    assert result.returncode == 1
    assert "the Docker engine did not start" in result.stderr
    assert "exited" in result.stderr
    assert "error initializing graphdriver" in result.stderr


def test_engine_that_never_answers_is_reported_after_the_timeout(tmp_path, state):
    dockerd = fake_dockerd(tmp_path, 'echo "still starting" >&2; exec sleep 6')
    result = run_lab("engine", env=engine_env(tmp_path, state, dockerd))
    assert result.returncode == 1
    assert "did not answer within 3 s" in result.stderr
    assert "still starting" in result.stderr


def test_stale_pid_file_is_removed_before_starting(tmp_path, state):
    env = engine_env(tmp_path, state, fake_dockerd(tmp_path, "exit 1"))
    pidfile = Path(env["LAB_DOCKERD_PIDFILE"])
    # This test's own PID: alive, but not a dockerd.
    pidfile.write_text(f"{os.getpid()}\n")
    result = run_lab("engine", env=env)
    assert f"removing the stale pid file {pidfile}" in result.stdout
    assert not pidfile.exists()


def test_remote_docker_host_that_does_not_answer_is_not_started(tmp_path, state):
    marker = tmp_path / "started"
    env = engine_env(tmp_path, state, fake_dockerd(tmp_path, f"touch {marker}; exit 1"))
    env["DOCKER_HOST"] = "tcp://127.0.0.1:9"
    result = run_lab("engine", env=env)
    assert result.returncode == 1
    assert "DOCKER_HOST=tcp://127.0.0.1:9 is set but no Docker engine answers there" in result.stderr
    assert not marker.exists()


def docker_answers():
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not docker_answers(), reason="needs the lab's Docker engine (make test starts it)")
def test_registry_port_taken_by_another_program_is_refused(state):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        before = subprocess.run(
            ["docker", "ps", "-a", "--format", "{{.ID}} {{.Names}} {{.State}} {{.Ports}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = run_lab("registry", env={**state, "LAB_REGISTRY_PORT": str(port)})
    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already taken by another" in result.stdout
    assert "LAB_REGISTRY_PORT=5001" in result.stdout
    after = subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.ID}} {{.Names}} {{.State}} {{.Ports}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert after == before

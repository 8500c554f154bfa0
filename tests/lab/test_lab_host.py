"""The lab host task file (tests/lab/tasks/lab_host.yml), run for real: a
lab host whose systemd has no bus yet when the wait starts is waited for
until systemd answers, and one that never boots (it restart-loops) fails
with the boot message, the container's state and its last log lines.

These need the lab's Docker engine and images, which `make test` builds
before the unit tier; they are skipped where no engine answers.
"""

import subprocess

import pytest
from labtools import docker, engine_has

pytestmark = pytest.mark.skipif(
    not engine_has("dockerlab/labhost:trixie"),
    reason="needs the lab's Docker engine and images (make test builds them first)",
)


def build(tag, dockerfile):
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.fixture
def late_systemd_image():
    """The Debian 13 lab host image with systemd started 3 s late: until then
    `systemctl is-system-running --wait` finds no bus and fails at once, as
    it does right after `docker run` of a trixie lab host."""
    tag = "dockerlab/labhost:test-late-systemd"
    build(tag, 'FROM dockerlab/labhost:trixie\nCMD ["/bin/sh", "-c", "sleep 3; exec /lib/systemd/systemd"]\n')
    yield tag
    docker("rmi", "-f", tag, check=False)


def test_a_lab_host_is_waited_for_until_systemd_answers(lab_host, late_systemd_image):
    name = "dockerlab-test-boot-late"
    result = lab_host(name, late_systemd_image)
    assert result.returncode == 0, result.stdout + result.stderr
    state = docker("exec", name, "systemctl", "is-system-running", check=False)
    assert state.stdout.strip() in ("running", "degraded")


@pytest.fixture
def crashloop_image():
    """A lab host image whose command fails at once, so that with the restart
    policy "always" the container restart-loops and never boots."""
    tag = "dockerlab/labhost:test-crashloop"
    dockerfile = (
        "FROM dockerlab/labhost:bookworm\n"
        'CMD ["/bin/sh", "-c", "echo lab host init failed on purpose >&2; exit 3"]\n'
    )
    build(tag, dockerfile)
    yield tag
    docker("rmi", "-f", tag, check=False)


def test_a_lab_host_that_never_boots_fails_with_its_state_and_logs(lab_host, crashloop_image):
    name = "dockerlab-test-boot-crashloop"
    result = lab_host(name, crashloop_image, restart_policy="always")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert f"systemd in lab host {name} did not finish booting within 90 s" in out
    assert "Container state: " in out
    assert "restarts " in out
    assert "lab host init failed on purpose" in out
    assert "has no attribute" not in out

"""A lab host as `make lab` and Molecule make it, before any role runs."""

import pytest


def test_systemd_is_pid_1_and_booted(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    failed = host.run("systemctl --failed --no-legend --plain").stdout
    assert state == "running", f"systemd is {state}; failed units:\n{failed}"


def test_python3_is_present(host):
    cmd = host.run("python3 -c 'import sys; print(sys.version_info[0])'")
    assert cmd.rc == 0, cmd.stderr
    assert cmd.stdout.strip() == "3"


@pytest.mark.parametrize("command", ["sudo", "ip", "curl", "openssl", "ps"])
def test_base_tools_are_installed(host, command):
    assert host.exists(command)


def test_lab_user_exists(host):
    student = host.user("student")
    assert student.exists
    assert student.home == "/home/student"
    assert host.file("/home/student").is_directory


def test_docker_is_not_preinstalled(host):
    # Installing Docker Engine is the roles' job, not the image's.
    assert not host.exists("dockerd")
    assert not host.package("docker.io").is_installed


def test_docker_data_is_on_a_volume_not_overlay(host):
    # overlay2 on overlay is refused: /var/lib/docker must be a real mount.
    fstype = host.run("findmnt -n -o FSTYPE --target /var/lib/docker").stdout.strip()
    assert fstype not in ("", "overlay"), fstype


def test_proc_sys_is_writable(host):
    # Lab host preparation (dockerlab-proc-sys-rw.service): dockerd needs it
    # for "userland-proxy": false.
    options = host.run("findmnt -n -o OPTIONS /proc/sys").stdout.split(",")
    assert "rw" in options

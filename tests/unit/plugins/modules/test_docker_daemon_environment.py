"""plugins/modules/docker_daemon_environment: the drop-in that sets
environment variables of dockerd's unit, written in a temporary systemd
directory (the quoting and systemd's own reading of it: test_proxy.py)."""

import base64
import hashlib
import os

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._files import Stash
from ansible_collections.dockerlab.docker.plugins.module_utils._proxy import render
from ansible_collections.dockerlab.docker.plugins.modules import docker_daemon_environment

HEADER = "# Managed by Ansible (docker_daemon_environment): manual changes will be lost.\n"
PROXY = {
    "HTTP_PROXY": "http://proxy.lab:3128",
    "HTTPS_PROXY": "http://proxy.lab:3128",
    "NO_PROXY": "localhost,.lab",
}
PROXY_TEXT = (
    HEADER + "[Service]\n"
    'Environment="HTTPS_PROXY=http://proxy.lab:3128"\n'
    'Environment="HTTP_PROXY=http://proxy.lab:3128"\n'
    'Environment="NO_PROXY=localhost,.lab"\n'
)


@pytest.fixture
def lab(tmp_path):
    systemd = tmp_path / "etc" / "systemd" / "system"
    return {
        "systemd": systemd,
        "dropin_dir": systemd / "docker.service.d",
        "dropin": systemd / "docker.service.d" / "dockerlab-proxy.conf",
        "stash": tmp_path / "stash",
    }


@pytest.fixture
def run(run_module, lab):
    def run_environment(environment, *, check_mode=False, diff=False, **args):
        base = {"systemd_dir": str(lab["systemd"]), "stash_dir": str(lab["stash"])}
        return run_module(
            docker_daemon_environment,
            {**base, "environment": environment, **args},
            check_mode=check_mode,
            diff=diff,
        )

    return run_environment


def write_dropin(lab, text="[Service]\nEnvironment=HTTP_PROXY=http://old.lab:8080\n"):
    lab["dropin_dir"].mkdir(parents=True, exist_ok=True)
    lab["dropin"].write_text(text)
    return lab["dropin"].read_bytes()


def test_writes_one_environment_line_per_variable_under_the_header(run, lab):
    result = run(PROXY)
    assert result["changed"] is True
    assert lab["dropin"].read_text() == PROXY_TEXT
    assert result["path"] == str(lab["dropin"])
    assert result["environment"] == PROXY
    assert result["sha256"] == hashlib.sha256(PROXY_TEXT.encode()).hexdigest()
    assert result["daemon_reload_needed"] is True
    assert result["warnings"] == []


def test_the_text_is_the_shared_rendering(run, lab):
    run(PROXY)
    assert lab["dropin"].read_text() == render(PROXY)


def test_the_dropin_is_world_readable_and_nothing_else_is_left_in_its_directory(run, lab):
    run(PROXY)
    assert lab["dropin"].stat().st_mode & 0o7777 == 0o644
    assert lab["dropin_dir"].stat().st_mode & 0o7777 == 0o755
    assert [p.name for p in lab["dropin_dir"].iterdir()] == ["dockerlab-proxy.conf"]


def test_a_second_run_reports_no_change_and_leaves_the_file_alone(run, lab):
    run(PROXY)
    written = lab["dropin"].read_bytes()
    inode = lab["dropin"].stat().st_ino
    Stash(str(lab["stash"])).clear()
    result = run(PROXY)
    assert result["changed"] is False
    assert result["daemon_reload_needed"] is False
    assert result["sha256"] == hashlib.sha256(written).hexdigest()
    assert lab["dropin"].read_bytes() == written
    assert lab["dropin"].stat().st_ino == inode  # not even rewritten
    assert Stash(str(lab["stash"])).pending() == []


def test_the_order_of_the_given_variables_does_not_matter(run, lab):
    run(PROXY)
    assert run(dict(reversed(PROXY.items())))["changed"] is False


def test_a_changed_value_rewrites_the_dropin(run, lab):
    run(PROXY)
    result = run({**PROXY, "NO_PROXY": "localhost"})
    assert result["changed"] is True
    assert 'Environment="NO_PROXY=localhost"\n' in lab["dropin"].read_text()


def test_a_hand_edited_dropin_is_put_back(run, lab):
    run(PROXY)
    lab["dropin"].write_text(PROXY_TEXT + 'Environment="EXTRA=1"\n')
    assert run(PROXY)["changed"] is True
    assert lab["dropin"].read_text() == PROXY_TEXT


def test_check_mode_reports_the_change_and_writes_nothing(run, lab):
    result = run(PROXY, check_mode=True)
    assert result["changed"] is True
    assert result["daemon_reload_needed"] is True
    assert result["sha256"] == hashlib.sha256(PROXY_TEXT.encode()).hexdigest()
    assert not lab["dropin_dir"].exists()
    assert not lab["stash"].exists()


def test_check_mode_does_not_change_an_existing_dropin(run, lab):
    before = write_dropin(lab)
    assert run(PROXY, check_mode=True)["changed"] is True
    assert lab["dropin"].read_bytes() == before
    assert not lab["stash"].exists()


def test_check_mode_on_a_converged_dropin_reports_no_change(run):
    run(PROXY)
    assert run(PROXY, check_mode=True)["changed"] is False


def test_diff_has_the_dropin_text_before_and_after_with_headers(run, lab):
    before = write_dropin(lab).decode()
    diff = run(PROXY, diff=True)["diff"]
    assert diff == {
        "before_header": str(lab["dropin"]),
        "after_header": str(lab["dropin"]),
        "before": before,
        "after": PROXY_TEXT,
    }


def test_diff_of_a_new_dropin_starts_empty_in_check_mode(run, lab):
    diff = run(PROXY, check_mode=True, diff=True)["diff"]
    assert (diff["before"], diff["after"]) == ("", PROXY_TEXT)


def test_no_diff_without_diff_mode(run):
    assert "diff" not in run(PROXY)


def test_an_empty_environment_removes_the_dropin(run, lab):
    run(PROXY)
    result = run({}, diff=True)
    assert result["changed"] is True
    assert result["daemon_reload_needed"] is True
    assert (result["environment"], result["sha256"]) == ({}, "")
    assert result["diff"]["before"] == PROXY_TEXT
    assert result["diff"]["after"] == ""
    assert not lab["dropin"].exists()
    assert lab["dropin_dir"].is_dir()  # the directory may hold other drop-ins


def test_an_empty_environment_without_a_dropin_changes_nothing(run, lab):
    result = run({})
    assert result["changed"] is False
    assert result["daemon_reload_needed"] is False
    assert not lab["dropin_dir"].exists()
    assert not lab["stash"].exists()


def test_removal_in_check_mode_keeps_the_dropin(run, lab):
    before = write_dropin(lab)
    assert run({}, check_mode=True)["changed"] is True
    assert lab["dropin"].read_bytes() == before
    assert not lab["stash"].exists()


def test_other_dropins_of_the_unit_are_left_alone(run, lab):
    listener = write_dropin(lab, "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd://\n")
    lab["dropin"].rename(lab["dropin_dir"] / "dockerlab-listener.conf")
    run(PROXY)
    run({})
    assert (lab["dropin_dir"] / "dockerlab-listener.conf").read_bytes() == listener


# ----------------------------------------------------------------- the stash


def test_the_stash_records_that_the_dropin_did_not_exist(run, lab):
    run(PROXY)
    assert Stash(str(lab["stash"])).entries() == {str(lab["dropin"]): {"existed": False}}


def test_the_stash_records_the_previous_dropin(run, lab):
    before = write_dropin(lab)
    os.chmod(lab["dropin"], 0o640)
    run(PROXY)
    assert Stash(str(lab["stash"])).entries()[str(lab["dropin"])] == {
        "existed": True,
        "content": base64.b64encode(before).decode(),
        "mode": 0o640,
    }


def test_the_stash_records_a_removed_dropin(run, lab):
    run(PROXY)
    Stash(str(lab["stash"])).clear()
    run({})
    saved = Stash(str(lab["stash"])).saved_text(str(lab["dropin"]))
    assert saved == (True, PROXY_TEXT)


def test_the_stash_keeps_the_state_before_the_first_change(run, lab):
    run(PROXY)
    run({**PROXY, "NO_PROXY": "localhost"})
    run({})
    assert Stash(str(lab["stash"])).entries() == {str(lab["dropin"]): {"existed": False}}


def test_restoring_the_stash_puts_the_old_dropin_back(run, lab):
    # What docker_daemon_restart does when dockerd does not come back.
    before = write_dropin(lab)
    run(PROXY)
    assert Stash(str(lab["stash"])).restore() == [str(lab["dropin"])]
    assert lab["dropin"].read_bytes() == before


# ---------------------------------------------------------- refused, unchanged


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("HTTP-PROXY", "'HTTP-PROXY'"),
        ("1X", "'1X'"),
        ("A B", "'A B'"),
        ("A=B", "'A=B'"),
        ("", "''"),
        ("X\n", "'X\\n'"),
    ],
)
def test_a_bad_name_fails_naming_it_and_changes_nothing(run, lab, name, shown):
    before = write_dropin(lab)
    result = run({**PROXY, name: "x"})
    assert result["failed"] is True
    assert result["msg"] == (
        f"environment: {shown} is not a valid variable name: use letters, digits and underscores, "
        "not starting with a digit. Nothing was changed."
    )
    assert lab["dropin"].read_bytes() == before
    assert not lab["stash"].exists()


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("http://proxy.lab:3128\n", "contains a newline, which a drop-in line cannot hold"),
        ("a\nEnvironment=EVIL=1", "contains a newline, which a drop-in line cannot hold"),
        ("a\rb", "contains the control character '\\r', which a drop-in line cannot hold"),
        ("a\tb", "contains the control character '\\t', which a drop-in line cannot hold"),
        (3128, "is not a string: quote it"),
        (None, "is not a string: quote it"),
        ({"a": 1}, "is not a string: quote it"),
    ],
)
def test_a_bad_value_fails_naming_the_variable_and_changes_nothing(run, lab, value, why):
    before = write_dropin(lab)
    result = run({**PROXY, "NO_PROXY": value})
    assert result["failed"] is True
    assert result["msg"] == f"environment: the value of NO_PROXY {why}. Nothing was changed."
    assert lab["dropin"].read_bytes() == before
    assert not lab["stash"].exists()


def test_a_bad_value_is_refused_in_check_mode_too(run, lab):
    result = run({"HTTP_PROXY": "a\nb"}, check_mode=True)
    assert result["msg"] == (
        "environment: the value of HTTP_PROXY contains a newline, which a drop-in line cannot hold. "
        "Nothing was changed."
    )
    assert not lab["dropin_dir"].exists()


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"name": "../evil"}, "name '../evil' is not a file name: give it without a directory"),
        ({"name": ""}, "name '' is not a file name: give it without a directory"),
        (
            {"unit": "docker.service/x"},
            "unit 'docker.service/x' is not a file name: give it without a directory",
        ),
        ({"unit": ".."}, "unit '..' is not a file name: give it without a directory"),
    ],
)
def test_a_unit_or_name_with_a_directory_is_refused(run, lab, args, msg):
    result = run(PROXY, **args)
    assert result["msg"] == f"{msg}. Nothing was changed."
    assert not lab["systemd"].exists()


def test_environment_is_required(run_module, lab):
    result = run_module(docker_daemon_environment, {"systemd_dir": str(lab["systemd"])})
    assert result["msg"] == "missing required arguments: environment"


def test_environment_must_be_a_dict(run):
    result = run(["HTTP_PROXY=http://proxy.lab:3128"])
    assert result["failed"] is True
    assert "environment" in result["msg"]
    assert "dict" in result["msg"]


def test_a_dropin_that_cannot_be_read_fails_naming_it(run, lab):
    lab["systemd"].mkdir(parents=True)
    lab["dropin_dir"].write_text("not a directory")
    result = run(PROXY)
    assert result["failed"] is True
    assert result["msg"].startswith(f"Failed to read the drop-in {lab['dropin']}: [Errno 20] Not a directory")


def test_a_stash_that_cannot_be_written_fails_and_leaves_the_dropin(run, lab, tmp_path):
    before = write_dropin(lab)
    (tmp_path / "stash").write_text("not a directory")
    result = run(PROXY)
    assert result["failed"] is True
    assert result["msg"].startswith(
        f"Failed to write the drop-in {lab['dropin']}: [Errno 20] Not a directory"
    )
    assert lab["dropin"].read_bytes() == before


# --------------------------------------------------------------- other units


def test_a_custom_name_and_unit_choose_the_path(run, lab):
    result = run(PROXY, name="http-proxy", unit="containerd.service")
    assert result["path"] == str(lab["systemd"] / "containerd.service.d" / "http-proxy.conf")
    assert (lab["systemd"] / "containerd.service.d" / "http-proxy.conf").read_text() == PROXY_TEXT


def test_the_defaults_are_docker_service_s_dockerlab_proxy(run_module, lab):
    result = run_module(docker_daemon_environment, {"environment": PROXY}, check_mode=True)
    assert result["path"] == "/etc/systemd/system/docker.service.d/dockerlab-proxy.conf"

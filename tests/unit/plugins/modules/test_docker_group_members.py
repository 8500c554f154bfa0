"""plugins/modules/docker_group_members: real groupadd and gpasswd, on a private /etc.

The module changes /etc/group and /etc/gshadow through groupadd and gpasswd.
Each run here happens in a private mount namespace (``unshare --mount``) in
which a temporary directory is bind-mounted over /etc, so the tools and the
module's own ``grp`` lookups see only the test's files. Every test also
checks that this machine's real account files did not change.
"""

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.dockerlab.docker.plugins.modules import docker_group_members
from ansible_collections.dockerlab.docker.plugins.modules.docker_group_members import (
    missing_users,
    plan,
    primary_members,
)

# The module's file, which runs as Ansible runs it: a Python program of its own.
MODULE = Path(docker_group_members.__file__)
MARKER = "DOCKERLAB-TEST-ETC"
REAL_ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")
COPIED_FROM_ETC = ("login.defs", "nsswitch.conf", "ld.so.cache")
DOCKER_GID = 990

USERS = {"root": 0, "daemon": 1, "alice": 1001, "bob": 1002, "carol": 1003, "dave": DOCKER_GID}
GROUPS = {
    "root": (0, []),
    "daemon": (1, []),
    "audio": (29, ["alice", "bob"]),
    "users": (100, ["alice"]),
    "alice": (1001, []),
    "bob": (1002, []),
    "carol": (1003, []),
    "docker": (DOCKER_GID, ["bob", "carol"]),
}
ROOT_EQUIVALENT = (
    "Members of the '{group}' group control the Docker daemon, which runs as root: "
    "membership is root-equivalent on this host. Added: {users}."
)


def _namespaces_work():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


needs_namespace = pytest.mark.skipif(
    not _namespaces_work(), reason="needs root and unshare --mount to give the module a private /etc"
)


@pytest.fixture(autouse=True)
def real_account_files_unchanged():
    before = {path: Path(path).read_bytes() for path in REAL_ACCOUNT_FILES if Path(path).exists()}
    yield
    after = {path: Path(path).read_bytes() for path in before}
    assert after == before, "the test changed this machine's account files"


class FakeEtc:
    """A directory that stands in for /etc: deterministic accounts plus the
    few files groupadd and gpasswd read from the real /etc."""

    def __init__(self, directory, groups):
        self.dir = directory
        directory.mkdir()
        for name in COPIED_FROM_ETC:
            if Path("/etc", name).exists():
                shutil.copy2(Path("/etc", name), directory / name)
        (directory / MARKER).write_text("")
        passwd = "".join(f"{u}:x:{uid}:{uid}::/home/{u}:/bin/sh\n" for u, uid in USERS.items())
        self.write("passwd", passwd, 0o644)
        self.write("shadow", "".join(f"{u}:*:19700:0:99999:7:::\n" for u in USERS), 0o640)
        self.write("group", "".join(f"{g}:x:{gid}:{','.join(m)}\n" for g, (gid, m) in groups.items()), 0o644)
        self.write("gshadow", "".join(f"{g}:!::{','.join(m)}\n" for g, (_gid, m) in groups.items()), 0o640)

    def write(self, name, text, mode):
        (self.dir / name).write_text(text)
        (self.dir / name).chmod(mode)

    def state(self):
        return {name: (self.dir / name).read_bytes() for name in ("group", "gshadow", "passwd")}

    def group(self, name):
        """(gid, members) of a group in the fake /etc/group, or None."""
        for line in (self.dir / "group").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name:
                return int(fields[2]), [m for m in fields[3].split(",") if m]
        return None

    def gshadow_members(self, name):
        for line in (self.dir / "gshadow").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name:
                return [m for m in fields[3].split(",") if m]
        return None


@pytest.fixture
def etc(tmp_path):
    return FakeEtc(tmp_path / "etc", dict(GROUPS))


@pytest.fixture
def etc_without_docker(tmp_path):
    return FakeEtc(tmp_path / "etc", {k: v for k, v in GROUPS.items() if k != "docker"})


def run_in_private_etc(fake_etc, args, *, check_mode=False, diff=False):
    """Run the module as Ansible would (a Python process reading its
    arguments), with ``fake_etc`` mounted over /etc in a private namespace.

    The module only runs if the bind mount succeeded and /etc is the fake one.
    """
    module_args = {"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}}
    script = f'mount --bind "$1" /etc && test -e /etc/{MARKER} && exec "$2" "$3" "$4"'
    proc = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            str(fake_etc.dir),
            sys.executable,
            str(MODULE),
            json.dumps(module_args),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no module result (rc={proc.returncode}): {proc.stdout}{proc.stderr}"
    result = json.loads(lines[-1])
    assert (proc.returncode != 0) == bool(result.get("failed")), result
    result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
    return result


@needs_namespace
def test_append_adds_the_user_and_keeps_the_other_members(etc):
    result = run_in_private_etc(etc, {"users": ["alice"]})
    assert result["changed"] is True
    assert (result["members_before"], result["members"]) == (["bob", "carol"], ["alice", "bob", "carol"])
    assert (result["added"], result["removed"], result["group_created"]) == (["alice"], [], False)
    assert etc.group("docker") == (DOCKER_GID, ["alice", "bob", "carol"])
    assert etc.gshadow_members("docker") == ["alice", "bob", "carol"]


@needs_namespace
def test_append_keeps_the_users_other_groups(etc):
    run_in_private_etc(etc, {"users": ["alice"]})
    assert etc.group("users") == (100, ["alice"])
    assert etc.group("audio") == (29, ["alice", "bob"])


@needs_namespace
def test_adding_warns_that_membership_is_root_equivalent(etc):
    result = run_in_private_etc(etc, {"users": ["alice", "dave"]})
    assert result["warnings"] == [ROOT_EQUIVALENT.format(group="docker", users="alice, dave")]


@needs_namespace
def test_a_second_run_changes_nothing_and_does_not_warn(etc):
    run_in_private_etc(etc, {"users": ["alice"]})
    before = etc.state()
    result = run_in_private_etc(etc, {"users": ["alice"]})
    assert result["changed"] is False
    assert result["added"] == result["removed"] == []
    assert result["warnings"] == []
    assert etc.state() == before


@needs_namespace
def test_listing_existing_members_only_changes_nothing(etc):
    before = etc.state()
    result = run_in_private_etc(etc, {"users": ["bob", "bob"]})
    assert result["changed"] is False
    assert etc.state() == before


@needs_namespace
def test_exclusive_removes_the_members_not_listed(etc):
    result = run_in_private_etc(etc, {"users": ["alice", "bob"], "exclusive": True})
    assert result["changed"] is True
    assert (result["added"], result["removed"]) == (["alice"], ["carol"])
    assert etc.group("docker") == (DOCKER_GID, ["alice", "bob"])
    assert etc.group("audio") == (29, ["alice", "bob"])


@needs_namespace
def test_exclusive_with_no_users_empties_the_group(etc):
    result = run_in_private_etc(etc, {"users": [], "exclusive": True})
    assert result["removed"] == ["bob", "carol"]
    assert etc.group("docker") == (DOCKER_GID, [])
    assert etc.gshadow_members("docker") == []


@needs_namespace
def test_exclusive_warns_about_members_by_primary_group(etc):
    result = run_in_private_etc(etc, {"users": ["bob", "carol"], "exclusive": True})
    assert result["changed"] is False
    assert result["warnings"] == [
        "User(s) dave have 'docker' as their primary group, so they keep its rights though they "
        "were to leave it; change their primary group."
    ]


@needs_namespace
def test_absent_users_leave_the_group_and_others_stay(etc):
    result = run_in_private_etc(etc, {"users": ["alice"], "absent_users": ["carol", "ghost"]})
    assert (result["changed"], result["added"], result["removed"]) == (True, ["alice"], ["carol"])
    assert etc.group("docker") == (DOCKER_GID, ["alice", "bob"])
    assert etc.gshadow_members("docker") == ["alice", "bob"]


@needs_namespace
def test_an_absent_user_whose_primary_group_it_is_is_named(etc):
    result = run_in_private_etc(etc, {"users": [], "absent_users": ["dave"]})
    assert result["changed"] is False
    assert result["warnings"] == [
        "User(s) dave have 'docker' as their primary group, so they keep its rights though they "
        "were to leave it; change their primary group."
    ]


@needs_namespace
def test_a_user_both_wanted_and_absent_fails_and_changes_nothing(etc):
    before = etc.state()
    result = run_in_private_etc(etc, {"users": ["alice"], "absent_users": ["alice"]})
    assert result["failed"] is True
    assert "alice are in both users and absent_users" in result["msg"]
    assert etc.state() == before


@needs_namespace
def test_an_unknown_user_fails_naming_it_and_changes_nothing(etc):
    before = etc.state()
    result = run_in_private_etc(etc, {"users": ["alice", "mallory", "eve"], "exclusive": True})
    assert result["failed"] is True
    assert result["msg"] == (
        "Cannot add to group 'docker': user(s) mallory, eve do not exist on this host. "
        "Create them first, or remove them from the list. Nothing was changed."
    )
    assert result["missing_users"] == ["mallory", "eve"]
    assert etc.state() == before


@needs_namespace
def test_a_missing_group_is_created_as_a_system_group(etc_without_docker):
    result = run_in_private_etc(etc_without_docker, {"users": ["alice"]})
    assert (result["changed"], result["group_created"]) == (True, True)
    assert result["members_before"] == []
    gid, members = etc_without_docker.group("docker")
    assert members == ["alice"]
    assert gid < 1000


@needs_namespace
def test_a_missing_group_is_created_as_a_user_group_when_not_system(etc_without_docker):
    run_in_private_etc(etc_without_docker, {"users": [], "system": False})
    gid, members = etc_without_docker.group("docker")
    assert (gid >= 1000, members) == (True, [])


@needs_namespace
def test_another_group_name_is_managed_the_same_way(etc):
    result = run_in_private_etc(etc, {"name": "dockerlab", "users": ["carol"]})
    assert result["group_created"] is True
    assert result["warnings"] == [ROOT_EQUIVALENT.format(group="dockerlab", users="carol")]
    assert etc.group("dockerlab")[1] == ["carol"]
    assert etc.group("docker") == (DOCKER_GID, ["bob", "carol"])


@needs_namespace
def test_check_mode_reports_the_change_and_changes_nothing(etc):
    before = etc.state()
    result = run_in_private_etc(etc, {"users": ["alice"], "exclusive": True}, check_mode=True)
    assert result["changed"] is True
    assert (result["added"], result["removed"]) == (["alice"], ["bob", "carol"])
    assert result["warnings"][0] == ROOT_EQUIVALENT.format(group="docker", users="alice")
    assert etc.state() == before


@needs_namespace
def test_check_mode_does_not_create_a_missing_group(etc_without_docker):
    before = etc_without_docker.state()
    result = run_in_private_etc(etc_without_docker, {"users": ["alice"]}, check_mode=True)
    assert (result["changed"], result["group_created"], result["members"]) == (True, True, ["alice"])
    assert etc_without_docker.state() == before


@needs_namespace
def test_diff_shows_the_member_lists_one_per_line(etc):
    result = run_in_private_etc(etc, {"users": ["alice", "bob"], "exclusive": True}, diff=True)
    assert result["diff"] == {
        "before_header": "group docker members",
        "after_header": "group docker members",
        "before": "bob\ncarol\n",
        "after": "alice\nbob\n",
    }


@needs_namespace
def test_diff_of_a_new_group_starts_empty(etc_without_docker):
    result = run_in_private_etc(etc_without_docker, {"users": ["bob"]}, check_mode=True, diff=True)
    assert (result["diff"]["before"], result["diff"]["after"]) == ("", "bob\n")


@pytest.mark.parametrize(
    ("current", "users", "exclusive", "expected"),
    [
        ([], [], False, ([], [], [])),
        (["bob"], ["alice"], False, (["alice", "bob"], ["alice"], [])),
        (["bob"], ["alice"], True, (["alice"], ["alice"], ["bob"])),
        (["bob", "carol"], ["carol", "bob"], True, (["bob", "carol"], [], [])),
        (["bob", "carol"], [], True, ([], [], ["bob", "carol"])),
        (["bob", "carol"], [], False, (["bob", "carol"], [], [])),
        (["carol"], ["alice", "alice"], False, (["alice", "carol"], ["alice"], [])),
    ],
)
def test_plan(current, users, exclusive, expected):
    assert plan(current, users, exclusive) == expected


def test_missing_users_keeps_the_given_order():
    known = {"alice": object(), "bob": object()}
    assert missing_users(["zed", "alice", "mallory", "bob"], lookup=known.__getitem__) == ["zed", "mallory"]


def test_missing_users_looks_up_the_real_password_database():
    assert missing_users(["root", "dockerlab-no-such-user"]) == ["dockerlab-no-such-user"]


def test_primary_members_lists_users_whose_primary_group_it_is():
    entries = [
        pwd.struct_passwd((name, "x", uid, gid, "", f"/home/{name}", "/bin/sh"))
        for name, uid, gid in [("dave", 1004, 990), ("alice", 1001, 1001), ("erin", 1005, 990)]
    ]
    assert primary_members(990, getall=lambda: entries) == ["dave", "erin"]

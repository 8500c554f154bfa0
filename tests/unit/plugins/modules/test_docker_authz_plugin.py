"""plugins/modules/docker_authz_plugin: installing and removing the
authorization plugin's program, units and policy, under a temporary root.

The paths the module writes are _authz_install's constants, read when the
module runs: the tests point them into tmp_path (the program's directory,
the units, the policy, the owner file) and the plugin's socket into a short
temporary directory. systemd cannot run here, so ``systemctl`` is a small
program on PATH that logs its calls and keeps the units' states in a JSON
file; it starts nothing. Where the module waits for the plugin to answer,
the test serves the plugin's socket itself with the real _authz_server, so
the module's /Plugin.Activate call is answered for real (or, where nothing
serves it, times out for real).
"""

import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils import _authz_install as install
from ansible_collections.dockerlab.docker.plugins.module_utils import _authz_server
from ansible_collections.dockerlab.docker.plugins.modules import docker_authz_plugin

ROOT = Path(__file__).resolve().parents[4]
SOCKET = "dockerlab-authz.socket"
SERVICE = "dockerlab-authz.service"
PROGRAM_MODULES = ("_api", "_authz", "_authz_config", "_authz_server", "_files")

# The module writes its files as root:root (write_atomic's chown).
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the module chowns what it writes to root")

FAKE_SYSTEMCTL = """\
#!{python}
# Stand-in for systemctl: logs the call; the units' states (active, enabled)
# are kept in units.json. It starts nothing: the test serves the plugin's socket.
import json, os, sys

fake = os.environ["DOCKERLAB_FAKE"]
args = sys.argv[1:]
with open(os.path.join(fake, "calls.log"), "a") as log:
    log.write("systemctl " + " ".join(args) + "\\n")
with open(os.path.join(fake, "units.json")) as handle:
    units = json.load(handle)
words = [arg for arg in args if not arg.startswith("-")]
verb, names = words[0], words[1:]
if "status" in args:
    name = args[-1]
    print(f"\\u25cb {{name}} - dockerlab authorization plugin for dockerd")
    print("     Active: inactive (dead)")
    sys.exit(3)
if verb in units.get("refuse", []):
    print(f"Failed to {{verb}} unit: Unit file {{names[0]}} does not exist.", file=sys.stderr)
    sys.exit(1)
if verb == "is-active":
    active = units[names[0]]["active"]
    if "--quiet" not in args:
        print("active" if active else "inactive")
    sys.exit(0 if active else 3)
if verb == "is-enabled":
    enabled = units[names[0]]["enabled"]
    if "--quiet" not in args:
        print("enabled" if enabled else "disabled")
    sys.exit(0 if enabled else 1)
if verb == "daemon-reload":
    sys.exit(0)
if verb not in ("enable", "disable", "start", "stop", "restart"):
    print(f"Unknown command verb {{verb}}.", file=sys.stderr)
    sys.exit(1)
for name in names:
    if verb == "enable":
        units[name]["enabled"] = True
    elif verb == "disable":
        units[name]["enabled"] = False
    if verb in ("start", "restart") or (verb == "enable" and "--now" in args):
        units[name]["active"] = True
    elif verb == "stop" or (verb == "disable" and "--now" in args):
        units[name]["active"] = False
with open(os.path.join(fake, "units.json.tmp"), "w") as handle:
    json.dump(units, handle)
os.replace(os.path.join(fake, "units.json.tmp"), os.path.join(fake, "units.json"))
"""


class Host:
    """The temporary root the module writes under, and the fake systemd."""

    def __init__(self, root, fake, socket_path, daemon_json):
        self.root, self.fake, self.socket, self.daemon_json = root, fake, socket_path, daemon_json
        self.set_units()

    def set_units(self, *, socket=(False, False), service=(False, False), refuse=()):
        """Each unit's (active, enabled); ``refuse``: verbs systemctl fails."""
        units = {
            SOCKET: {"active": socket[0], "enabled": socket[1]},
            SERVICE: {"active": service[0], "enabled": service[1]},
            "refuse": list(refuse),
        }
        (self.fake / "units.json").write_text(json.dumps(units))

    def unit(self, name):
        return json.loads((self.fake / "units.json").read_text())[name]

    def activate_service(self):
        """As the socket's first connection does on a real host."""
        units = json.loads((self.fake / "units.json").read_text())
        units[SERVICE]["active"] = True
        (self.fake / "units.json").write_text(json.dumps(units))

    def calls(self):
        log = self.fake / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def forget_calls(self):
        (self.fake / "calls.log").unlink(missing_ok=True)

    def files(self):
        """Every file and symbolic link under the root, relative to it."""
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if not p.is_dir())

    def names_plugin(self, plugins):
        self.daemon_json.write_text(json.dumps({"authorization-plugins": plugins, "log-level": "info"}))


@pytest.fixture
def host(tmp_path, short_tmp, monkeypatch, fake_commands):
    root = tmp_path / "root"
    root.mkdir()
    fake = fake_commands({"systemctl": FAKE_SYSTEMCTL})
    # The module reads these from the _authz_install it imported, when it
    # runs; PROGRAM was made from LIB_DIR at import, so it is set on its own.
    assert docker_authz_plugin.install is install
    lib_dir = f"{root}/usr/local/lib/dockerlab/authz"
    paths = {
        "LIB_DIR": lib_dir,
        "PROGRAM": f"{lib_dir}/dockerlab-authz",
        "SOCKET_UNIT": f"{root}/etc/systemd/system/{SOCKET}",
        "SERVICE_UNIT": f"{root}/etc/systemd/system/{SERVICE}",
        "POLICY_FILE": f"{root}/etc/dockerlab/authz/policy.json",
        "OWNERS_FILE": f"{root}/var/lib/dockerlab/authz/owners.json",
        "PLUGIN_SOCKET": str(short_tmp / "dockerlab-authz.sock"),
    }
    for name, value in paths.items():
        monkeypatch.setattr(install, name, value)
    (root / "etc" / "docker").mkdir(parents=True)
    return Host(root, fake, paths["PLUGIN_SOCKET"], root / "etc" / "docker" / "daemon.json")


@pytest.fixture
def plugin_server(host):
    """The real plugin server answering on the plugin's socket, as the
    service systemd would start on the socket's first connection."""
    server = _authz_server.UnixServer(host.socket, _authz_server.Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def run(run_module, host):
    def run_plugin(*, check_mode=False, diff=False, **args):
        base = {"daemon_json": str(host.daemon_json), "timeout": 5}
        return run_module(docker_authz_plugin, {**base, **args}, check_mode=check_mode, diff=diff)

    return run_plugin


def program_paths():
    return sorted(install.program_files())


def all_paths():
    """What an install writes, in the order the module reports it."""
    return [*program_paths(), install.PROGRAM, install.SOCKET_UNIT, install.SERVICE_UNIT, install.POLICY_FILE]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def inodes(paths):
    return {path: os.stat(path).st_ino for path in paths}


FIRST_CALLS = [
    f"systemctl is-active --quiet {SOCKET}",
    f"systemctl is-enabled --quiet {SOCKET}",
]


def test_a_first_install_writes_every_file_and_starts_the_socket(run, host, plugin_server):
    result = run(restricted=["student2", "student1", "student1"], revoked=["former"])
    assert result["changed"] is True
    assert result["restarted"] is False
    assert result["plugin"] == "dockerlab-authz"
    assert result["socket"] == host.socket
    assert result["policy"] == {"restricted": ["student1", "student2"], "revoked": ["former"]}
    assert result["changed_files"] == all_paths()
    assert all(path.startswith(f"{host.root}/") for path in result["changed_files"])
    assert result["warnings"] == []
    # The program: the collection's own module_utils, byte for byte, where
    # their imports of each other work unchanged.
    package = Path(install.LIB_DIR) / "ansible_collections/dockerlab/docker/plugins/module_utils"
    assert program_paths() == [str(package / f"{name}.py") for name in PROGRAM_MODULES]
    for name in PROGRAM_MODULES:
        written = package / f"{name}.py"
        assert written.read_bytes() == (ROOT / "plugins" / "module_utils" / f"{name}.py").read_bytes()
        assert mode(written) == 0o644
    launcher = Path(install.PROGRAM)
    assert launcher.read_text() == install.launcher_text()
    assert f"sys.path.insert(0, {install.LIB_DIR!r})\n" in launcher.read_text()
    assert mode(launcher) == 0o755
    # The units.
    socket_unit = Path(install.SOCKET_UNIT).read_text()
    assert f"ListenStream={host.socket}\n" in socket_unit
    assert "SocketMode=0600\n" in socket_unit
    service_unit = Path(install.SERVICE_UNIT).read_text()
    assert service_unit.splitlines()[0] == f"{install.INPUTS_MARK}{install.inputs_hash()}"
    assert (
        f"ExecStart=/usr/bin/python3 -I {install.PROGRAM} "
        f"--policy {install.POLICY_FILE} --owners {install.OWNERS_FILE}\n"
    ) in service_unit
    assert mode(install.SOCKET_UNIT) == mode(install.SERVICE_UNIT) == 0o644
    # The policy.
    policy = Path(install.POLICY_FILE)
    assert json.loads(policy.read_text()) == {"restricted": ["student1", "student2"], "revoked": ["former"]}
    assert policy.read_text() == install.policy_text(["student1", "student2"], ["former"])
    assert mode(policy) == 0o644
    for path in result["changed_files"]:
        assert (os.stat(path).st_uid, os.stat(path).st_gid) == (0, 0)
    # The owner file's directory is made private; the plugin writes the file.
    owners_dir = Path(install.OWNERS_FILE).parent
    assert owners_dir.is_dir()
    assert mode(owners_dir) == 0o700
    assert not Path(install.OWNERS_FILE).exists()
    assert host.calls() == [
        *FIRST_CALLS,
        "systemctl daemon-reload",
        f"systemctl enable --now {SOCKET}",
        f"systemctl is-active --quiet {SERVICE}",
    ]
    assert host.unit(SOCKET) == {"active": True, "enabled": True}


def test_nothing_else_is_written_and_no_temporary_file_is_left(run, host, plugin_server):
    run(restricted=["student1"])
    expected = sorted(str(Path(path).relative_to(host.root)) for path in all_paths())
    assert host.files() == expected


def test_a_second_run_with_the_same_inputs_changes_nothing(run, host, plugin_server):
    run(restricted=["student1"], revoked=["former"])
    written = {path: Path(path).read_bytes() for path in all_paths()}
    before = inodes(all_paths())
    host.forget_calls()
    result = run(restricted=["student1"], revoked=["former"], diff=True)
    assert result["changed"] is False
    assert result["changed_files"] == []
    assert result["restarted"] is False
    assert "diff" not in result
    assert inodes(all_paths()) == before  # not even rewritten
    assert {path: Path(path).read_bytes() for path in all_paths()} == written
    assert host.calls() == FIRST_CALLS


def test_the_order_and_repetition_of_the_users_do_not_matter(run, host, plugin_server):
    run(restricted=["student1", "student2"], revoked=["former"])
    result = run(restricted=["student2", "student1", "student2"], revoked=["former", "former"])
    assert result["changed"] is False


def test_a_policy_change_rewrites_only_the_policy_and_restarts_nothing(run, host, plugin_server):
    run(restricted=["student1"])
    host.activate_service()
    old_policy = Path(install.POLICY_FILE).read_text()
    others = [path for path in all_paths() if path != install.POLICY_FILE]
    before = inodes(others)
    host.forget_calls()
    result = run(restricted=["student1", "student2"], revoked=["former"], diff=True)
    assert result["changed"] is True
    assert result["changed_files"] == [install.POLICY_FILE]
    assert result["restarted"] is False
    new_policy = install.policy_text(["student1", "student2"], ["former"])
    assert Path(install.POLICY_FILE).read_text() == new_policy
    assert result["diff"] == [
        {
            "before_header": install.POLICY_FILE,
            "after_header": install.POLICY_FILE,
            "before": old_policy,
            "after": new_policy,
        }
    ]
    assert inodes(others) == before
    # The running plugin reads the policy again by itself: no restart, no reload.
    assert host.calls() == FIRST_CALLS
    assert host.unit(SERVICE)["active"] is True


def test_a_changed_program_file_restarts_the_running_service(run, host, plugin_server):
    run(restricted=["student1"])
    host.activate_service()
    edited = Path(program_paths()[1])  # _authz.py
    original = edited.read_bytes()
    edited.write_bytes(original + b"# edited by hand\n")
    host.forget_calls()
    result = run(restricted=["student1"], diff=True)
    assert result["changed"] is True
    assert result["changed_files"] == [str(edited)]
    assert result["restarted"] is True
    assert edited.read_bytes() == original
    assert "diff" not in result  # the program's text is not shown, only the policy's and the units'
    # The units did not change: no daemon-reload, the socket keeps listening.
    assert host.calls() == [
        *FIRST_CALLS,
        f"systemctl is-active --quiet {SERVICE}",
        f"systemctl restart {SERVICE}",
    ]


def test_a_changed_program_does_not_start_a_service_that_is_not_running(run, host, plugin_server):
    run(restricted=["student1"])
    Path(install.PROGRAM).write_text("#!/bin/sh\nexit 1\n")
    host.forget_calls()
    result = run(restricted=["student1"])
    assert result["changed_files"] == [install.PROGRAM]
    assert result["restarted"] is False
    assert Path(install.PROGRAM).read_text() == install.launcher_text()
    assert host.calls() == [*FIRST_CALLS, f"systemctl is-active --quiet {SERVICE}"]
    assert host.unit(SERVICE)["active"] is False


def test_a_launcher_that_lost_its_mode_is_made_executable_again(run, host, plugin_server):
    run(restricted=["student1"])
    os.chmod(install.PROGRAM, 0o644)
    result = run(restricted=["student1"])
    assert result["changed_files"] == [install.PROGRAM]
    assert mode(install.PROGRAM) == 0o755


def test_a_changed_socket_unit_is_reloaded_and_the_running_socket_restarted(run, host, plugin_server):
    run(restricted=["student1"])
    host.activate_service()
    Path(install.SOCKET_UNIT).write_text("[Socket]\nListenStream=/elsewhere.sock\n")
    host.forget_calls()
    result = run(restricted=["student1"], diff=True)
    assert result["changed_files"] == [install.SOCKET_UNIT]
    assert result["restarted"] is True
    assert result["diff"] == [
        {
            "before_header": install.SOCKET_UNIT,
            "after_header": install.SOCKET_UNIT,
            "before": "[Socket]\nListenStream=/elsewhere.sock\n",
            "after": install.socket_unit_text(),
        }
    ]
    assert host.calls() == [
        *FIRST_CALLS,
        "systemctl daemon-reload",
        f"systemctl restart {SOCKET}",
        f"systemctl is-active --quiet {SERVICE}",
        f"systemctl restart {SERVICE}",
    ]


@pytest.mark.parametrize("socket_state", [(False, True), (True, False)], ids=["stopped", "disabled"])
def test_a_stopped_or_disabled_socket_is_enabled_and_started_though_no_file_changed(
    run, host, plugin_server, socket_state
):
    run(restricted=["student1"])
    host.set_units(socket=socket_state)
    host.forget_calls()
    result = run(restricted=["student1"])
    assert result["changed"] is True
    assert result["changed_files"] == []
    assert host.calls() == [
        *FIRST_CALLS,
        f"systemctl enable --now {SOCKET}",
    ]
    assert host.unit(SOCKET) == {"active": True, "enabled": True}


def test_check_mode_writes_nothing_and_reports_the_change(run, host):
    # No plugin server: a check run does not wait for the plugin either.
    result = run(restricted=["student1"], check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["changed_files"] == all_paths()
    assert result["restarted"] is False
    assert host.files() == []
    assert not Path(install.OWNERS_FILE).parent.exists()
    assert host.calls() == FIRST_CALLS
    assert host.unit(SOCKET) == {"active": False, "enabled": False}
    assert [(d["before_header"], d["before"]) for d in result["diff"]] == [
        (install.SOCKET_UNIT, ""),
        (install.SERVICE_UNIT, ""),
        (install.POLICY_FILE, ""),
    ]
    assert result["diff"][2]["after"] == install.policy_text(["student1"], [])


def test_check_mode_of_a_policy_change_leaves_the_installed_policy(run, host, plugin_server):
    run(restricted=["student1"])
    installed = Path(install.POLICY_FILE).read_bytes()
    host.forget_calls()
    result = run(restricted=["student1", "student2"], check_mode=True)
    assert result["changed"] is True
    assert result["changed_files"] == [install.POLICY_FILE]
    assert Path(install.POLICY_FILE).read_bytes() == installed
    assert host.calls() == FIRST_CALLS


@pytest.mark.parametrize(
    ("restricted", "revoked", "error"),
    [
        (["root"], [], "root cannot be restricted"),
        (["alice", "bob"], ["bob"], "user(s) bob are both restricted and revoked."),
        (["student one"], [], "restricted user(s) student one are not user names"),
        ([], ["Former"], "revoked user(s) Former are not user names"),
    ],
)
def test_an_invalid_policy_is_refused_naming_the_users_before_anything_changes(
    run, host, restricted, revoked, error
):
    result = run(restricted=restricted, revoked=revoked)
    assert result["failed"] is True
    assert result["msg"].startswith("The authorization policy is not valid: ")
    assert error in result["msg"]
    assert result["msg"].endswith(" Nothing was changed.")
    assert result["changed"] is False
    assert host.files() == []
    assert host.calls() == []


def test_every_error_of_a_policy_is_named_at_once(run, host):
    result = run(restricted=["root", "alice", "bad name"], revoked=["alice"])
    assert result["failed"] is True
    for error in (
        "restricted user(s) bad name are not user names",
        "root cannot be restricted",
        "user(s) alice are both restricted and revoked",
    ):
        assert error in result["msg"]


def test_an_invalid_policy_leaves_the_installed_one(run, host, plugin_server):
    run(restricted=["student1"])
    installed = Path(install.POLICY_FILE).read_bytes()
    host.forget_calls()
    result = run(restricted=["student1", "root"])
    assert result["failed"] is True
    assert Path(install.POLICY_FILE).read_bytes() == installed
    assert host.calls() == []


def test_a_plugin_that_does_not_answer_fails_the_run_naming_its_socket(run, host):
    # Nothing serves the socket: the fake systemctl starts nothing.
    started = time.monotonic()
    result = run(restricted=["student1"], timeout=1)
    elapsed = time.monotonic() - started
    assert result["failed"] is True
    assert result["msg"].startswith("The authorization plugin does not answer on its socket within 1 s (")
    assert host.socket in result["msg"]
    assert "dockerd must not be told to use it." in result["msg"]
    assert f"systemctl status {SERVICE}: \u25cb {SERVICE} - dockerlab authorization plugin" in result["msg"]
    assert elapsed >= 1
    # The files are written (and said to be), the socket enabled.
    assert result["changed"] is True
    assert result["changed_files"] == all_paths()
    assert host.calls()[-1] == f"systemctl --no-pager -n 20 status {SERVICE}"
    assert f"systemctl enable --now {SOCKET}" in host.calls()


def test_a_socket_that_answers_but_not_as_the_plugin_fails_the_run(run, host, unix_ping_server):
    unix_ping_server(host.socket)  # answers GET /_ping; POST /Plugin.Activate is not implemented
    result = run(restricted=["student1"], timeout=1)
    assert result["failed"] is True
    assert f"({host.socket} answered 501, not an authorization plugin's activation)" in result["msg"]


def test_a_systemctl_that_fails_fails_the_run_with_its_message(run, host):
    host.set_units(refuse=["enable"])
    result = run(restricted=["student1"])
    assert result["failed"] is True
    assert result["msg"] == (
        f"systemctl enable --now {SOCKET} exited 1: Failed to enable unit: Unit file {SOCKET} does not exist."
    )


def test_absent_refuses_while_daemon_json_names_the_plugin(run, host, plugin_server):
    run(restricted=["student1"])
    host.names_plugin(["other-authz", "dockerlab-authz"])
    files = host.files()
    host.forget_calls()
    result = run(state="absent")
    assert result["failed"] is True
    assert result["msg"] == (
        f"{host.daemon_json} still names dockerlab-authz in authorization-plugins: "
        "without the plugin every API call fails. Remove it there and reload dockerd first "
        "(docker_access_authz false does it in that order). Nothing was changed."
    )
    assert host.files() == files
    assert host.calls() == []
    assert host.unit(SOCKET) == {"active": True, "enabled": True}


def test_a_refused_removal_reports_no_change(run, host, plugin_server):
    run(restricted=["student1"])
    host.names_plugin(["dockerlab-authz"])
    result = run(state="absent")
    assert result["failed"] is True
    assert result["changed"] is False


def test_absent_in_check_mode_warns_that_daemon_json_names_the_plugin(run, host, plugin_server):
    run(restricted=["student1"])
    host.names_plugin(["dockerlab-authz"])
    files = host.files()
    host.forget_calls()
    result = run(state="absent", check_mode=True, diff=True)
    assert "failed" not in result
    assert result["changed"] is True
    assert result["warnings"] == [
        f"{host.daemon_json} names dockerlab-authz: it must stop naming it, "
        "with a reload, before the plugin is removed."
    ]
    assert result["changed_files"] == [
        install.SERVICE_UNIT,
        install.SOCKET_UNIT,
        install.POLICY_FILE,
        install.PROGRAM,
        *program_paths(),
    ]
    assert [(d["before_header"], d["after"]) for d in result["diff"]] == [
        (install.SERVICE_UNIT, ""),
        (install.SOCKET_UNIT, ""),
        (install.POLICY_FILE, ""),
    ]
    assert result["diff"][2]["before"] == install.policy_text(["student1"], [])
    assert host.files() == files
    assert host.calls() == []


@pytest.mark.parametrize("daemon_json", ["missing", "other-plugin", "not-json"])
def test_absent_removes_the_files_and_the_programs_directory(run, host, plugin_server, daemon_json):
    run(restricted=["student1"])
    host.activate_service()
    if daemon_json == "other-plugin":
        host.names_plugin(["other-authz"])
    elif daemon_json == "not-json":
        host.daemon_json.write_text("{not json")
    # What the plugin and Python leave besides the module's files.
    owners = Path(install.OWNERS_FILE)
    owners.write_text('{"containers": {}}\n')
    cache = Path(program_paths()[0]).parent / "__pycache__" / "_api.cpython-311.pyc"
    cache.parent.mkdir()
    cache.write_bytes(b"\0")
    host.forget_calls()
    result = run(state="absent")
    assert result["changed"] is True
    assert "policy" not in result
    assert result["changed_files"] == [
        install.SERVICE_UNIT,
        install.SOCKET_UNIT,
        install.POLICY_FILE,
        install.PROGRAM,
        *program_paths(),
    ]
    assert not Path(install.LIB_DIR).exists()
    assert not Path(install.POLICY_FILE).parent.exists()
    assert Path(install.SOCKET_UNIT).parent.is_dir()  # systemd's directory stays
    # The owner file is kept (which restricted user created which container).
    assert owners.read_text() == '{"containers": {}}\n'
    expected = ["var/lib/dockerlab/authz/owners.json"]
    if daemon_json != "missing":
        expected.insert(0, "etc/docker/daemon.json")
    assert host.files() == expected
    assert host.calls() == [f"systemctl disable --now {SOCKET} {SERVICE}", "systemctl daemon-reload"]
    assert host.unit(SOCKET) == host.unit(SERVICE) == {"active": False, "enabled": False}


def test_absent_keeps_the_policy_directory_when_something_else_is_in_it(run, host, plugin_server):
    run(restricted=["student1"])
    other = Path(install.POLICY_FILE).parent / "notes.txt"
    other.write_text("mine\n")
    result = run(state="absent")
    assert result["changed"] is True
    assert not Path(install.POLICY_FILE).exists()
    assert other.read_text() == "mine\n"


def test_absent_on_a_clean_host_changes_nothing(run, host):
    # Not even a daemon.json that names the plugin matters: there is nothing to remove.
    host.names_plugin(["dockerlab-authz"])
    result = run(state="absent", diff=True)
    assert "failed" not in result
    assert result["changed"] is False
    assert result["changed_files"] == []
    assert result["restarted"] is False
    assert "diff" not in result
    assert result["warnings"] == []
    assert host.calls() == []


def test_absent_twice_changes_nothing_the_second_time(run, host, plugin_server):
    run(restricted=["student1"])
    assert run(state="absent")["changed"] is True
    host.forget_calls()
    result = run(state="absent")
    assert result["changed"] is False
    assert host.calls() == []


def test_install_after_removal_is_a_first_install_again(run, host, plugin_server):
    run(restricted=["student1"])
    run(state="absent")
    host.forget_calls()
    result = run(restricted=["student1"])
    assert result["changed_files"] == all_paths()
    assert f"systemctl enable --now {SOCKET}" in host.calls()

"""plugins/modules/docker_daemon_restart: the pure helpers, and the restart and
rollback flow against a stand-in daemon.

systemd cannot run here, so ``systemctl`` and ``journalctl`` are small
programs on PATH that log their calls. The stand-in daemon is a real HTTP
server on a temporary Unix socket answering /_ping; the fake ``systemctl
restart`` decides, like dockerd, from the real daemon.json on disk whether
the daemon starts (unknown keys are refused), when it answers, and writes the
daemon's error to the fake journal. Everything the module does between the
restart and its result (waiting, rollback from the real stash, the second
restart, the messages) runs for real.

The TLS listener the module finds in the unit (unit_tls_listener) is read
from a unit and drop-ins in temporary unit directories: the vendor unit as
Debian packages it, and the drop-in the real docker_daemon_listener writes.
"""

import json
import os
import re
import shutil
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils import _systemd
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import silent_plugins
from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import DEFAULT_PATH
from ansible_collections.dockerlab.docker.plugins.module_utils._files import Stash, read_text
from ansible_collections.dockerlab.docker.plugins.modules import (
    docker_daemon_config,
    docker_daemon_listener,
    docker_daemon_restart,
)
from ansible_collections.dockerlab.docker.plugins.modules.docker_daemon_restart import (
    error_lines,
    is_unit_file,
    unit_tls_listener,
)

UNIT = "dockerlab-test.service"  # never a real unit, should a real systemctl be reached
SOCKET_UNIT = "dockerlab-listener.socket"  # what docker_daemon_listener writes for it

# What journalctl -u docker --output cat shows for a daemon.json dockerd refuses.
REFUSED_JOURNAL = """\
Starting docker.service - Docker Application Container Engine...
time="2024-05-14T09:12:01.114477391Z" level=info msg="Starting up"
time="2024-05-14T09:12:01.116902204Z" level=warning msg="failed to load plugin io.containerd.snapshotter.v1.devmapper" error="devmapper not configured"
unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives don't match any configuration option: bogus
docker.service: Main process exited, code=exited, status=1/FAILURE
docker.service: Failed with result 'exit-code'.
Failed to start docker.service - Docker Application Container Engine.
"""  # noqa: E501 - journal lines as logged

HOSTS_JOURNAL = """\
time="2024-05-14T09:20:11.000000000Z" level=info msg="Starting up"
failed to start daemon: the following directives are specified both as a flag and in the configuration file: hosts: (from flag: [fd://], from file: [tcp://0.0.0.0:2375])
docker.service: Main process exited, code=exited, status=1/FAILURE
"""  # noqa: E501 - journal lines as logged

FATAL_JOURNAL = """\
time="2024-05-14T09:30:00.000000000Z" level=info msg="Starting up"
time="2024-05-14T09:30:00.100000000Z" level=info msg="containerd not running, starting managed containerd"
time="2024-05-14T09:30:01.000000000Z" level=fatal msg="Error starting daemon: error initializing graphdriver: driver not supported"
"""  # noqa: E501 - journal lines as logged

FAKE_SYSTEMCTL = """\
#!{python}
# Stand-in for systemctl: logs the call; "restart" starts the stand-in
# dockerd, which refuses a daemon.json with keys it does not know.
import json, os, sys, time

KNOWN = {{
    "debug", "live-restore", "log-level", "log-opts", "registry-mirrors", "tlsverify", "userland-proxy",
}}
fake = os.environ["DOCKERLAB_FAKE"]
args = sys.argv[1:]
with open(os.path.join(fake, "calls.log"), "a") as log:
    log.write("systemctl " + " ".join(args) + "\\n")
with open(os.path.join(fake, "behaviour.json")) as handle:
    behaviour = json.load(handle)

def set_state(value):
    with open(os.path.join(fake, "state.tmp"), "w") as handle:
        handle.write(value)
    os.replace(os.path.join(fake, "state.tmp"), os.path.join(fake, "state"))

def journal(text):
    # As journalctl --output short-unix prints it: a timestamp, the host, the unit's process.
    with open(os.path.join(fake, "journal.txt"), "a") as handle:
        for line in text.splitlines():
            handle.write(f"{{time.time():.6f}} labhost dockerd[4242]: {{line}}\\n")

def read_json(name, default):
    path = os.path.join(fake, name)
    if not os.path.exists(path):
        return default
    with open(path) as handle:
        return json.load(handle)

def write_json(name, value):
    with open(os.path.join(fake, name + ".tmp"), "w") as handle:
        json.dump(value, handle)
    os.replace(os.path.join(fake, name + ".tmp"), os.path.join(fake, name))

if args[0] == "show" and "--property=MainPID" in args:
    print(read_json("pid.json", 4242))
elif args[0] == "show":
    print(behaviour.get("need_reload", "no"))
elif args[0] == "reload":
    # dockerd on SIGHUP: the same process applies what it reloads of
    # daemon.json, or logs why it refuses and keeps what it ran with.
    with open(behaviour["config"]) as handle:
        config = json.load(handle)
    if behaviour.get("reload_refuses_with") in config:
        journal(
            'time="2024-05-14T09:50:00.000000000Z" level=error msg="Error reconfiguring the daemon: '
            f'invalid mirror: {{config[behaviour["reload_refuses_with"]]}}"'
        )
    else:
        applied = {{k: v for k, v in config.items() if k not in behaviour.get("reload_ignores", [])}}
        write_json("applied.json", applied)
        if not behaviour.get("reload_logs_nothing"):
            journal(
                'time="2024-05-14T09:50:00.000000000Z" level=info '
                f'msg="Reloaded configuration: {{json.dumps(applied)}}"'
            )
elif args[0] == "is-active":
    print(behaviour.get("active", "active"))
    sys.exit(0 if behaviour.get("active", "active") == "active" else 3)
elif args[0] == "daemon-reload":
    if behaviour.get("reload_error"):
        print(behaviour["reload_error"], file=sys.stderr)
        sys.exit(1)
elif args[1].endswith(".socket"):
    # A socket unit: it binds (or is refused its port) and nothing else.
    if args[0] == "restart" and behaviour.get("socket_refused"):
        journal(f"{{args[1]}}: Failed to create listening socket ({{behaviour['socket_refused']}}): "
                "Address already in use\\n"
                f"{{args[1]}}: Failed to listen on sockets: Address already in use\\n")
        print(f"Job for {{args[1]}} failed.", file=sys.stderr)
        sys.exit(1)
elif args[0] == "stop":
    set_state("down")
elif args[0] in ("restart", "start"):
    set_state("down")
    write_json("pid.json", read_json("pid.json", 4242) + 1)
    with open(behaviour["config"]) as handle:
        config = json.load(handle)
    write_json("applied.json", config)
    unknown = sorted(set(config) - KNOWN)
    if unknown:
        journal(
            'time="2024-05-14T09:12:01.114477391Z" level=info msg="Starting up"\\n'
            f"unable to configure the Docker daemon with file {{behaviour['config']}}: the following "
            f"directives don't match any configuration option: {{', '.join(unknown)}}\\n"
            f"{{args[1]}}: Main process exited, code=exited, status=1/FAILURE\\n"
            f"{{args[1]}}: Failed with result 'exit-code'.\\n"
        )
        print(
            f"Job for {{args[1]}} failed because the control process exited with error code.",
            file=sys.stderr,
        )
        sys.exit(1)
    if config.get(behaviour.get("hangs_with", "")):
        sys.exit(0)  # started, but never answers
    bridge = os.path.join(fake, "bridge")
    if behaviour.get("loses_bridge_with") in config:
        if os.path.exists(bridge):
            os.unlink(bridge)
    elif behaviour.get("has_bridge"):
        open(bridge, "w").close()
    if behaviour.get("broken_with") in config:
        # dockerd 20.10 with live-restore: up and answering, only a warning
        # says it could not set up its bridge.
        journal(
            'time="2024-05-14T09:40:00.000000000Z" level=warning msg="could not create bridge network for id '
            '0123 bridge name docker0 while booting up from persistent state: Unable to enable local routing '
            'for hairpin mode: open /proc/sys/net/ipv4/conf/docker0/route_localnet: read-only file system"\\n'
        )
    set_state(f"up-at {{time.time() + behaviour.get('answers_after', 0)}}")
"""

FAKE_IPTABLES = """\
#!{python}
# Stand-in for iptables and ip6tables: INPUT rules kept in a file.
import json, os, sys
fake = os.environ["DOCKERLAB_FAKE"]
tool, args = os.path.basename(sys.argv[0]), [a for a in sys.argv[1:] if a != "-w"]
with open(os.path.join(fake, "calls.log"), "a") as log:
    log.write(tool + " " + " ".join(args) + "\\n")
path = os.path.join(fake, tool + ".rules")
rules = json.load(open(path)) if os.path.exists(path) else []
if args[0] == "-S":
    print("-P INPUT ACCEPT")
    for rule in rules:
        print("-A " + " ".join(rule))
    sys.exit(0)
if args[0] == "-I":
    rules.insert(0, args[1:])
elif args[0] == "-D":
    if args[1:] not in rules:
        print("iptables: Bad rule (does a matching rule exist in that chain?).", file=sys.stderr)
        sys.exit(1)
    rules.remove(args[1:])
json.dump(rules, open(path, "w"))
"""

FAKE_JOURNALCTL = """\
#!{python}
import os, re, sys
fake = os.environ["DOCKERLAB_FAKE"]
args = " ".join(sys.argv[1:])
with open(os.path.join(fake, "calls.log"), "a") as log:
    log.write("journalctl " + re.sub(r"@[0-9]+", "@T", args) + "\\n")
path = os.path.join(fake, "journal.txt")
if os.path.exists(path):
    with open(path) as handle:
        sys.stdout.write(handle.read())
"""


class FakeDaemon:
    def __init__(self, fake, config, socket):
        self.fake, self.config, self.socket = fake, config, socket
        self.behave()
        self.set_state("up")

    def behave(self, **behaviour):
        (self.fake / "behaviour.json").write_text(json.dumps({"config": str(self.config), **behaviour}))

    def set_state(self, value):
        (self.fake / "state").write_text(value)

    def answering(self):
        state = (self.fake / "state").read_text()
        if state.startswith("up-at "):
            return time.time() >= float(state.split()[1])
        return state == "up"

    def has_bridge(self):
        return (self.fake / "bridge").exists()

    def documents(self):
        """GET /version and /info as dockerd answers them, from the settings
        the stand-in applied at its last restart or reload."""
        applied = self.fake / "applied.json"
        config = json.loads(applied.read_text()) if applied.exists() else json.loads(self.config.read_text())
        behaviour = json.loads((self.fake / "behaviour.json").read_text())
        info = {
            "Debug": config.get("debug", False),
            "LiveRestoreEnabled": config.get("live-restore", False),
            "Labels": config.get("labels", []),
            "RegistryConfig": {
                "Mirrors": [m.rstrip("/") + "/" for m in config.get("registry-mirrors", [])],
                "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                "IndexConfigs": {},
            },
        }
        if behaviour.get("version") is None and "version" in behaviour:
            return {"/info": info}  # a daemon that does not say its version
        return {"/version": {"Version": behaviour.get("version", "26.1.5+dfsg1")}, "/info": info}

    def pid(self):
        path = self.fake / "pid.json"
        return json.loads(path.read_text()) if path.exists() else 4242

    def calls(self):
        log = self.fake / "calls.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def daemon(tmp_path, short_tmp, monkeypatch, unix_ping_server, fake_commands):
    # Never the machine's own: a test must not reach the host's systemd or firewall.
    fake = fake_commands(
        {
            "systemctl": FAKE_SYSTEMCTL,
            "journalctl": FAKE_JOURNALCTL,
            "iptables": FAKE_IPTABLES,
            "ip6tables": FAKE_IPTABLES,
        }
    )
    config = tmp_path / "etc" / "docker" / "daemon.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"log-level": "info"}\n')
    state = FakeDaemon(fake, config, short_tmp / "docker.sock")
    unix_ping_server(
        state.socket, available=state.answering, bridge=state.has_bridge, documents=state.documents
    )
    return state


@pytest.fixture
def stash_dir(tmp_path):
    return tmp_path / "stash"


@pytest.fixture
def restart(run_module, daemon, stash_dir):
    def run_restart(*, check_mode=False, **args):
        base = {
            "unit": UNIT,
            "socket": str(daemon.socket),
            "stash_dir": str(stash_dir),
            "timeout": 2,
            "mode": "restart",
        }
        return run_module(docker_daemon_restart, {**base, **args}, check_mode=check_mode)

    return run_restart


@pytest.fixture
def configure(run_module, daemon, stash_dir):
    """Change daemon.json with the real docker_daemon_config (which stashes it)."""

    def run_config(options):
        result = run_module(
            docker_daemon_config,
            {"path": str(daemon.config), "stash_dir": str(stash_dir), "options": options},
        )
        assert result["changed"] is True
        return result

    return run_config


JOURNAL_CALL = f"journalctl --unit {UNIT} --since @T --no-pager --output short-unix"
# A restart that comes back: and the journal is read for the warnings that
# mean it came back broken.
RESTART_CALLS = [
    f"systemctl show --property=NeedDaemonReload --value {UNIT}",
    f"systemctl reset-failed {UNIT}",
    f"systemctl restart {UNIT}",
    JOURNAL_CALL,
]
# A restart systemd reports as failed: the journal is read for the error instead.
REFUSED_RESTART_CALLS = RESTART_CALLS[:-1]
# After a restart that came back, the daemon's new main process is read.
PID_CALL = f"systemctl show --property=MainPID --value {UNIT}"
JOB_FAILED = (
    f"systemctl restart {UNIT} failed: "
    f"Job for {UNIT} failed because the control process exited with error code."
)


def refusal(config, key="bogus"):
    return (
        f"unable to configure the Docker daemon with file {config}: the following directives "
        f"don't match any configuration option: {key}\n"
        f"{UNIT}: Failed with result 'exit-code'."
    )


def test_a_restart_that_comes_back_succeeds_and_clears_the_stash(restart, configure, daemon, stash_dir):
    configure({"live-restore": True})
    result = restart()
    assert not result.get("failed")
    assert (result["changed"], result["restarted"], result["rolled_back"]) == (True, True, False)
    assert result["restored_files"] == []
    assert result["daemon_reload"] is False
    assert daemon.calls() == [*RESTART_CALLS, PID_CALL]
    assert Stash(str(stash_dir)).pending() == []
    assert json.loads(daemon.config.read_text()) == {"live-restore": True, "log-level": "info"}


def test_the_module_waits_until_the_api_answers(restart, daemon):
    daemon.behave(answers_after=0.6)
    result = restart()
    assert result["changed"] is True
    assert 0.6 <= result["downtime"] < 2


def test_a_changed_dropin_makes_systemd_reload_first(restart, daemon, stash_dir, tmp_path):
    dropin = tmp_path / "etc" / "systemd" / "system" / "docker.service.d" / "dockerlab-listener.conf"
    Stash(str(stash_dir)).save(str(dropin))
    result = restart()
    assert result["daemon_reload"] is True
    assert daemon.calls() == [
        "systemctl daemon-reload",
        f"systemctl reset-failed {UNIT}",
        f"systemctl restart {UNIT}",
        JOURNAL_CALL,
        PID_CALL,
    ]


def test_systemd_asking_for_a_reload_makes_it_reload(restart, daemon):
    daemon.behave(need_reload="yes")
    assert restart()["daemon_reload"] is True
    assert daemon.calls() == [RESTART_CALLS[0], "systemctl daemon-reload", *RESTART_CALLS[1:], PID_CALL]


def test_a_refused_configuration_is_rolled_back_and_the_daemon_runs_again(
    restart, configure, daemon, stash_dir
):
    before = daemon.config.read_bytes()
    configure({"bogus": True})
    result = restart()
    assert result["failed"] is True
    assert result["msg"] == (
        f"{UNIT} refused the new configuration and was rolled back to the previous one "
        f"({daemon.config}); it runs again. The daemon said: {JOB_FAILED}; {refusal(daemon.config)}"
    )
    assert "rolled back" in result["msg"]
    assert result["daemon_error"] == f"{JOB_FAILED}; {refusal(daemon.config)}"
    assert (result["rolled_back"], result["restored_files"]) == (True, [str(daemon.config)])
    assert daemon.config.read_bytes() == before
    assert Stash(str(stash_dir)).pending() == []
    assert daemon.answering()
    assert daemon.calls() == [*REFUSED_RESTART_CALLS, JOURNAL_CALL, *RESTART_CALLS]


def test_a_rollback_removes_a_file_that_did_not_exist_before(restart, daemon, stash_dir, tmp_path):
    dropin = tmp_path / "etc" / "systemd" / "system" / "docker.service.d" / "dockerlab-listener.conf"
    Stash(str(stash_dir)).save(str(dropin))
    Stash(str(stash_dir)).save(str(daemon.config))
    dropin.parent.mkdir(parents=True)
    dropin.write_text("[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd://\n")
    daemon.config.write_text('{"bogus": 1}\n')
    result = restart()
    assert result["restored_files"] == sorted([str(dropin), str(daemon.config)])
    assert not dropin.exists()
    assert result["daemon_reload"] is True


def test_a_daemon_that_never_answers_is_rolled_back_after_the_timeout(restart, configure, daemon):
    before = daemon.config.read_bytes()
    configure({"registry-mirrors": ["http://dockerlab-registry:5000"]})
    daemon.behave(hangs_with="registry-mirrors")
    started = time.monotonic()
    result = restart(timeout=1)
    assert 1 <= time.monotonic() - started < 5
    assert result["rolled_back"] is True
    assert re.fullmatch(
        re.escape(
            f"{UNIT} refused the new configuration and was rolled back to the previous one "
            f"({daemon.config}); it runs again. The daemon said: Unix socket {daemon.socket}: "
        )
        + r"(RemoteDisconnected|ConnectionResetError|BrokenPipeError): .+",
        result["msg"],
    )
    assert daemon.config.read_bytes() == before


def test_a_tls_listener_that_does_not_answer_is_rolled_back(restart, configure, daemon, tls_files, free_port):
    configure({"tlsverify": True})
    tls = {
        "port": free_port,
        "ca_cert": tls_files.ca,
        "cert": tls_files.client_cert,
        "key": tls_files.client_key,
    }
    result = restart(timeout=1, tls=tls)
    assert result["daemon_error"] == (
        f"TLS listener 127.0.0.1:{free_port}: ConnectionRefusedError: [Errno 111] Connection refused"
    )
    assert result["rolled_back"] is True
    assert "tlsverify" not in daemon.config.read_text()


def test_a_tls_listener_that_answers_with_a_client_certificate_succeeds(
    restart, daemon, tls_files, tls_ping_server
):
    tls = {
        "host": "localhost",
        "port": tls_ping_server(),
        "ca_cert": tls_files.ca,
        "cert": tls_files.client_cert,
        "key": tls_files.client_key,
    }
    result = restart(tls=tls)
    assert (result["changed"], result["rolled_back"]) == (True, False)


def test_a_failure_with_nothing_to_roll_back_to_says_so(restart, daemon, stash_dir):
    daemon.config.write_text('{"bogus": true}\n')
    result = restart()
    assert result["failed"] is True
    assert result["msg"] == (
        f"{UNIT} did not come back after the restart ({JOB_FAILED}), and there is no earlier "
        f"configuration to roll back to. The daemon said: {JOB_FAILED}; {refusal(daemon.config)}"
    )
    assert result["rolled_back"] is False
    assert daemon.calls() == [*REFUSED_RESTART_CALLS, JOURNAL_CALL]


def test_a_rollback_that_does_not_help_fails_and_keeps_the_stash(restart, daemon, stash_dir):
    daemon.config.write_text('{"bogus": "before"}\n')
    Stash(str(stash_dir)).save(str(daemon.config))
    daemon.config.write_text('{"bogus": "after", "oops": 1}\n')
    result = restart()
    assert result["failed"] is True
    assert result["msg"] == (
        f"{UNIT} refused the new configuration and was rolled back ({daemon.config}), but did not "
        f"come back with the previous one either ({JOB_FAILED}). The daemon said: {JOB_FAILED}; "
        f"{refusal(daemon.config, 'bogus, oops')}. Look at `journalctl -u {UNIT}`."
    )
    assert result["rolled_back"] is True
    assert daemon.config.read_text() == '{"bogus": "before"}\n'
    assert Stash(str(stash_dir)).pending() == [str(daemon.config)]


def test_a_failing_daemon_reload_is_reported_and_rolled_back(restart, daemon, stash_dir, tmp_path):
    dropin = tmp_path / "etc" / "systemd" / "system" / "docker.service.d" / "x.conf"
    Stash(str(stash_dir)).save(str(dropin))
    daemon.behave(reload_error="Failed to reload daemon: Access denied")
    result = restart()
    assert result["daemon_error"] == "systemctl daemon-reload failed: Failed to reload daemon: Access denied"
    assert result["rolled_back"] is True
    assert (
        "but did not come back with the previous one either (systemctl daemon-reload failed" in result["msg"]
    )
    assert f"systemctl restart {UNIT}" not in daemon.calls()


def test_a_plugin_that_does_not_answer_is_rolled_back_before_dockerd_hears_of_it(
    restart, configure, daemon, stash_dir
):
    # dockerd exits when a plugin it is told to use does not answer (at a
    # reload as at a start): nothing may reach it.
    before = daemon.config.read_bytes()
    configure({"authorization-plugins": ["dockerlab-test-nosuch"]})
    result = restart(mode="auto", daemon_json=str(daemon.config))
    assert result["failed"] is True
    assert result["msg"].startswith(
        f"{daemon.config} names an authorization plugin that does not answer (dockerlab-test-nosuch: neither "
        "/run/docker/plugins/dockerlab-test-nosuch.sock nor a spec file exists): dockerd would exit. "
        "Nothing was reloaded or restarted; the previous files were put back"
    )
    assert daemon.config.read_bytes() == before
    assert Stash(str(stash_dir)).pending() == []
    assert not [call for call in daemon.calls() if call.startswith(("systemctl restart", "systemctl reload"))]


def test_this_collections_silent_plugin_is_named_with_how_to_start_it(restart, configure, daemon):
    if os.path.exists("/run/docker/plugins/dockerlab-authz.sock"):
        pytest.skip("this machine runs dockerlab's plugin: it would answer")
    configure({"authorization-plugins": ["dockerlab-authz"]})
    result = restart(mode="auto", daemon_json=str(daemon.config))
    assert result["failed"] is True
    assert result["msg"].endswith(
        "dockerlab-authz is this collection's plugin: start it with `systemctl start dockerlab-authz.socket`,"
        " or run the role docker_access, which does."
    )
    assert not [call for call in daemon.calls() if call.startswith(("systemctl restart", "systemctl reload"))]


def test_silent_plugins_asks_each_plugin_on_its_socket(tmp_path, short_tmp):
    from ansible_collections.dockerlab.docker.plugins.module_utils._authz_server import Handler, UnixServer

    plugins = short_tmp / "plugins"
    plugins.mkdir()
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "byspec.spec").write_text("unix:///run/elsewhere.sock\n")
    server = UnixServer(str(plugins / "good.sock"), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # A socket nobody listens on any more.
        dead = socket.socket(socket.AF_UNIX)
        dead.bind(str(plugins / "dead.sock"))
        dead.close()
        found = silent_plugins(["good", "byspec", "dead", "gone"], str(plugins), (str(specs),))
    finally:
        server.shutdown()
        server.server_close()
    assert [line.split(":")[0] for line in found] == ["dead", "gone"]
    assert "Connection refused" in found[0]
    assert found[1] == f"gone: neither {plugins}/gone.sock nor a spec file exists"
    assert silent_plugins("not a list") == []


def test_only_if_pending_without_pending_changes_does_nothing(restart, daemon):
    result = restart(only_if_pending=True)
    assert (result["changed"], result["restarted"], result["downtime"]) == (False, False, 0.0)
    assert daemon.calls() == []


def test_only_if_pending_restarts_when_a_change_was_not_confirmed(restart, configure, daemon, stash_dir):
    configure({"debug": True})
    result = restart(only_if_pending=True)
    assert (result["changed"], result["restarted"]) == (True, True)
    assert daemon.calls() == [*RESTART_CALLS, PID_CALL]
    assert Stash(str(stash_dir)).pending() == []


def test_a_second_run_with_only_if_pending_reports_no_change(restart, configure, daemon):
    configure({"debug": True})
    assert restart(only_if_pending=True)["changed"] is True
    assert restart(only_if_pending=True)["changed"] is False
    assert daemon.calls() == [*RESTART_CALLS, PID_CALL]


def test_check_mode_reports_a_restart_and_runs_nothing(restart, configure, daemon, stash_dir):
    configure({"debug": True})
    result = restart(check_mode=True)
    assert (result["changed"], result["restarted"], result["downtime"]) == (True, True, 0.0)
    assert daemon.calls() == []
    assert Stash(str(stash_dir)).pending() == [str(daemon.config)]


def test_check_mode_with_only_if_pending_and_nothing_pending_reports_no_change(restart, daemon):
    assert restart(only_if_pending=True, check_mode=True)["changed"] is False
    assert daemon.calls() == []


@pytest.mark.parametrize("timeout", [0, -5])
def test_a_timeout_below_one_second_is_refused(restart, daemon, timeout):
    result = restart(timeout=timeout)
    assert result["msg"] == f"timeout must be at least 1 second, got {timeout}."
    assert daemon.calls() == []


def test_error_lines_picks_dockerds_refusal_from_the_journal():
    assert error_lines(REFUSED_JOURNAL) == [
        "unable to configure the Docker daemon with file /etc/docker/daemon.json: the following "
        "directives don't match any configuration option: bogus",
        "docker.service: Failed with result 'exit-code'.",
        "Failed to start docker.service - Docker Application Container Engine.",
    ]


def test_error_lines_ignores_warnings_that_mention_failures():
    assert not any("level=warning" in line for line in error_lines(REFUSED_JOURNAL))


def test_error_lines_picks_the_flag_and_file_conflict():
    assert error_lines(HOSTS_JOURNAL) == [
        "failed to start daemon: the following directives are specified both as a flag and in the "
        "configuration file: hosts: (from flag: [fd://], from file: [tcp://0.0.0.0:2375])"
    ]


def test_error_lines_picks_a_fatal_line():
    assert error_lines(FATAL_JOURNAL) == [
        'time="2024-05-14T09:30:01.000000000Z" level=fatal msg="Error starting daemon: error '
        'initializing graphdriver: driver not supported"'
    ]


def test_error_lines_without_errors_returns_the_last_lines_that_are_not_routine():
    journal = textwrap.dedent(
        """\
        time="2024-05-14T09:40:00Z" level=info msg="Starting up"
        docker.service: Main process exited, code=killed, status=9/KILL
        time="2024-05-14T09:40:01Z" level=info msg="Loading containers: start."
        """
    )
    assert error_lines(journal) == ["docker.service: Main process exited, code=killed, status=9/KILL"]


def test_error_lines_of_only_routine_lines_returns_the_last_ones():
    journal = "".join(f'time="T" level=info msg="line {n}"\n' for n in range(8))
    assert error_lines(journal, limit=2) == [
        'time="T" level=info msg="line 6"',
        'time="T" level=info msg="line 7"',
    ]


def test_error_lines_keeps_the_last_ones_up_to_the_limit():
    journal = "".join(f"failed attempt {n}\n" for n in range(10))
    assert error_lines(journal) == [f"failed attempt {n}" for n in range(5, 10)]


@pytest.mark.parametrize("journal", ["", "\n\n  \n"])
def test_error_lines_of_an_empty_journal_is_empty(journal):
    assert error_lines(journal) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/etc/systemd/system/docker.service.d/dockerlab-listener.conf", True),
        ("/etc/systemd/system/docker.service", True),
        ("/lib/systemd/system/docker.socket", True),
        ("/etc/docker/daemon.json", False),
        ("/etc/systemd/system/docker.service.d/notes.txt", False),
        ("/etc/docker/tls/server.conf", False),
    ],
)
def test_is_unit_file(path, expected):
    assert is_unit_file(path) is expected


def test_the_fake_systemctl_is_the_one_the_module_finds(daemon):
    assert Path(shutil.which("systemctl")).parent.name == "bin"
    assert Path(shutil.which("systemctl")).read_text().startswith(f"#!{sys.executable}")


def test_started_leaves_an_active_daemon_alone(restart, daemon):
    result = restart(state="started")
    assert (result["changed"], result["restarted"]) == (False, False)
    assert daemon.calls() == [f"systemctl is-active {UNIT}"]


@pytest.mark.parametrize("active", ["failed", "inactive", "activating"])
def test_started_resets_the_start_limit_and_starts_a_daemon_that_is_not_active(restart, daemon, active):
    # "failed" is what a unit shows after its start limit was hit (a daemon
    # killed several times): a plain `systemctl start` would be refused.
    daemon.behave(active=active)
    result = restart(state="started")
    assert (result["changed"], result["restarted"]) == (True, True)
    assert daemon.calls() == [f"systemctl is-active {UNIT}", *RESTART_CALLS, PID_CALL]
    assert result["downtime"] >= 0


def test_started_in_check_mode_only_reports(restart, daemon):
    daemon.behave(active="failed")
    result = restart(state="started", check_mode=True)
    assert (result["changed"], result["restarted"]) == (True, True)
    assert daemon.calls() == [f"systemctl is-active {UNIT}"]


def test_a_daemon_that_starts_without_its_bridge_is_rolled_back(restart, configure, daemon, stash_dir):
    daemon.behave(broken_with="userland-proxy")
    before = daemon.config.read_bytes()
    configure({"userland-proxy": False})
    result = restart()
    assert result["failed"] is True
    assert result["rolled_back"] is True
    assert "could not create bridge network" in result["daemon_error"]
    assert "read-only file system" in result["msg"]
    assert daemon.config.read_bytes() == before
    # The rollback's own restart is judged by what is logged after it only:
    # the first start's warning, a moment earlier, does not fail it again.
    assert "it runs again" in result["msg"]
    assert Stash(str(stash_dir)).pending() == []


def test_journal_lines_from_before_the_restart_are_not_held_against_it(restart, daemon):
    daemon.behave()
    (daemon.fake / "journal.txt").write_text(
        '1000000000.000001 labhost dockerd[1]: level=warning msg="could not create bridge network for id 1"\n'
    )
    result = restart()
    assert result["changed"] is True
    assert "failed" not in result


def test_a_daemon_that_lost_its_bridge_is_rolled_back(restart, configure, daemon, stash_dir, monkeypatch):
    # It had docker0 before the restart; after it, /_ping answers but
    # /networks/bridge does not, for longer than the grace period.
    monkeypatch.setattr(docker_daemon_restart, "BRIDGE_GRACE", 0.3)
    daemon.behave(has_bridge=True, loses_bridge_with="debug")
    (daemon.fake / "bridge").touch()
    before = daemon.config.read_bytes()
    configure({"debug": True})
    result = restart()
    assert result["failed"] is True
    assert result["rolled_back"] is True
    assert "default bridge network (docker0) did not come back" in result["msg"]
    assert "it runs again" in result["msg"]
    assert daemon.config.read_bytes() == before
    assert daemon.has_bridge()


def test_a_daemon_without_a_bridge_before_is_not_asked_for_one(restart, configure, daemon):
    # E.g. "bridge": "none" in daemon.json: no docker0 before, none after.
    assert not daemon.has_bridge()
    configure({"debug": True})
    result = restart()
    assert (result["changed"], result["rolled_back"]) == (True, False)
    assert "failed" not in result


# --------------------------------------------- the restarted fact and tls_listener


RESTARTED = {"dockerlab_daemon_restarted": True}


def test_a_restart_says_so_in_a_fact_and_waits_for_no_tls_listener_by_default(restart, configure, daemon):
    configure({"debug": True})
    result = restart()
    assert result["ansible_facts"] == RESTARTED
    # The unit is not installed (not in the search path): no listener of its own.
    assert result["tls_listener"] == ""


def test_a_refused_configuration_rolled_back_says_the_daemon_restarted(restart, configure, daemon):
    configure({"bogus": True})
    result = restart()
    assert (result["failed"], result["rolled_back"]) == (True, True)
    assert result["ansible_facts"] == RESTARTED


def test_a_failed_restart_with_nothing_to_roll_back_says_the_daemon_restarted(restart, daemon):
    daemon.config.write_text('{"bogus": true}\n')
    result = restart()
    assert (result["failed"], result["rolled_back"]) == (True, False)
    assert result["ansible_facts"] == RESTARTED


def test_a_rollback_that_does_not_help_says_the_daemon_restarted(restart, daemon, stash_dir):
    daemon.config.write_text('{"bogus": "before"}\n')
    Stash(str(stash_dir)).save(str(daemon.config))
    daemon.config.write_text('{"bogus": "after"}\n')
    result = restart()
    assert "did not come back with the previous one either" in result["msg"]
    assert result["ansible_facts"] == RESTARTED


def test_starting_a_daemon_that_was_not_active_says_it_restarted(restart, daemon):
    daemon.behave(active="failed")
    result = restart(state="started")
    assert result["restarted"] is True
    assert result["ansible_facts"] == RESTARTED


@pytest.mark.parametrize(
    ("args", "behaviour"),
    [
        ({"only_if_pending": True}, {}),
        ({"state": "started"}, {"active": "active"}),
    ],
    ids=["nothing-pending", "already-active"],
)
def test_no_restart_sets_no_fact(restart, daemon, args, behaviour):
    daemon.behave(**behaviour)
    result = restart(**args)
    assert result["restarted"] is False
    assert "ansible_facts" not in result
    assert result["tls_listener"] == ""


@pytest.mark.parametrize("args", [{}, {"state": "started"}], ids=["restarted", "started"])
def test_check_mode_sets_no_fact(restart, configure, daemon, args):
    configure({"debug": True})
    daemon.behave(active="failed")
    result = restart(check_mode=True, **args)
    assert (result["changed"], result["restarted"]) == (True, True)
    assert "ansible_facts" not in result
    assert result["tls_listener"] == ""


def test_the_tls_listener_given_is_the_one_reported(restart, daemon, tls_files, tls_ping_server):
    port = tls_ping_server()
    tls = {"host": "localhost", "port": port, "ca_cert": tls_files.ca}
    tls.update(cert=tls_files.client_cert, key=tls_files.client_key)
    result = restart(tls=tls)
    assert result["tls_listener"] == f"localhost:{port}"
    assert result["ansible_facts"] == RESTARTED


# ------------------------------------------------ the unit's own TLS listener

VENDOR_EXEC = "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"
# Debian 12's docker.io unit, as packaged (the lines that matter here).
VENDOR_UNIT = f"""\
[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=network-online.target docker.socket firewalld.service containerd.service
Requires=docker.socket

[Service]
Type=notify
EnvironmentFile=-/etc/default/docker
ExecStart={VENDOR_EXEC}
ExecReload=/bin/kill -s HUP $MAINPID
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""
BUNDLE_NAMES = ("ca.pem", "cert.pem", "key.pem")


@pytest.fixture
def unit(tmp_path, monkeypatch, run_module, tls_files):
    """UNIT installed in temporary unit directories (etc, then lib, as
    systemd searches them), where the module looks for it. ``listener(...)``
    writes its drop-in with the real docker_daemon_listener (into the
    stash ``stash_dir``, or a stash of its own: a drop-in written earlier);
    ``texts()`` is every file of the unit by path."""
    etc = tmp_path / "etc" / "systemd" / "system"
    lib = tmp_path / "lib" / "systemd" / "system"
    etc.mkdir(parents=True)
    lib.mkdir(parents=True)
    vendor = lib / UNIT
    vendor.write_text(VENDOR_UNIT)
    dirs = (str(etc), str(lib))
    monkeypatch.setattr(
        docker_daemon_restart,
        "effective_exec_start",
        lambda name, read: _systemd.effective_exec_start(name, read, dirs),
    )
    monkeypatch.setattr(
        docker_daemon_restart,
        "service_sockets",
        lambda name, read: _systemd.service_sockets(name, read, dirs),
    )
    monkeypatch.setattr(docker_daemon_restart, "unit_file", lambda name: _systemd.unit_file(name, dirs))
    # The test's TLS server plays dockerd on the listener's port: the
    # listener module must not take it for another program.
    monkeypatch.setattr(docker_daemon_listener, "listening", lambda ports: {str(p): [] for p in ports})
    monkeypatch.setattr(
        docker_daemon_restart, "unit_text", lambda name, read: _systemd.unit_text(name, read, dirs)
    )

    def listener(stash_dir=None, **args):
        base = {
            "unit": UNIT,
            "systemd_dir": str(etc),
            "vendor_unit_path": str(vendor),
            "stash_dir": str(stash_dir or tmp_path / "listener-stash"),
            "tls_ca_cert": tls_files.ca,
            "tls_cert": tls_files.server_cert,
            "tls_key": tls_files.server_key,
        }
        result = run_module(docker_daemon_listener, {**base, **args})
        assert "failed" not in result, result
        return result

    def texts():
        sockets = [_systemd.unit_file(SOCKET_UNIT, dirs)] if _systemd.unit_file(SOCKET_UNIT, dirs) else []
        return {
            path: read_text(path)
            for path in [_systemd.unit_file(UNIT, dirs), *_systemd.unit_dropins(UNIT, dirs), *sockets]
        }

    return SimpleNamespace(etc=etc, lib=lib, vendor=vendor, dirs=dirs, listener=listener, texts=texts)


def _bundle(directory, names=BUNDLE_NAMES):
    """The paths of a client bundle in ``directory``, faked: as read() gives them."""
    return {f"{directory}/{name}": f"-----BEGIN {name}-----\n" for name in names}


def _found(bundle, host, port):
    return {
        "host": host,
        "port": port,
        "ca_cert": f"{bundle}/ca.pem",
        "cert": f"{bundle}/cert.pem",
        "key": f"{bundle}/key.pem",
    }


BUNDLE = "/root/.docker"


def _fake_read(unit, *extra):
    """A read of the unit's files, a client bundle in BUNDLE and ``extra`` ({path: text})."""
    files = {**unit.texts(), **_bundle(BUNDLE)}
    for more in extra:
        files.update(more)
    return files.get


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("0.0.0.0", "127.0.0.1"),  # noqa: S104 - a listener's address, nothing binds here
        ("::", "127.0.0.1"),
        ("127.0.0.1", "127.0.0.1"),
        ("192.0.2.7", "192.0.2.7"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("fd00::7", "fd00::7"),
        ("docker.lab.example", "docker.lab.example"),
    ],
)
@pytest.mark.parametrize("held_by", ["auto", "dockerd"])
def test_the_units_tls_listener_as_docker_daemon_listener_writes_it(unit, address, host, held_by):
    written = unit.listener(mode="tls", address=address, port=2376, held_by=held_by)
    if written["held_by"] == "dockerd":
        assert f"-H {written['listen']} --tlsverify" in written["exec_start"]
    else:
        assert f"ListenStream={written['listen'][len('tcp://') :]}" in read_text(written["socket_path"])
    found = unit_tls_listener(UNIT, BUNDLE, "/etc/docker/daemon.json", _fake_read(unit))
    assert found == _found(BUNDLE, host, 2376)


def test_the_listeners_port_is_the_one_checked(unit):
    unit.listener(mode="tls", address="127.0.0.1", port=12376)
    assert unit_tls_listener(UNIT, BUNDLE, read=_fake_read(unit))["port"] == 12376


def test_the_vendor_unit_alone_has_no_tls_listener(unit):
    assert unit_tls_listener(UNIT, BUNDLE, read=_fake_read(unit)) is None


def test_an_insecure_listener_is_not_checked_with_tls(unit):
    unit.listener(mode="insecure", insecure_acknowledged=True, port=2375)
    assert "--tlsverify" not in next(text for path, text in unit.texts().items() if path.endswith(".conf"))
    assert unit_tls_listener(UNIT, BUNDLE, read=_fake_read(unit)) is None


def test_tlsverify_in_daemon_json_makes_a_plain_listener_a_tls_one(unit):
    # dockerd applies daemon.json's TLS settings to the listeners of its flags.
    unit.listener(mode="insecure", insecure_acknowledged=True, port=2375)
    daemon_json = "/srv/docker/daemon.json"
    read = _fake_read(unit, {daemon_json: '{"tlsverify": true}\n'})
    assert unit_tls_listener(UNIT, BUNDLE, daemon_json, read) == _found(BUNDLE, "127.0.0.1", 2375)
    read = _fake_read(unit, {daemon_json: '{"tls": true}\n'})  # without verification: not dockerlab's
    assert unit_tls_listener(UNIT, BUNDLE, daemon_json, read) is None


@pytest.mark.parametrize(
    "text",
    [None, "", '{"tlsverify": tru', "[]", '"tlsverify"', '{"tlsverify": false}'],
    ids=["missing", "empty", "invalid", "list", "string", "false"],
)
def test_a_daemon_json_that_says_nothing_usable_leaves_the_flags_to_decide(unit, text):
    unit.listener(mode="tls", address="127.0.0.1", port=2376)
    read = _fake_read(unit, {DEFAULT_PATH: text})
    assert unit_tls_listener(UNIT, BUNDLE, read=read) == _found(BUNDLE, "127.0.0.1", 2376)
    unit.listener(mode="insecure", insecure_acknowledged=True, port=2375)
    assert unit_tls_listener(UNIT, BUNDLE, read=_fake_read(unit, {DEFAULT_PATH: text})) is None


@pytest.mark.parametrize(
    "present",
    [(), ("ca.pem",), ("cert.pem", "key.pem"), ("ca.pem", "cert.pem"), ("ca.pem", "key.pem")],
    ids=["none", "ca-only", "no-ca", "no-key", "no-cert"],
)
def test_an_incomplete_bundle_checks_no_listener(unit, present):
    unit.listener(mode="tls", address="127.0.0.1", port=2376)
    files = {**unit.texts(), **_bundle("/home/student/.docker", present)}
    assert unit_tls_listener(UNIT, "/home/student/.docker", read=files.get) is None


@pytest.mark.parametrize("bundle", ["", None])
def test_no_bundle_checks_no_listener(unit, bundle):
    unit.listener(mode="tls", address="127.0.0.1", port=2376)
    asked = []
    read = _fake_read(unit)
    assert unit_tls_listener(UNIT, bundle, read=lambda path: asked.append(path) or read(path)) is None
    assert asked == []  # not even the unit is read


def test_the_bundle_is_the_one_named(unit):
    unit.listener(mode="tls", address="127.0.0.1", port=2376)
    files = {**unit.texts(), **_bundle("/etc/dockerlab/admin")}
    assert unit_tls_listener(UNIT, "/etc/dockerlab/admin", read=files.get) == _found(
        "/etc/dockerlab/admin", "127.0.0.1", 2376
    )
    assert unit_tls_listener(UNIT, BUNDLE, read=files.get) is None


def test_a_unit_that_is_not_installed_has_no_listener(unit):
    assert unit_tls_listener("dockerlab-no-such.service", BUNDLE, read=_fake_read(unit)) is None


@pytest.mark.parametrize(
    ("exec_start", "expected"),
    [
        # The first TCP listener with TLS, after the Unix ones.
        (
            "/usr/sbin/dockerd -H unix:///var/run/docker.sock -H tcp://10.0.0.5:2376 -H tcp://0.0.0.0:2377"
            " --tlsverify",
            ("10.0.0.5", 2376),
        ),
        ("/usr/sbin/dockerd -H fd:// --host=tcp://[::]:2376 --tlsverify", ("127.0.0.1", 2376)),
        ("/usr/sbin/dockerd -H fd:// -H=0.0.0.0:2376 --tlsverify", ("127.0.0.1", 2376)),
        # dockerd's own default port for a TCP host without one.
        ("/usr/sbin/dockerd -H tcp://127.0.0.1 --tlsverify", ("127.0.0.1", 2375)),
        ("/usr/sbin/dockerd -H tcp://:2376 --tlsverify", ("localhost", 2376)),
        ("/usr/sbin/dockerd -H tcp://127.0.0.1:docker --tlsverify", None),
        ("/usr/sbin/dockerd -H tcp://0.0.0.0:2376 --tls", None),
        ("/usr/sbin/dockerd -H tcp://0.0.0.0:2376 --tlsverify=false", None),
        ("/usr/sbin/dockerd -H fd:// -H unix:///run/other.sock --tlsverify", None),
    ],
    ids=["first-tcp", "ipv6-wildcard", "no-scheme", "no-port", "no-host", "named-port", "tls-only",
         "verify-false", "no-tcp"],
)  # fmt: skip
def test_the_listener_of_a_dropin_written_by_hand(unit, exec_start, expected):
    dropin = unit.etc / f"{UNIT}.d" / "50-mine.conf"
    dropin.parent.mkdir(parents=True)
    dropin.write_text(f"[Service]\nExecStart=\nExecStart={exec_start}\n")
    found = unit_tls_listener(UNIT, BUNDLE, read=_fake_read(unit))
    assert found == (_found(BUNDLE, *expected) if expected else None)


def test_a_later_dropin_that_drops_the_listener_wins(unit):
    unit.listener(mode="tls", address="127.0.0.1", port=2376)
    dropin = unit.etc / f"{UNIT}.d" / "zz-plain.conf"
    dropin.write_text(f"[Service]\nExecStart=\nExecStart={VENDOR_EXEC}\n")
    assert unit_tls_listener(UNIT, BUNDLE, read=_fake_read(unit)) is None


def test_the_files_are_read_from_disk_by_default(unit, tmp_path):
    unit.listener(mode="tls", address="0.0.0.0", port=2376)  # noqa: S104 - the listener's address
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name, text in _bundle(bundle).items():
        Path(name).write_text(text)
    daemon_json = tmp_path / "daemon.json"
    assert unit_tls_listener(UNIT, str(bundle), str(daemon_json)) == _found(bundle, "127.0.0.1", 2376)
    (bundle / "key.pem").unlink()
    assert unit_tls_listener(UNIT, str(bundle), str(daemon_json)) is None


# ------------------------------------ through the module: the unit's listener waited for


@pytest.fixture
def client_bundle(tmp_path, tls_files):
    """A client bundle as docker_access installs one (root's ~/.docker)."""
    bundle = tmp_path / "root" / ".docker"
    bundle.mkdir(parents=True)
    for name, source in (
        ("ca.pem", tls_files.ca),
        ("cert.pem", tls_files.client_cert),
        ("key.pem", tls_files.client_key),
    ):
        shutil.copy(source, bundle / name)
    return bundle


def test_the_units_tls_listener_is_waited_for_with_the_bundle(
    restart, daemon, unit, client_bundle, tls_ping_server, stash_dir
):
    port = tls_ping_server()
    # The listener's drop-in just written (pending in the stash): the one
    # the restart brings up is the one checked, after the reload.
    unit.listener(stash_dir=stash_dir, mode="tls", address="0.0.0.0", port=port)  # noqa: S104
    result = restart(tls_bundle=str(client_bundle))
    assert "failed" not in result, result
    assert (result["changed"], result["daemon_reload"], result["rolled_back"]) == (True, True, False)
    assert result["tls_listener"] == f"127.0.0.1:{port}"
    assert result["ansible_facts"] == RESTARTED
    assert Stash(str(stash_dir)).pending() == []


def test_a_units_tls_listener_that_does_not_answer_is_rolled_back(
    restart, daemon, unit, client_bundle, free_port, stash_dir
):
    dropin = unit.listener(
        stash_dir=stash_dir, mode="tls", address="127.0.0.1", port=free_port, held_by="dockerd"
    )["path"]
    result = restart(tls_bundle=str(client_bundle), timeout=1)
    assert result["failed"] is True
    assert result["daemon_error"].startswith(f"TLS listener 127.0.0.1:{free_port}: ConnectionRefusedError")
    assert result["tls_listener"] == f"127.0.0.1:{free_port}"
    assert (result["rolled_back"], result["restored_files"]) == (True, [dropin])
    assert not Path(dropin).exists()  # it did not exist before
    assert "it runs again" in result["msg"]
    assert result["ansible_facts"] == RESTARTED
    assert result["sockets"] == []


SOCKET_CYCLE = [
    f"systemctl stop {UNIT}",
    f"systemctl reset-failed {SOCKET_UNIT}",
    f"systemctl restart {SOCKET_UNIT}",
    f"systemctl is-active {UNIT}",
]


def _firewall(calls):
    return [call for call in calls if call.startswith(("iptables", "ip6tables"))]


def test_a_new_socket_unit_is_started_with_the_daemon_stopped_and_its_port_held(
    restart, daemon, unit, client_bundle, tls_files, tls_ping_server, stash_dir
):
    # The TLS listener the socket unit holds answers (a TLS server of the
    # test's own on its port): the daemon was stopped, the socket unit
    # restarted, the daemon started; new connections to the port were held
    # back meanwhile, and the rules are gone after.
    port = tls_ping_server()
    written = unit.listener(stash_dir=stash_dir, mode="tls", address="127.0.0.1", port=port)
    tls = {"host": "localhost", "port": port, "ca_cert": tls_files.ca}
    tls.update(cert=tls_files.client_cert, key=tls_files.client_key)
    result = restart(tls=tls, timeout=2)
    assert "failed" not in result, result
    assert result["sockets"] == [SOCKET_UNIT]
    assert result["held_ports"] == [port]
    calls = daemon.calls()
    units = [call for call in calls if call.startswith("systemctl")]
    assert units[units.index(f"systemctl stop {UNIT}") :][: len(SOCKET_CYCLE) + 1] == [
        *SOCKET_CYCLE,
        f"systemctl start {UNIT}",
    ]
    rule = " ".join(docker_daemon_restart.hold_rule(port))
    firewall = _firewall(calls)
    for tool in ("iptables", "ip6tables"):
        assert f"{tool} -I {rule}" in firewall
        assert f"{tool} -D {rule}" in firewall
        # Inserted after the daemon stopped: nothing was held while it served.
        assert calls.index(f"{tool} -I {rule}") < calls.index(f"systemctl stop {UNIT}")
        assert calls.index(f"{tool} -D {rule}") < calls.index(f"systemctl start {UNIT}")
        assert json.loads((daemon.fake / f"{tool}.rules").read_text()) == []
    assert written["held_by"] == "systemd"
    assert not Stash(str(stash_dir)).pending()


def test_a_socket_unit_refused_its_port_is_rolled_back_and_stopped(
    restart, daemon, unit, client_bundle, free_port, stash_dir
):
    # Another program holds the port: the socket unit does not start, the
    # daemon is not started with it; the files are put back, the socket
    # unit (its file gone) stopped, the daemon started as it was.
    written = unit.listener(stash_dir=stash_dir, mode="tls", address="127.0.0.1", port=free_port)
    daemon.behave(socket_refused=f"127.0.0.1:{free_port}")
    result = restart(tls_bundle=str(client_bundle), timeout=1)
    assert result["failed"] is True
    assert result["daemon_error"].startswith(
        f"{SOCKET_UNIT} did not start ({SOCKET_UNIT}: Failed to create listening socket "
        f"(127.0.0.1:{free_port}): Address already in use"
    ), result["daemon_error"]
    assert result["restored_files"] == sorted([written["path"], written["socket_path"]])
    assert not Path(written["socket_path"]).exists()
    assert "it runs again" in result["msg"]
    calls = daemon.calls()
    rollback = calls[calls.index(f"systemctl restart {SOCKET_UNIT}") + 1 :]
    assert f"systemctl stop {SOCKET_UNIT}" in rollback
    assert rollback.index(f"systemctl stop {SOCKET_UNIT}") < rollback.index(f"systemctl start {UNIT}")
    assert f"systemctl start {UNIT}" not in calls[: calls.index(f"systemctl restart {SOCKET_UNIT}")]
    for tool in ("iptables", "ip6tables"):
        assert json.loads((daemon.fake / f"{tool}.rules").read_text()) == []


def test_rules_an_interrupted_run_left_are_removed(
    restart, daemon, unit, stash_dir, tls_files, tls_ping_server
):
    # A run killed between holding the port and releasing it left its rule.
    port = tls_ping_server()
    left = docker_daemon_restart.hold_rule(port)
    other = ["INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"]
    (daemon.fake / "iptables.rules").write_text(json.dumps([left, other]))
    unit.listener(stash_dir=stash_dir, mode="tls", address="127.0.0.1", port=port)
    tls = {"host": "localhost", "port": port, "ca_cert": tls_files.ca}
    tls.update(cert=tls_files.client_cert, key=tls_files.client_key)
    assert "failed" not in restart(tls=tls, timeout=2)
    assert json.loads((daemon.fake / "iptables.rules").read_text()) == [other]


def test_a_socket_unit_whose_socket_settings_did_not_change_is_not_restarted(
    restart, daemon, unit, stash_dir, tmp_path
):
    # Only its header (the inputs' hash) differs: a restart of the daemon
    # alone keeps the socket listening.
    written = unit.listener(stash_dir=tmp_path / "earlier", mode="tls", address="127.0.0.1", port=2376)
    path = Path(written["socket_path"])
    Stash(str(stash_dir)).save(str(path))
    path.write_text(path.read_text().replace("# dockerlab-inputs: ", "# dockerlab-inputs: 0"))
    result = restart(tls_bundle="", timeout=2)
    assert "failed" not in result, result
    assert result["sockets"] == []
    assert f"systemctl restart {UNIT}" in daemon.calls()
    assert _firewall(daemon.calls()) == []


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/etc/systemd/system/dockerlab-listener.socket", "dockerlab-listener.socket"),
        ("/etc/systemd/system/docker.socket.d/tcp.conf", "docker.socket"),
        ("/etc/systemd/system/docker.service.d/dockerlab-listener.conf", None),
        ("/etc/docker/daemon.json", None),
        ("/srv/dockerlab-listener.socket", None),
    ],
)
def test_which_changed_files_are_socket_units(path, name):
    assert _systemd.socket_unit_name(path) == name


def test_held_rules_are_read_back_from_iptables_listing():
    listing = (
        "-P INPUT ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 2376 --tcp-flags FIN,SYN,RST,ACK SYN "
        f"-m comment --comment {docker_daemon_restart.HOLD_COMMENT} -j DROP\n"
        "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
    )
    assert docker_daemon_restart.held_rules(listing) == [
        [
            *("INPUT", "-p", "tcp", "-m", "tcp", "--dport", "2376", "--tcp-flags", "FIN,SYN,RST,ACK", "SYN"),
            *("-m", "comment", "--comment", docker_daemon_restart.HOLD_COMMENT, "-j", "DROP"),
        ]
    ]


def test_the_rollback_waits_for_the_unix_socket_only(
    restart, configure, daemon, unit, client_bundle, free_port
):
    # The listener was there before (not pending) and does not answer; the
    # rolled back daemon.json cannot make it answer: the socket is the proof.
    unit.listener(mode="tls", address="127.0.0.1", port=free_port)
    before = daemon.config.read_bytes()
    configure({"debug": True})
    result = restart(tls_bundle=str(client_bundle), timeout=1)
    assert result["failed"] is True
    assert result["daemon_error"].startswith(f"TLS listener 127.0.0.1:{free_port}:")
    assert result["rolled_back"] is True
    assert "it runs again" in result["msg"]
    assert "did not come back with the previous one either" not in result["msg"]
    assert daemon.config.read_bytes() == before


def test_the_tls_listener_given_wins_over_the_units(
    restart, daemon, unit, client_bundle, tls_files, tls_ping_server, free_port
):
    unit.listener(mode="tls", address="127.0.0.1", port=free_port)
    port = tls_ping_server()
    tls = {"host": "localhost", "port": port, "ca_cert": tls_files.ca}
    tls.update(cert=tls_files.client_cert, key=tls_files.client_key)
    result = restart(tls=tls, tls_bundle=str(client_bundle), timeout=1)
    assert "failed" not in result, result
    assert result["tls_listener"] == f"localhost:{port}"


@pytest.mark.parametrize("missing", [*BUNDLE_NAMES, "bundle"])
def test_without_a_complete_bundle_only_the_socket_is_waited_for(
    restart, daemon, unit, client_bundle, free_port, missing
):
    unit.listener(mode="tls", address="127.0.0.1", port=free_port)
    if missing == "bundle":
        shutil.rmtree(client_bundle)
    else:
        (client_bundle / missing).unlink()
    result = restart(tls_bundle=str(client_bundle), timeout=1)
    assert "failed" not in result, result
    assert result["tls_listener"] == ""
    assert result["ansible_facts"] == RESTARTED


def test_an_empty_tls_bundle_turns_the_check_of_the_units_listener_off(
    restart, daemon, unit, client_bundle, free_port
):
    unit.listener(mode="tls", address="127.0.0.1", port=free_port)
    assert restart(tls_bundle=str(client_bundle), timeout=1)["failed"] is True
    result = restart(tls_bundle="", timeout=1)
    assert "failed" not in result, result
    assert result["tls_listener"] == ""


def test_an_insecure_listener_is_not_waited_for_with_tls(restart, daemon, unit, client_bundle, free_port):
    unit.listener(mode="insecure", insecure_acknowledged=True, port=free_port)
    result = restart(tls_bundle=str(client_bundle), timeout=1)
    assert "failed" not in result, result
    assert result["tls_listener"] == ""


def test_the_default_bundle_is_roots(monkeypatch, restart, daemon):
    seen = []
    monkeypatch.setattr(
        docker_daemon_restart,
        "unit_tls_listener",
        lambda name, bundle: seen.append((name, bundle)),
    )
    assert restart()["tls_listener"] == ""
    assert seen == [(UNIT, "/root/.docker")]


def test_check_mode_looks_for_no_listener(monkeypatch, restart, configure, daemon):
    seen = []
    monkeypatch.setattr(docker_daemon_restart, "unit_tls_listener", lambda *args: seen.append(args))
    configure({"debug": True})
    assert restart(check_mode=True)["tls_listener"] == ""
    assert seen == []


# --- reload or restart (mode auto) ---------------------------------------------
# The stand-in's `systemctl reload` does what dockerd does on SIGHUP: the same
# process applies daemon.json (GET /info shows it) and logs "Reloaded
# configuration", or logs an error and keeps what it ran with.

RELOAD_CALLS = [PID_CALL, f"systemctl reload {UNIT}", JOURNAL_CALL, PID_CALL, PID_CALL]
MIRROR = "http://mirror.invalid:5000"


@pytest.fixture
def apply(run_module, daemon, stash_dir):
    """The module as the role's handler runs it: mode auto, the stand-in's daemon.json."""

    def run_apply(*, check_mode=False, **args):
        base = {
            "unit": UNIT,
            "socket": str(daemon.socket),
            "stash_dir": str(stash_dir),
            "timeout": 2,
            "daemon_json": str(daemon.config),
        }
        return run_module(docker_daemon_restart, {**base, **args}, check_mode=check_mode)

    return run_apply


def test_a_reloadable_change_is_reloaded_in_the_same_process(apply, configure, daemon, stash_dir):
    configure({"registry-mirrors": [MIRROR]})
    result = apply()
    assert "failed" not in result, result
    assert (result["changed"], result["reloaded"], result["restarted"]) == (True, True, False)
    assert result["applied"] == "reload"
    assert result["changed_keys"] == ["registry-mirrors"]
    assert result["reason"] == "dockerd 26.1 reloads every changed key (registry-mirrors) on SIGHUP"
    assert result["msg"] == f"Reloaded {UNIT}: {result['reason']}."
    assert result["pid"] == daemon.pid() == 4242
    assert daemon.calls() == RELOAD_CALLS
    assert daemon.documents()["/info"]["RegistryConfig"]["Mirrors"] == [f"{MIRROR}/"]
    assert Stash(str(stash_dir)).pending() == []
    # Containers and images are as they were: the roles need not read them again.
    assert "ansible_facts" not in result


def test_a_second_run_after_a_reload_has_nothing_to_apply(apply, configure, daemon):
    configure({"registry-mirrors": [MIRROR]})
    apply()
    result = apply(only_if_pending=True)
    assert (result["changed"], result["applied"]) == (False, "none")


@pytest.mark.parametrize(
    ("options", "fixed"),
    [
        ({"log-level": "warn"}, "log-level"),
        ({"userland-proxy": False}, "userland-proxy"),
        ({"registry-mirrors": [MIRROR], "log-level": "warn"}, "log-level"),
    ],
    ids=["log-level", "userland-proxy", "mirrors-and-log-level"],
)
def test_a_change_dockerd_applies_only_at_start_restarts(apply, configure, daemon, options, fixed):
    configure(options)
    result = apply()
    assert "failed" not in result, result
    assert (result["applied"], result["reloaded"], result["restarted"]) == ("restart", False, True)
    assert result["reason"] == f"dockerd 26.1 applies {fixed} only when it starts"
    assert result["changed_keys"] == sorted(options)
    assert result["msg"] == f"Restarted {UNIT}: {result['reason']}."
    assert f"systemctl reload {UNIT}" not in daemon.calls()
    assert result["pid"] == daemon.pid() == 4243
    assert result["ansible_facts"] == {"dockerlab_daemon_restarted": True}


def test_a_tls_file_changed_with_daemon_json_restarts(apply, configure, daemon, stash_dir, tmp_path):
    configure({"registry-mirrors": [MIRROR]})
    cert = tmp_path / "server-cert.pem"
    Stash(str(stash_dir)).save(str(cert))
    cert.write_text("a new certificate\n")
    result = apply()
    assert result["applied"] == "restart"
    assert result["reason"] == f"{cert} changed; dockerd reads it only when it starts"


def test_mode_restart_restarts_a_reloadable_change(apply, configure, daemon):
    configure({"registry-mirrors": [MIRROR]})
    result = apply(mode="restart")
    assert (result["applied"], result["reason"], result["restarted"]) == ("restart", "mode is restart", True)


def test_a_daemon_that_does_not_say_its_version_is_restarted(apply, configure, daemon):
    configure({"registry-mirrors": [MIRROR]})
    daemon.behave(version=None)
    result = apply()
    assert result["applied"] == "restart"
    assert result["reason"] == "the daemon did not say its version, so what it can reload is unknown"


def test_a_reload_the_daemon_refuses_is_rolled_back_with_a_reload(apply, configure, daemon, stash_dir):
    before = daemon.config.read_bytes()
    configure({"registry-mirrors": ["not a url"]})
    daemon.behave(reload_refuses_with="registry-mirrors")
    result = apply()
    assert result["failed"] is True
    assert result["msg"] == (
        f"{UNIT} refused to reload registry-mirrors and was rolled back ({daemon.config}): the previous "
        "settings were put back and reloaded; the daemon kept running. The daemon said: "
        f"{result['daemon_error']}"
    )
    assert result["daemon_error"].endswith(
        """msg="Error reconfiguring the daemon: invalid mirror: ['not a url']\""""
    )
    assert (result["rolled_back"], result["restored_files"]) == (True, [str(daemon.config)])
    assert daemon.config.read_bytes() == before
    assert Stash(str(stash_dir)).pending() == []
    assert f"systemctl restart {UNIT}" not in daemon.calls()
    assert result["pid"] == daemon.pid() == 4242


def test_a_reload_the_daemon_does_not_take_is_followed_by_a_restart(apply, configure, daemon, stash_dir):
    configure({"registry-mirrors": [MIRROR]})
    daemon.behave(reload_ignores=["registry-mirrors"])
    result = apply(timeout=1)
    assert "failed" not in result, result
    assert (result["applied"], result["reloaded"], result["restarted"]) == ("restart", False, True)
    assert result["reason"] == (
        "dockerd 26.1 reloads every changed key (registry-mirrors) on SIGHUP, but it did not take them "
        f"(registry-mirrors is [] in GET /info, not ['{MIRROR}']): restarting"
    )
    assert daemon.calls()[1] == f"systemctl reload {UNIT}"
    assert f"systemctl restart {UNIT}" in daemon.calls()
    assert daemon.documents()["/info"]["RegistryConfig"]["Mirrors"] == [f"{MIRROR}/"]
    assert Stash(str(stash_dir)).pending() == []


def test_a_key_info_does_not_show_is_confirmed_by_the_journal(apply, configure, daemon):
    configure({"max-concurrent-downloads": 6})
    result = apply()
    assert (result["applied"], result["reloaded"]) == ("reload", True)


def test_a_key_info_does_not_show_without_the_journal_line_restarts(apply, configure, daemon):
    configure({"max-concurrent-downloads": 6})
    daemon.behave(reload_logs_nothing=True)
    result = apply(timeout=1)
    assert result["applied"] == "restart"
    assert "dockerd logged no 'Reloaded configuration' for max-concurrent-downloads" in result["reason"]


def test_check_mode_says_it_would_reload_and_does_nothing(apply, configure, daemon, stash_dir):
    configure({"registry-mirrors": [MIRROR]})
    result = apply(check_mode=True)
    assert (result["changed"], result["reloaded"], result["restarted"], result["applied"]) == (
        True,
        True,
        False,
        "reload",
    )
    assert not [call for call in daemon.calls() if "reload" in call or "restart" in call]
    assert Stash(str(stash_dir)).pending() == [str(daemon.config)]


# The roles install TLS files with Ansible's copy, which the stash does not
# see: a TLS file the daemon loads at start, written after its main process
# started (here the test's own process stands for dockerd), restarts it.
@pytest.fixture
def tls_in_daemon_json(daemon, tmp_path):
    (daemon.fake / "pid.json").write_text(str(os.getpid()))
    cert = tmp_path / "server-cert.pem"
    daemon.config.write_text(json.dumps({"log-level": "info", "tlscert": str(cert)}) + "\n")
    return cert


def test_a_tls_file_written_since_the_daemon_started_restarts(apply, configure, daemon, tls_in_daemon_json):
    configure({"registry-mirrors": [MIRROR]})
    tls_in_daemon_json.write_text("a certificate installed after dockerd started\n")
    result = apply()
    assert result["applied"] == "restart"
    assert result["reason"] == f"{tls_in_daemon_json} changed; dockerd reads it only when it starts"


def test_a_tls_file_older_than_the_daemon_does_not_stop_a_reload(
    apply, configure, daemon, tls_in_daemon_json
):
    configure({"registry-mirrors": [MIRROR]})
    tls_in_daemon_json.write_text("a certificate dockerd loaded\n")
    old = docker_daemon_restart.process_started(os.getpid()) - 60
    os.utime(tls_in_daemon_json, (old, old))
    result = apply()
    assert result["applied"] == "reload"


def test_process_started_reads_proc(tmp_path):
    assert docker_daemon_restart.process_started(os.getpid()) <= time.time()
    assert docker_daemon_restart.process_started(os.getpid()) > time.time() - 24 * 3600 * 365
    proc = tmp_path / "proc"
    (proc / "7").mkdir(parents=True)
    # comm with a space and a parenthesis; starttime (field 22) 250 ticks after boot.
    fields = ["S"] + ["0"] * 18 + ["250"] + ["0"] * 10
    (proc / "7" / "stat").write_text("7 (docker d) " + " ".join(fields) + "\n")
    # Now: wall clock 1700000100.0, 100 s after boot; the process started 250 ticks after boot.
    started = docker_daemon_restart.process_started(7, str(proc), clocks=lambda: (1700000100.0, 100.0))
    assert started == pytest.approx(1700000000.0 + 250 / os.sysconf("SC_CLK_TCK"))
    assert docker_daemon_restart.process_started(8, str(proc)) is None


def test_process_started_is_finer_than_a_second():
    # A process started now is placed within a few ticks of now, not up to a
    # second earlier as /proc/stat's whole-second btime would place it.
    import subprocess

    child = subprocess.Popen(["sleep", "5"])
    try:
        now = time.time()
        started = docker_daemon_restart.process_started(child.pid)
        assert now - 0.5 < started <= now + 0.05
    finally:
        child.kill()
        child.wait()

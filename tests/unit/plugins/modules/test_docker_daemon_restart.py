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
"""

import json
import os
import re
import shutil
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._files import Stash
from ansible_collections.dockerlab.docker.plugins.modules import docker_daemon_config, docker_daemon_restart
from ansible_collections.dockerlab.docker.plugins.modules.docker_daemon_restart import (
    error_lines,
    is_unit_file,
)

UNIT = "dockerlab-test.service"  # never a real unit, should a real systemctl be reached

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

if args[0] == "show":
    print(behaviour.get("need_reload", "no"))
elif args[0] == "is-active":
    print(behaviour.get("active", "active"))
    sys.exit(0 if behaviour.get("active", "active") == "active" else 3)
elif args[0] == "daemon-reload":
    if behaviour.get("reload_error"):
        print(behaviour["reload_error"], file=sys.stderr)
        sys.exit(1)
elif args[0] == "restart":
    set_state("down")
    with open(behaviour["config"]) as handle:
        config = json.load(handle)
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

    def calls(self):
        log = self.fake / "calls.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def daemon(tmp_path, short_tmp, monkeypatch, unix_ping_server):
    bin_dir, fake = tmp_path / "bin", tmp_path / "fake"
    bin_dir.mkdir()
    fake.mkdir()
    for name, text in (("systemctl", FAKE_SYSTEMCTL), ("journalctl", FAKE_JOURNALCTL)):
        (bin_dir / name).write_text(text.format(python=sys.executable))
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKERLAB_FAKE", str(fake))
    assert shutil.which("systemctl") == str(bin_dir / "systemctl")
    config = tmp_path / "etc" / "docker" / "daemon.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"log-level": "info"}\n')
    state = FakeDaemon(fake, config, short_tmp / "docker.sock")
    unix_ping_server(state.socket, available=state.answering, bridge=state.has_bridge)
    return state


@pytest.fixture
def stash_dir(tmp_path):
    return tmp_path / "stash"


@pytest.fixture
def restart(run_module, daemon, stash_dir):
    def run_restart(*, check_mode=False, **args):
        base = {"unit": UNIT, "socket": str(daemon.socket), "stash_dir": str(stash_dir), "timeout": 2}
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
    assert daemon.calls() == RESTART_CALLS
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
    ]


def test_systemd_asking_for_a_reload_makes_it_reload(restart, daemon):
    daemon.behave(need_reload="yes")
    assert restart()["daemon_reload"] is True
    assert daemon.calls() == [RESTART_CALLS[0], "systemctl daemon-reload", *RESTART_CALLS[1:]]


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


def test_only_if_pending_without_pending_changes_does_nothing(restart, daemon):
    result = restart(only_if_pending=True)
    assert (result["changed"], result["restarted"], result["downtime"]) == (False, False, 0.0)
    assert daemon.calls() == []


def test_only_if_pending_restarts_when_a_change_was_not_confirmed(restart, configure, daemon, stash_dir):
    configure({"debug": True})
    result = restart(only_if_pending=True)
    assert (result["changed"], result["restarted"]) == (True, True)
    assert daemon.calls() == RESTART_CALLS
    assert Stash(str(stash_dir)).pending() == []


def test_a_second_run_with_only_if_pending_reports_no_change(restart, configure, daemon):
    configure({"debug": True})
    assert restart(only_if_pending=True)["changed"] is True
    assert restart(only_if_pending=True)["changed"] is False
    assert daemon.calls() == RESTART_CALLS


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
    assert daemon.calls() == [f"systemctl is-active {UNIT}", *RESTART_CALLS]
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

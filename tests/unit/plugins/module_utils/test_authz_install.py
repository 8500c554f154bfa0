"""plugins/module_utils/_authz_install: what docker_authz_plugin writes. The
program is the collection's own modules copied as they are, and it runs on
its own (a real python3 -I, without this collection on its path), answering
dockerd's protocol on a real Unix socket; the policy is refused when it is
not one; the hash changes with the program."""

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ansible_collections.dockerlab.docker.plugins.module_utils import _authz_install as install
from ansible_collections.dockerlab.docker.plugins.module_utils._api import (
    UnixHTTPConnection,
    authz_plugin_answers,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import plugin_socket, read_policy

ROOT = Path(__file__).resolve().parents[4]


def test_the_program_is_the_collections_own_modules_as_they_are():
    files = install.program_files()
    package = f"{install.LIB_DIR}/ansible_collections/dockerlab/docker/plugins/module_utils"
    assert sorted(files) == [
        f"{package}/{name}.py" for name in ("_api", "_authz", "_authz_config", "_authz_server", "_files")
    ]
    for path, text in files.items():
        assert text == (ROOT / "plugins" / "module_utils" / Path(path).name).read_text()


def test_the_plugin_is_where_dockerd_looks_for_its_name():
    assert (
        install.PLUGIN_SOCKET
        == plugin_socket("dockerlab-authz")
        == "/run/docker/plugins/dockerlab-authz.sock"
    )
    assert f"ListenStream={install.PLUGIN_SOCKET}\n" in install.socket_unit_text()
    assert "SocketMode=0600\n" in install.socket_unit_text()


def test_the_service_records_the_hash_and_runs_the_launcher_isolated():
    text = install.service_text(install.inputs_hash())
    assert text.splitlines()[0] == f"{install.INPUTS_MARK}{install.inputs_hash()}"
    exec_start = re.search(r"^ExecStart=(.*)$", text, re.M).group(1).split()
    assert exec_start[:3] == ["/usr/bin/python3", "-I", install.PROGRAM]
    assert exec_start[3:] == ["--policy", install.POLICY_FILE, "--owners", install.OWNERS_FILE]
    assert "Restart=always\n" in text


def test_the_role_reads_back_the_files_the_module_writes():
    variables = yaml.safe_load((ROOT / "roles" / "docker_access" / "vars" / "main.yml").read_text())
    assert variables["_docker_access_authz_files"] == [install.SERVICE_UNIT, install.POLICY_FILE]
    assert variables["_docker_access_authz_plugin"] == install.PLUGIN_NAME
    # The socket unit whose state the read reports, by name, as the request asks for it.
    socket_unit = os.path.basename(install.SOCKET_UNIT)
    assert variables["_docker_access_authz_socket"] == socket_unit
    assert variables["docker_access_host_read_request"]["units"] == [socket_unit]


@pytest.mark.parametrize(
    ("restricted", "revoked", "error"),
    [
        (["Alice"], [], "restricted user(s) Alice are not user names"),
        (["a b"], [], "restricted user(s) a b are not user names"),
        ([], ["x" * 40], "revoked user(s) " + "x" * 40 + " are not user names"),
        (["root"], [], "root cannot be restricted"),
        (["alice"], ["alice"], "user(s) alice are both restricted and revoked"),
    ],
)
def test_a_policy_that_is_not_one_is_refused_naming_the_users(restricted, revoked, error):
    errors = install.policy_errors(restricted, revoked)
    assert len(errors) == 1
    assert errors[0].startswith(error)


def test_a_good_policy_has_no_errors_and_a_stable_text():
    assert install.policy_errors(["alice", "bob_2"], ["carol"]) == []
    text = install.policy_text(["bob", "alice", "bob"], ["carol"])
    assert json.loads(text) == {"restricted": ["alice", "bob"], "revoked": ["carol"]}
    assert text == install.policy_text(["alice", "bob"], ["carol"])
    assert read_policy(text) == (["alice", "bob"], ["carol"])
    for wrong in ("{not json", "[]", '{"restricted": "alice"}', '{"revoked": [1]}'):
        assert read_policy(wrong) is None, wrong


def test_the_hash_changes_with_the_program(monkeypatch):
    before = install.inputs_hash()
    files = install.program_files()
    first = sorted(files)[0]
    monkeypatch.setattr(install, "program_files", lambda: {**files, first: files[first] + "# changed\n"})
    assert install.inputs_hash() != before


@pytest.fixture
def installed(tmp_path, short_tmp):
    """The program as docker_authz_plugin lays it out, under a directory of
    the test's own, started with python3 -I on a socket of the test's own."""
    lib = tmp_path / "lib"
    for path, text in install.program_files().items():
        target = lib / Path(path).relative_to(install.LIB_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    launcher = tmp_path / "dockerlab-authz"
    launcher.write_text(install.launcher_text().replace(repr(install.LIB_DIR), repr(str(lib))))
    policy = tmp_path / "policy.json"
    policy.write_text(install.policy_text(["alice"], ["carol"]))
    sock = str(short_tmp / "plugin.sock")
    args = [sys.executable, "-I", str(launcher), "--socket", sock, "--policy", str(policy)]
    args += ["--owners", str(tmp_path / "owners.json"), "--docker-socket", str(short_tmp / "none.sock")]
    # Nothing of this checkout may be on the program's path.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": "/nonexistent"}
    proc = subprocess.Popen(args, env=env, cwd=str(tmp_path), stderr=subprocess.PIPE, text=True)
    # Until it answers: its socket file exists from bind(), a moment before
    # listen(), and a connection then is refused.
    for _attempt in range(100):
        if proc.poll() is not None or (os.path.exists(sock) and authz_plugin_answers(sock, timeout=1)[0]):
            break
        time.sleep(0.05)
    yield proc, sock
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=5)


def _ask(sock, endpoint, body):
    conn = UnixHTTPConnection(sock, timeout=5)
    try:
        conn.request("POST", endpoint, body if isinstance(body, bytes) else json.dumps(body))
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def _req(user, method, uri, body=None):
    out = {"User": user, "RequestMethod": method, "RequestUri": uri}
    if body is not None:
        out["RequestBody"] = base64.b64encode(json.dumps(body).encode()).decode()
    return out


def test_the_installed_program_runs_on_its_own_and_answers_dockerd(installed):
    proc, sock = installed
    assert proc.poll() is None, proc.stderr.read()
    assert authz_plugin_answers(sock) == (True, "")
    privileged = _req("alice", "POST", "/v1.43/containers/create", {"HostConfig": {"Privileged": True}})
    answer = _ask(sock, "/AuthZPlugin.AuthZReq", privileged)
    assert answer["Allow"] is False
    assert "rule privileged" in answer["Msg"]
    assert (
        _ask(sock, "/AuthZPlugin.AuthZReq", _req("", "POST", "/v1.43/containers/create", {}))["Allow"] is True
    )
    assert _ask(sock, "/AuthZPlugin.AuthZReq", _req("carol", "GET", "/v1.43/_ping"))["Allow"] is False


def test_a_request_without_its_body_is_refused_whoever_sent_it(installed):
    # dockerd sends a call again, with an empty body, when the plugin died
    # while answering it: nobody's call may pass unjudged.
    _proc, sock = installed
    answer = _ask(sock, "/AuthZPlugin.AuthZReq", b"")
    assert answer["Allow"] is False
    assert "rule unreadable" in answer["Msg"]


def test_a_body_the_plugin_cannot_parse_is_refused_not_dropped(installed):
    _proc, sock = installed
    answer = _ask(sock, "/AuthZPlugin.AuthZReq", b"[" * 100000)
    assert answer["Allow"] is False
    assert "RecursionError" in answer["Msg"] or "rule unreadable" in answer["Msg"]


def test_sigterm_ends_the_program_after_the_answers_under_way(installed):
    proc, sock = installed
    assert authz_plugin_answers(sock)[0] is True
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_sigkill_of_the_main_process_cuts_no_call_a_worker_took(installed):
    # What systemd's MainPID is: a worker has taken a call (its headers
    # came, its body not yet) when the main process is killed; the worker
    # still answers it, then exits by itself.
    proc, sock = installed
    request = json.dumps(
        _req("alice", "POST", "/v1.43/containers/create", {"HostConfig": {"Privileged": True}})
    )
    conn = UnixHTTPConnection(sock, timeout=10)
    conn.putrequest("POST", "/AuthZPlugin.AuthZReq")
    conn.putheader("Content-Length", str(len(request)))
    conn.endheaders()
    time.sleep(0.3)  # a worker accepted it and reads the body
    proc.kill()
    proc.wait(timeout=5)
    conn.send(request.encode())
    answer = json.loads(conn.getresponse().read())
    conn.close()
    assert answer["Allow"] is False
    assert "rule privileged" in answer["Msg"]
    # The workers saw the main process go and closed; nothing answers now.
    for _attempt in range(50):
        if not authz_plugin_answers(sock, timeout=1)[0]:
            break
        time.sleep(0.1)
    assert authz_plugin_answers(sock, timeout=1)[0] is False

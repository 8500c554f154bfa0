"""plugins/module_utils/_authz_server: the plugin's HTTP server on a real Unix
socket, spoken to as dockerd speaks to it (moby's plugin protocol)."""

import base64
import json
import os
import threading

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils import _authz_server
from ansible_collections.dockerlab.docker.plugins.module_utils._api import UnixHTTPConnection
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_server import (
    Handler,
    Plugin,
    UnixServer,
)

APP_ID = "4f1d2c3b5a69" + "0" * 52


@pytest.fixture
def plugin(short_tmp, tmp_path):
    """The plugin answering on a socket of the test's own; ``ask(path, body)``
    posts as dockerd does. Containers resolve by name or id prefix to the ids
    in ``names``."""
    names = {"app": APP_ID, "4f1d": APP_ID, "bobs-app": "b" * 64}
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"restricted": ["alice", "bob"], "revoked": ["carol"]}))
    owners = tmp_path / "state" / "owners.json"
    path = str(short_tmp / "authz.sock")
    Handler.plugin = Plugin(str(policy), str(owners), names.get)
    server = UnixServer(path, Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def ask(endpoint, body):
        conn = UnixHTTPConnection(path, timeout=5)
        try:
            conn.request("POST", endpoint, json.dumps(body), {"Content-Type": _authz_server.CONTENT_TYPE})
            response = conn.getresponse()
            assert response.getheader("Content-Type") == _authz_server.CONTENT_TYPE
            return json.loads(response.read())
        finally:
            conn.close()

    yield ask, policy, owners, names
    server.shutdown()
    server.server_close()


def req(user, method, uri, body=None, **response):
    out = {"User": user, "UserAuthNMethod": "TLS", "RequestMethod": method, "RequestUri": uri, **response}
    if body is not None:
        out["RequestBody"] = base64.b64encode(json.dumps(body).encode()).decode()
    return out


def test_it_says_it_is_an_authorization_plugin(plugin):
    ask = plugin[0]
    assert ask("/Plugin.Activate", {}) == {"Implements": ["authz"]}


def test_a_created_container_is_its_creators_across_plugin_restarts(plugin):
    ask, policy, owners, names = plugin
    create = req("alice", "POST", "/v1.41/containers/create?name=app", {"Image": "x", "HostConfig": {}})
    assert ask("/AuthZPlugin.AuthZReq", create) == {"Allow": True}
    start = req("alice", "POST", "/v1.41/containers/app/start")
    assert ask("/AuthZPlugin.AuthZReq", start)["Allow"] is False  # not recorded yet
    created = {
        "ResponseStatusCode": 201,
        "ResponseBody": base64.b64encode(json.dumps({"Id": APP_ID}).encode()).decode(),
    }
    assert ask("/AuthZPlugin.AuthZRes", {**create, **created}) == {"Allow": True}
    assert ask("/AuthZPlugin.AuthZReq", start) == {"Allow": True}
    assert ask("/AuthZPlugin.AuthZReq", req("alice", "POST", "/v1.41/containers/4f1d/stop")) == {
        "Allow": True
    }
    # Bob may not touch it; a new plugin process (same files) remembers.
    refused = ask("/AuthZPlugin.AuthZReq", req("bob", "POST", "/v1.41/containers/app/stop"))
    assert refused == {"Allow": False, "Msg": "dockerlab policy, rule not-owner: container app is not yours"}
    Handler.plugin = Plugin(str(policy), str(owners), names.get)
    assert ask("/AuthZPlugin.AuthZReq", start) == {"Allow": True}
    assert json.loads(owners.read_text())["containers"] == {APP_ID: "alice"}
    assert oct(os.stat(owners.parent).st_mode & 0o777) == "0o700"


def test_an_exec_is_its_creators(plugin):
    ask, _policy, owners, _names = plugin
    owners.parent.mkdir()
    owners.write_text(json.dumps({"containers": {APP_ID: "alice"}}))
    exec_create = req("alice", "POST", "/v1.41/containers/app/exec", {"Cmd": ["id"]})
    assert ask("/AuthZPlugin.AuthZReq", exec_create) == {"Allow": True}
    made = {
        "ResponseStatusCode": 201,
        "ResponseBody": base64.b64encode(b'{"Id": "' + b"e" * 64 + b'"}').decode(),
    }
    ask("/AuthZPlugin.AuthZRes", {**exec_create, **made})
    start = f"/v1.41/exec/{'e' * 64}/start"
    assert ask("/AuthZPlugin.AuthZReq", req("alice", "POST", start, {"Detach": False})) == {"Allow": True}
    assert ask("/AuthZPlugin.AuthZReq", req("bob", "POST", start, {"Detach": False}))["Allow"] is False


def test_a_full_id_is_judged_without_asking_dockerd(tmp_path):
    # What the docker CLI sends after a create; names and prefixes are
    # resolved (the resolver stands for dockerd and records what it is asked).
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"restricted": ["alice", "bob"], "revoked": []}))
    owners = tmp_path / "owners.json"
    owners.write_text(json.dumps({"containers": {APP_ID: "alice"}}))
    asked = []
    plugin = Plugin(str(policy), str(owners), lambda ref: asked.append(ref) or APP_ID)
    start = f"/v1.43/containers/{APP_ID}/start"
    assert plugin.authz_request(req("alice", "POST", start)) == {"Allow": True}
    assert plugin.authz_request(req("bob", "POST", start))["Allow"] is False
    assert asked == []
    assert plugin.authz_request(req("alice", "POST", "/v1.43/containers/app/start")) == {"Allow": True}
    assert plugin.authz_request(req("alice", "POST", f"/v1.43/containers/{APP_ID[:12]}/start")) == {
        "Allow": True
    }
    assert asked == ["app", APP_ID[:12]]


def test_the_policy_file_is_read_again_when_it_changes(plugin):
    ask, policy, _owners, _names = plugin
    ping = req("alice", "GET", "/_ping")
    assert ask("/AuthZPlugin.AuthZReq", ping) == {"Allow": True}
    policy.write_text(json.dumps({"restricted": ["bob"], "revoked": ["alice"]}))
    os.utime(policy, ns=(1, 1))  # another modification time, however fast the test
    answer = ask("/AuthZPlugin.AuthZReq", ping)
    assert answer == {
        "Allow": False,
        "Msg": "dockerlab policy, rule revoked: the certificate of alice is no longer allowed",
    }


@pytest.mark.parametrize("damage", ["missing", "not-json"])
def test_without_a_readable_policy_only_root_on_the_unix_socket_is_allowed(plugin, damage):
    ask, policy, _owners, _names = plugin
    if damage == "missing":
        policy.unlink()
    else:
        policy.write_text("{restricted")
    assert ask(
        "/AuthZPlugin.AuthZReq",
        req("", "POST", "/v1.41/containers/create", {"HostConfig": {"Privileged": True}}),
    ) == {"Allow": True}
    refused = ask("/AuthZPlugin.AuthZReq", req("student", "GET", "/_ping"))
    assert refused["Allow"] is False
    assert "rule policy-unreadable" in refused["Msg"]


def test_a_request_it_cannot_read_is_refused(plugin):
    ask = plugin[0]
    assert ask("/AuthZPlugin.AuthZReq", ["not", "an", "object"])["Allow"] is False


def test_a_container_is_resolved_through_the_engine_api(unix_ping_server, short_tmp):
    # A stand-in dockerd on a Unix socket answers GET /containers/REF/json for a name.
    path = short_tmp / "docker.sock"
    unix_ping_server(path, documents=lambda: {"/containers/app/json": {"Id": APP_ID, "Name": "/app"}})
    resolve = _authz_server.docker_resolver(str(path))
    assert resolve("app") == APP_ID
    assert resolve("bobs-app") is None  # 404
    assert _authz_server.docker_resolver(str(short_tmp / "no-daemon.sock"))("app") is None

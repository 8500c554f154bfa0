"""plugins/module_utils/_authz: the policy for restricted users, on AuthZReq
objects as dockerd sends them (RequestBody base64-encoded JSON)."""

import base64
import json

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._authz import (
    DEFAULT_CAPABILITIES,
    capability,
    created_id,
    decide,
    split_uri,
)

ALICE, BOB = "alice", "bob"
RESTRICTED = {ALICE, BOB}
MINE = {"flaskapp-alice", "4f1d2c3b5a69"}


def request(method, uri, body=None, user=ALICE, raw=None):
    req = {"User": user, "UserAuthNMethod": "TLS" if user else "", "RequestMethod": method, "RequestUri": uri}
    if body is not None:
        raw = json.dumps(body).encode()
    if raw is not None:
        req["RequestBody"] = base64.b64encode(raw).decode()
    return req


def owns(ref):
    return ref in MINE or any(full.startswith(ref) for full in MINE if len(ref) >= 4)


def verdict(req, revoked=()):
    return decide(req, RESTRICTED, revoked, owns_container=owns, owns_exec=lambda id_: id_ == "e" * 64)


def create(host_config=None, **config):
    """A /containers/create body as the docker CLI sends it, with HostConfig changes."""
    return {
        "Image": "digitalocean/flask-helloworld",
        "ExposedPorts": {"5000/tcp": {}},
        **config,
        "HostConfig": {
            "PortBindings": {"5000/tcp": [{"HostIp": "", "HostPort": "1337"}]},
            "NetworkMode": "default",
            "RestartPolicy": {"Name": "no"},
            **(host_config or {}),
        },
    }


CREATE = "/v1.41/containers/create?name=flaskapp-alice"


# --- who the policy is for --------------------------------------------------------------


@pytest.mark.parametrize("user", ["", "root", "student"])
def test_unrestricted_users_and_the_unix_socket_are_allowed_everything(user):
    assert verdict(request("POST", CREATE, create({"Privileged": True}), user=user)).allow is True


def test_a_revoked_user_is_refused_everything_even_a_ping():
    decision = verdict(request("GET", "/_ping", user="carol"), revoked={"carol"})
    assert decision.allow is False
    assert decision.msg == "dockerlab policy, rule revoked: the certificate of carol is no longer allowed"
    assert decision.answer() == {"Allow": False, "Msg": decision.msg}


# --- the walkthrough ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "uri", "body"),
    [
        ("HEAD", "/_ping", None),
        ("GET", "/v1.41/version", None),
        ("POST", "/v1.41/images/create?fromImage=digitalocean%2Fflask-helloworld&tag=latest", None),
        ("GET", "/v1.41/images/json", None),
        ("POST", CREATE, create()),
        ("POST", "/v1.41/containers/flaskapp-alice/start", None),
        ("GET", "/v1.41/containers/json?all=1", None),
        ("GET", "/v1.41/containers/4f1d2c3b5a69/json", None),
        ("POST", "/v1.41/containers/4f1d/stop", None),
        ("DELETE", "/v1.41/containers/flaskapp-alice?force=1", None),
        ("POST", "/v1.41/containers/flaskapp-alice/exec", {"Cmd": ["id"], "AttachStdout": True}),
        ("POST", f"/v1.41/exec/{'e' * 64}/start", {"Detach": False}),
        ("POST", "/v1.41/volumes/create", {"Name": "data", "Driver": "local", "DriverOpts": {}}),
        ("POST", CREATE, create({"Binds": ["data:/data"], "CapAdd": ["NET_BIND_SERVICE", "cap_chown"]})),
        ("POST", CREATE, create({"Mounts": [{"Type": "tmpfs", "Target": "/run/scratch"}]})),
        ("POST", CREATE, create({"NetworkMode": "container:flaskapp-alice"})),
        ("POST", CREATE, create({"SecurityOpt": ["no-new-privileges=true"]})),
    ],
)
def test_the_walkthrough_and_a_users_own_containers_are_allowed(method, uri, body):
    decision = verdict(request(method, uri, body))
    assert decision.allow is True, decision


# --- the ways out, each refused with its rule ----------------------------------------------


@pytest.mark.parametrize(
    ("host_config", "rule", "words"),
    [
        ({"Privileged": True}, "privileged", "privileged containers are not allowed"),
        ({"Binds": ["/:/host"]}, "host-path", "(/)"),
        ({"Binds": ["/var/run/docker.sock:/var/run/docker.sock:ro"]}, "host-path", "/var/run/docker.sock"),
        ({"Mounts": [{"Type": "bind", "Source": "/etc", "Target": "/x"}]}, "host-path", "(/etc)"),
        (
            {
                "Mounts": [
                    {
                        "Type": "volume",
                        "Source": "v",
                        "Target": "/x",
                        "VolumeOptions": {
                            "DriverConfig": {"Name": "local", "Options": {"o": "bind", "device": "/"}}
                        },
                    }
                ]
            },
            "host-path",
            "driver options",
        ),
        ({"Mounts": [{"Type": "npipe", "Source": "x", "Target": "/x"}]}, "host-path", "type npipe"),
        ({"VolumeDriver": "sshfs"}, "volume-driver", "sshfs"),
        ({"CapAdd": ["SYS_ADMIN"]}, "capabilities", "(SYS_ADMIN)"),
        ({"CapAdd": ["ALL"]}, "capabilities", "(ALL)"),
        ({"CapAdd": ["cap_sys_ptrace", "CHOWN"]}, "capabilities", "(SYS_PTRACE)"),
        ({"PidMode": "host"}, "host-namespace", "PID namespace is not allowed (PidMode=host)"),
        ({"IpcMode": "host"}, "host-namespace", "IPC"),
        ({"UTSMode": "host"}, "host-namespace", "UTS"),
        ({"NetworkMode": "host"}, "host-namespace", "network"),
        ({"UsernsMode": "host"}, "host-namespace", "user"),
        ({"PidMode": "container:bobs-app"}, "not-owner", "PID namespace of a container that is not yours"),
        (
            {"VolumesFrom": ["bobs-app:ro"]},
            "not-owner",
            "volumes of a container that is not yours (bobs-app)",
        ),
        ({"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]}, "devices", "Devices"),
        ({"DeviceCgroupRules": ["b 8:* rmw"]}, "devices", "DeviceCgroupRules"),
        ({"DeviceRequests": [{"Driver": "nvidia", "Count": -1}]}, "devices", "DeviceRequests"),
        ({"CgroupParent": "/"}, "cgroup-parent", "(/)"),
        ({"SecurityOpt": ["seccomp=unconfined"]}, "seccomp", "seccomp=unconfined"),
        (
            {"SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']},
            "seccomp",
            "other than Docker's default",
        ),
        ({"SecurityOpt": ["apparmor=unconfined"]}, "apparmor", "apparmor=unconfined"),
        ({"SecurityOpt": ["apparmor:unconfined"]}, "apparmor", "apparmor=unconfined"),
        ({"SecurityOpt": ["label=disable"]}, "selinux", "label=disable"),
        ({"SecurityOpt": ["no-new-privileges=false"]}, "no-new-privileges", "turned off"),
        ({"SecurityOpt": ["systempaths=unconfined"]}, "masked-paths", "systempaths=unconfined"),
        ({"MaskedPaths": []}, "masked-paths", "MaskedPaths"),
        ({"Runtime": "runsc-unsafe"}, "runtime", "runsc-unsafe"),
    ],
)
def test_each_way_out_of_a_container_is_refused_naming_its_rule(host_config, rule, words):
    decision = verdict(request("POST", CREATE, create(host_config)))
    assert decision.allow is False
    assert decision.rule == rule, decision
    assert decision.msg.startswith(f"dockerlab policy, rule {rule}: "), decision
    assert words in decision.msg, decision


@pytest.mark.parametrize(
    ("method", "uri", "body", "rule"),
    [
        ("POST", "/v1.41/containers/flaskapp-alice/exec", {"Cmd": ["sh"], "Privileged": True}, "privileged"),
        (
            "POST",
            "/v1.41/volumes/create",
            {"Name": "h", "DriverOpts": {"type": "none", "o": "bind"}},
            "host-path",
        ),
        ("POST", "/v1.41/volumes/create", {"Name": "h", "Driver": "vieux/sshfs"}, "volume-driver"),
        ("POST", "/v1.41/networks/create", {"Name": "n", "Driver": "macvlan"}, "network-driver"),
        ("POST", "/v1.41/plugins/pull?remote=vieux/sshfs", [], "cluster"),
        ("POST", "/v1.41/plugins/sshfs/enable", None, "cluster"),
        ("DELETE", "/v1.41/plugins/sshfs", None, "cluster"),
        ("POST", "/v1.41/swarm/init", {"ListenAddr": "eth0"}, "cluster"),
        ("POST", "/v1.41/nodes/abc/update?version=1", {}, "cluster"),
        (
            "POST",
            "/v1.41/containers/flaskapp-alice/update",
            {"Devices": [{"PathOnHost": "/dev/sda"}]},
            "devices",
        ),
        ("POST", "/v1.41/containers/flaskapp-alice/update", {"CgroupParent": "/"}, "cgroup-parent"),
        ("POST", "/v1.41/containers/prune", None, "prune"),
        ("POST", "/v1.41/build?networkmode=host", None, "unknown"),
        ("POST", "/session", None, "unknown"),
    ],
)
def test_other_ways_out_are_refused(method, uri, body, rule):
    decision = verdict(request(method, uri, body))
    assert (decision.allow, decision.rule) == (False, rule), decision


@pytest.mark.parametrize(
    ("method", "uri"),
    [
        ("POST", "/v1.41/containers/bobs-app/stop"),
        ("POST", "/v1.41/containers/bobs-app/kill"),
        ("DELETE", "/v1.41/containers/bobs-app?force=1"),
        ("GET", "/v1.41/containers/bobs-app/logs?stdout=1"),
        ("PUT", "/v1.41/containers/bobs-app/archive?path=/"),
        ("POST", "/v1.41/commit?container=bobs-app"),
        ("POST", f"/v1.41/exec/{'f' * 64}/start"),
    ],
)
def test_another_users_containers_and_execs_are_not_yours(method, uri):
    decision = verdict(request(method, uri, {} if method != "GET" else None))
    assert (decision.allow, decision.rule) == (False, "not-owner"), decision


@pytest.mark.parametrize(
    ("body", "allow"),
    [
        ({}, True),
        ({"Privileged": True}, False),
        ({"Binds": ["/:/host"]}, False),
        ({"PidMode": "host"}, False),
    ],
)
def test_a_host_config_sent_with_a_start_is_judged_as_a_creates(body, allow):
    # API versions before 1.24 take a HostConfig at start (dockerd 20.10 applies it).
    decision = verdict(request("POST", "/v1.23/containers/flaskapp-alice/start", body))
    assert decision.allow is allow, decision


def test_an_exec_into_another_users_container_is_refused():
    decision = verdict(request("POST", "/v1.41/containers/bobs-app/exec", {"Cmd": ["sh"]}))
    assert decision.msg == "dockerlab policy, rule not-owner: container bobs-app is not yours"


# --- what the policy does not understand is refused ----------------------------------------


@pytest.mark.parametrize(
    ("body", "raw"),
    [(None, None), (None, b"Image=x"), (["not", "an", "object"], None), ({"HostConfig": "x"}, None)],
)
def test_a_create_the_policy_cannot_read_is_refused(body, raw):
    decision = verdict(request("POST", CREATE, body, raw=raw))
    assert (decision.allow, decision.rule) == (False, "unreadable"), decision


def test_an_endpoint_the_policy_does_not_know_is_refused():
    decision = verdict(request("POST", "/v1.41/images/flask/push"))
    assert (
        decision.msg == "dockerlab policy, rule unknown: POST /images/flask/push is not one the policy knows"
    )


# --- pieces ---------------------------------------------------------------------------------


def test_the_api_version_prefix_and_escapes_are_taken_off_the_path():
    assert split_uri("/v1.41/containers/a%2Fb/json?all=1&x=2") == (
        "/containers/a/b/json",
        {"all": ["1"], "x": ["2"]},
    )
    assert split_uri("/_ping") == ("/_ping", {})
    assert split_uri("") == ("/", {})


def test_capability_names_compare_as_docker_compares_them():
    assert capability("cap_net_admin") == "NET_ADMIN"
    assert capability("Chown") in DEFAULT_CAPABILITIES
    assert len(DEFAULT_CAPABILITIES) == 14


def test_the_created_id_comes_from_a_successful_response_only():
    ok = {
        "ResponseStatusCode": 201,
        "ResponseBody": base64.b64encode(b'{"Id": "abc", "Warnings": []}').decode(),
    }
    assert created_id(ok) == "abc"
    assert created_id({**ok, "ResponseStatusCode": 409}) is None
    assert created_id({"ResponseStatusCode": 201}) is None
    assert created_id({**ok, "ResponseBody": base64.b64encode(b"not json").decode()}) is None

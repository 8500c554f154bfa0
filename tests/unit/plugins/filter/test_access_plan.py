"""plugins/filter/access_plan: what docker_access has to do on a host,
decided on the controller from docker_host_facts' read and the controller's
PKI. A converged host has nothing to do; each difference access.yml acts on,
alone, makes ``todo`` true and shows in its own field. The PKI is generated
for the session with cryptography (nothing committed); the listener's hash
is plugins/module_utils/_listener's, and the drop-in that
docker_daemon_listener writes, as docker_host_facts reads it back, is what
the plan calls current."""

import copy
import datetime
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.dockerlab.docker.plugins.filter import access_plan
from ansible_collections.dockerlab.docker.plugins.module_utils import _systemd
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_install import (
    PLUGIN_NAME,
    POLICY_FILE,
    SERVICE_UNIT,
    SOCKET_UNIT,
    policy_sha256,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_install import (
    inputs_hash as authz_inputs_hash,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import inputs_hash, tcp_port
from ansible_collections.dockerlab.docker.plugins.modules import docker_daemon_listener, docker_host_facts
from ansible_collections.dockerlab.docker.plugins.plugin_utils import _pki
from ansible_collections.dockerlab.docker.plugins.plugin_utils._pki import certs_revoked
from ansible_collections.dockerlab.docker.tests.unit import x509_certs

plan = access_plan.access_plan
# The plugin's socket unit, by name (the host read reports units by name).
AUTHZ_SOCKET = os.path.basename(SOCKET_UNIT)

HOST = "lab1"
TLS_DIR = "/etc/docker/tls"
DROPIN = "/etc/systemd/system/docker.service.d/dockerlab-listener.conf"
SOCKET_UNIT = "/etc/systemd/system/dockerlab-listener.socket"
PROFILE = "/etc/profile.d/dockerlab-docker-host.sh"
UNIT = {
    "file": "/lib/systemd/system/docker.service",
    "exec_start": "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
    "dropins_setting_exec_start": [DROPIN],
}
SANS = ["DNS:lab1", "DNS:localhost", "IP:127.0.0.1", "IP:::1", "DNS:lab1.example", "IP:10.0.0.5"]
BUNDLE_FILES = [
    {"name": "ca.pem", "mode": "0444"},
    {"name": "cert.pem", "mode": "0444"},
    {"name": "key.pem", "mode": "0400"},
]
HOMES = {"root": (0, "/root"), "student": (1000, "/home/student")}
NOW = datetime.datetime.now(datetime.UTC)


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _issue(subject, ca, ca_key, sans=()):
    """PEM certificate and key of a new EC key issued by ``ca``."""
    key = x509_certs.ec_key()
    cert = x509_certs.certificate(subject, key, ca.subject, ca_key, now=NOW, sans=sans)
    return x509_certs.pem(cert), x509_certs.key_pem(key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The controller's PKI directory as docker_access leaves it."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key = x509_certs.ec_key()
    name = x509_certs.name("dockerlab CA")
    ca = x509_certs.certificate("dockerlab CA", ca_key, name, ca_key, now=NOW, ca=True, days=3650)
    ca_pem = x509_certs.pem(ca)
    _write(directory / "ca.pem", ca_pem)
    _write(directory / "ca-key.pem", x509_certs.key_pem(ca_key))
    cert, key = _issue(HOST, ca, ca_key, SANS)
    _write(directory / "hosts" / HOST / "server-cert.pem", cert)
    _write(directory / "hosts" / HOST / "server-key.pem", key)
    for user in HOMES:
        cert, key = _issue(user, ca, ca_key)
        _write(directory / "users" / user / "cert.pem", cert)
        _write(directory / "users" / user / "key.pem", key)
        _write(directory / "users" / user / "ca.pem", ca_pem)
    return directory


@pytest.fixture
def own_pki(pki, tmp_path):
    """A copy of the PKI this test may break."""
    return Path(shutil.copytree(pki, tmp_path / "pki"))


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _file(mode, uid=0, src=None):
    state = {"exists": True, "mode": mode, "uid": uid, "gid": uid}
    if src:
        state["sha256"] = _sha256(src)
    return state


def _variables(pki, **changes):
    return {
        "host": HOST,
        "dropin": DROPIN,
        "socket_unit": SOCKET_UNIT,
        "docker_access_tcp_held_by": "auto",
        "docker_access_tcp_port": None,
        "bundle_users": ["student", "root"],
        "bundle_files": BUNDLE_FILES,
        "docker_access_tcp": "tls",
        "docker_access_tcp_address": "0.0.0.0",  # noqa: S104 - a value compared, not a server
        "docker_access_tls_dir": TLS_DIR,
        "docker_access_pki_dir": str(pki),
        "docker_access_users": ["student"],
        "docker_access_exclusive": False,
        "docker_access_extra_sans": [],
        "docker_access_cert_renew_days": 30,
        "profile": PROFILE,
        "revoked": [],
        "docker_access_restricted_users": [],
        "docker_access_authz": True,
        "authz_plugin": PLUGIN_NAME,
        "authz_files": [SERVICE_UNIT, POLICY_FILE],
        "authz_socket": AUTHZ_SOCKET,
        **changes,
    }


def _inputs(address="0.0.0.0", held="systemd"):  # noqa: S104 - a value compared, not a server
    """The inputs' hash docker_daemon_listener records for the TLS listener on ``address``, port 2376."""
    tls_files = (f"{TLS_DIR}/ca.pem", f"{TLS_DIR}/server-cert.pem", f"{TLS_DIR}/server-key.pem")
    return inputs_hash("tls", address, 2376, *tls_files, UNIT["file"], UNIT["exec_start"], held)


def _converged(pki):
    """docker_host_facts' read of a host that docker_access converged."""
    host_dir = pki / "hosts" / HOST
    users = {}
    for user, (uid, home) in HOMES.items():
        files = {".docker": {"exists": True, "mode": "0700", "uid": uid, "gid": uid}}
        for item in BUNDLE_FILES:
            files[f".docker/{item['name']}"] = _file(item["mode"], uid, pki / "users" / user / item["name"])
        users[user] = {"uid": uid, "gid": uid, "home": home, "files": files}
    inputs = _inputs()
    return {
        "group": {"exists": True, "members": ["student"]},
        "users": users,
        "files": {
            TLS_DIR: {"exists": True, "mode": "0755", "uid": 0, "gid": 0},
            f"{TLS_DIR}/ca.pem": _file("0444", src=pki / "ca.pem"),
            f"{TLS_DIR}/server-cert.pem": _file("0444", src=host_dir / "server-cert.pem"),
            f"{TLS_DIR}/server-key.pem": _file("0400", src=host_dir / "server-key.pem"),
            DROPIN: {"exists": True, "inputs": inputs, "mode": "0644", "uid": 0, "gid": 0},
            SOCKET_UNIT: {"exists": True, "inputs": inputs, "mode": "0644", "uid": 0, "gid": 0},
        },
        "unit": copy.deepcopy(UNIT),
        "fqdn": "lab1.example",
        "ipv4": ["10.0.0.5"],
        "ipv6": [],
    }


def test_a_converged_host_has_nothing_to_do(pki):
    result = plan(_converged(pki), _variables(pki))
    assert result == {
        "group_differs": False,
        "ca_missing": False,
        "sans": SANS,
        "own_clients_to_issue": [],
        "server_status": "ok",
        "tls_stale": [],
        "listener_current": True,
        "restricted": [],
        "revoked": [],
        "authz_wanted": False,
        "authz_current": True,
        "authz_plugins": [],
        "authz_named": False,
        "group_remove": [],
        "profile_text": None,
        "profile_current": True,
        "revoked_bundles": [],
        "todo": False,
    }


def test_the_listener_hash_is_the_one_the_module_writes(pki):
    # _converged's drop-in carries docker_daemon_listener's own inputs_hash.
    assert plan(_converged(pki), _variables(pki))["listener_current"] is True
    facts = _converged(pki)
    facts["unit"]["exec_start"] += " --debug"  # the vendor unit changed: rewrite the drop-in
    assert plan(facts, _variables(pki))["listener_current"] is False


@pytest.mark.parametrize(
    ("address", "port"),
    [("0.0.0.0", None), ("127.0.0.1", 2377), ("::", "2378")],  # noqa: S104 - values, not servers
)
def test_what_docker_daemon_listener_writes_is_what_the_plan_calls_current(
    pki, run_module, tmp_path, monkeypatch, address, port
):
    # The module writes the drop-in for a vendor unit in a systemd search
    # path of the test's own; docker_host_facts reads it back from there.
    systemd, vendor_dir, tls_dir = tmp_path / "etc", tmp_path / "lib", tmp_path / "tls"
    vendor_dir.mkdir()
    (vendor_dir / "docker.service").write_text(f"[Service]\nExecStart={UNIT['exec_start']}\n")
    tls_dir.mkdir()
    for name in ("ca.pem", "server-cert.pem", "server-key.pem"):
        (tls_dir / name).write_text(f"-----BEGIN {name}-----\n")
    dirs = (str(systemd), str(vendor_dir))
    monkeypatch.setattr(docker_host_facts, "unit_file", lambda name: _systemd.unit_file(name, dirs))
    monkeypatch.setattr(docker_host_facts, "unit_dropins", lambda name: _systemd.unit_dropins(name, dirs))
    unit = docker_host_facts.unit_state("docker.service")
    variables = _variables(
        pki,
        dropin=str(systemd / "docker.service.d" / "dockerlab-listener.conf"),
        socket_unit=str(systemd / "dockerlab-listener.socket"),
        docker_access_tcp_address=address,
        docker_access_tcp_port=port,
        docker_access_tls_dir=str(tls_dir),
    )
    written = run_module(
        docker_daemon_listener,
        {
            "mode": "tls",
            "address": address,
            "port": tcp_port("tls", port),
            "tls_ca_cert": f"{tls_dir}/ca.pem",
            "tls_cert": f"{tls_dir}/server-cert.pem",
            "tls_key": f"{tls_dir}/server-key.pem",
            "systemd_dir": str(systemd),
            "vendor_unit_path": unit["file"],
            "stash_dir": str(tmp_path / "stash"),
        },
    )
    assert written["changed"] is True, written
    assert written["path"] == variables["dropin"]
    assert written["socket_path"] == variables["socket_unit"]
    facts = _converged(pki)
    for path in (variables["dropin"], variables["socket_unit"]):
        facts["files"][path] = docker_host_facts.file_state(path)
    facts["unit"] = docker_host_facts.unit_state("docker.service")
    assert facts["unit"]["dropins_setting_exec_start"] == [variables["dropin"]]
    assert plan(facts, variables)["listener_current"] is True
    # Another address is another drop-in.
    assert plan(facts, {**variables, "docker_access_tcp_address": "10.0.0.5"})["listener_current"] is False


def _differs(facts, variables, field, expected):
    result = plan(facts, variables)
    assert result[field] == expected, result
    assert result["todo"] is True


@pytest.mark.parametrize(
    ("members", "exclusive"),
    [([], False), (["other"], False), (["student", "other"], True)],
)
def test_the_docker_group(pki, members, exclusive):
    facts = _converged(pki)
    facts["group"]["members"] = members
    _differs(facts, _variables(pki, docker_access_exclusive=exclusive), "group_differs", True)


def test_extra_members_are_kept_without_exclusive(pki):
    facts = _converged(pki)
    facts["group"]["members"] = ["student", "other"]
    assert plan(facts, _variables(pki))["todo"] is False


def test_no_docker_group(pki):
    facts = _converged(pki)
    facts["group"] = {"exists": False, "members": []}
    _differs(facts, _variables(pki), "group_differs", True)


def test_a_missing_ca_key(own_pki):
    facts = _converged(own_pki)
    (own_pki / "ca-key.pem").unlink()
    result = plan(facts, _variables(own_pki))
    assert result["ca_missing"] is True
    assert result["todo"] is True
    # A new CA issues every certificate and installs every file again (what a
    # check run on a new controller reports); the directories stay as they are.
    assert result["own_clients_to_issue"] == _variables(own_pki)["bundle_users"]
    assert result["server_status"] == "missing"
    assert [item["dest"] for item in result["tls_stale"]] == [
        f"{TLS_DIR}/ca.pem",
        f"{TLS_DIR}/server-cert.pem",
        f"{TLS_DIR}/server-key.pem",
        # bundle_users' order: student, then root
        *(f"{HOMES[u][1]}/.docker/{f['name']}" for u in ("student", "root") for f in BUNDLE_FILES),
    ]


def test_a_user_certificate_to_issue(own_pki):
    facts = _converged(own_pki)
    (own_pki / "users" / "student" / "cert.pem").unlink()
    result = plan(facts, _variables(own_pki))
    assert result["own_clients_to_issue"] == ["student"]
    assert result["todo"] is True


def test_another_hosts_users_are_not_this_hosts_business(own_pki):
    (own_pki / "users" / "alice").mkdir()
    result = plan(_converged(own_pki), _variables(own_pki))
    assert result["todo"] is False


def test_a_new_address_reissues_the_server_certificate(pki):
    facts = _converged(pki)
    facts["ipv4"] = ["10.0.0.5", "10.0.0.6"]
    _differs(facts, _variables(pki), "server_status", "names")


def test_extra_names_reissue_the_server_certificate(pki):
    _differs(
        _converged(pki),
        _variables(pki, docker_access_extra_sans=["DNS:docker.lab"]),
        "server_status",
        "names",
    )


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (f"{TLS_DIR}/server-key.pem", {"sha256": "0" * 64}),
        (f"{TLS_DIR}/server-key.pem", {"mode": "0644"}),
        (f"{TLS_DIR}/ca.pem", {"uid": 1000}),
        (f"{TLS_DIR}/ca.pem", {"exists": False}),
        (TLS_DIR, {"mode": "0777"}),
    ],
)
def test_a_daemon_tls_file_that_differs(pki, path, change):
    facts = _converged(pki)
    facts["files"][path].update(change)
    result = plan(facts, _variables(pki))
    assert [item["dest"] for item in result["tls_stale"]] == [path]
    assert result["todo"] is True


def test_a_bundle_file_that_differs(pki):
    facts = _converged(pki)
    facts["users"]["student"]["files"][".docker/key.pem"]["mode"] = "0644"
    result = plan(facts, _variables(pki))
    assert [(item["user"], item["dest"]) for item in result["tls_stale"]] == [
        ("student", "/home/student/.docker/key.pem")
    ]
    assert result["todo"] is True


@pytest.mark.parametrize(
    "change",
    [
        {"docker_access_tcp_address": "127.0.0.1"},
        {"docker_access_tcp_port": 2377},
        {"docker_access_tls_dir": "/etc/docker/certs"},
    ],
)
def test_a_listener_with_other_inputs(pki, change):
    facts = _converged(pki)
    if "docker_access_tls_dir" in change:  # the files are where the old inputs said
        facts["files"].update(
            {k.replace(TLS_DIR, change["docker_access_tls_dir"]): v for k, v in facts["files"].items()}
        )
    _differs(facts, _variables(pki, **change), "listener_current", False)


def test_another_drop_in_setting_exec_start(pki):
    facts = _converged(pki)
    facts["unit"]["dropins_setting_exec_start"] = [DROPIN, "/etc/systemd/system/docker.service.d/z.conf"]
    _differs(facts, _variables(pki), "listener_current", False)


def test_off_wants_no_drop_in_and_ignores_tls(own_pki):
    facts = _converged(own_pki)
    (own_pki / "ca-key.pem").unlink()  # not compared without TLS
    _differs(facts, _variables(own_pki, docker_access_tcp="off"), "listener_current", False)
    facts["files"][DROPIN] = {"exists": False}
    # The socket unit would go on holding the port.
    _differs(facts, _variables(own_pki, docker_access_tcp="off"), "listener_current", False)
    facts["files"][SOCKET_UNIT] = {"exists": False}
    assert plan(facts, _variables(own_pki, docker_access_tcp="off"))["todo"] is False


def _held_by_dockerd(facts):
    """_converged's host as docker_daemon_listener leaves it where dockerd holds the listener."""
    facts["files"][DROPIN]["inputs"] = _inputs(held="dockerd")
    facts["files"][SOCKET_UNIT] = {"exists": False}
    return facts


def test_a_listener_dockerd_holds_is_handed_to_systemd(pki):
    # A host converged before systemd could hold the listener, or with
    # held_by dockerd: auto (an IP address) and systemd rewrite it.
    facts = _held_by_dockerd(_converged(pki))
    assert plan(facts, _variables(pki, docker_access_tcp_held_by="dockerd"))["listener_current"] is True
    for held_by in ("auto", "systemd"):
        _differs(facts, _variables(pki, docker_access_tcp_held_by=held_by), "listener_current", False)


def test_a_socket_unit_that_is_gone_or_not_wanted(pki):
    facts = _converged(pki)
    facts["files"][SOCKET_UNIT] = {"exists": False}
    _differs(facts, _variables(pki), "listener_current", False)
    facts = _held_by_dockerd(_converged(pki))
    facts["files"][SOCKET_UNIT] = {"exists": True, "inputs": "0" * 64}
    _differs(facts, _variables(pki, docker_access_tcp_held_by="dockerd"), "listener_current", False)


def test_a_host_name_is_held_by_dockerd_with_auto(pki):
    facts = _converged(pki)
    facts["files"][DROPIN]["inputs"] = _inputs("docker.lab.example", held="dockerd")
    facts["files"][SOCKET_UNIT] = {"exists": False}
    variables = _variables(pki, docker_access_tcp_address="docker.lab.example")
    assert plan(facts, variables)["listener_current"] is True


def test_insecure_always_runs_the_listener_module(pki):
    result = plan(_converged(pki), _variables(pki, docker_access_tcp="insecure"))
    assert result["listener_current"] is False
    assert result["todo"] is True


def test_a_file_the_controller_lacks_is_stale(own_pki):
    # A check run on a new controller only pretended to issue it.
    facts = _converged(own_pki)
    (own_pki / "hosts" / HOST / "server-key.pem").unlink()
    result = plan(facts, _variables(own_pki))
    assert f"{TLS_DIR}/server-key.pem" in [item["dest"] for item in result["tls_stale"]]
    assert result["server_status"] == "missing"


def _restricted(pki, facts, restricted=("pupil",), revoked=()):
    """A host converged with the policy on for ``restricted``: the plugin's
    service unit and policy file as docker_authz_plugin writes them, the
    plugin named in daemon.json, its socket unit active and enabled, the
    login script in place."""
    restricted, revoked = sorted(restricted), sorted(revoked)
    facts["units"] = {AUTHZ_SOCKET: {"exists": True, "active": True, "enabled": True}}
    facts["files"][SERVICE_UNIT] = {"exists": True, "inputs": authz_inputs_hash(), "mode": "0644"}
    facts["files"][POLICY_FILE] = {"exists": True, "sha256": policy_sha256(restricted, revoked)}
    facts["daemon_json"] = {"config": {"authorization-plugins": [PLUGIN_NAME]}}
    if restricted:
        text = access_plan.profile_text(restricted, "tcp://127.0.0.1:2376")
        facts["files"][PROFILE] = {
            "exists": True,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "mode": "0644",
            "uid": 0,
            "gid": 0,
        }
    return facts


def test_a_host_converged_with_restricted_users_has_nothing_to_do(pki):
    facts = _restricted(pki, _converged(pki))
    result = plan(facts, _variables(pki, docker_access_restricted_users=["pupil"]))
    assert (result["authz_wanted"], result["authz_current"], result["profile_current"]) == (True, True, True)
    assert result["todo"] is False


def test_a_restricted_user_turns_the_policy_on(pki):
    result = plan(_converged(pki), _variables(pki, docker_access_restricted_users=["pupil"]))
    assert (result["authz_wanted"], result["authz_current"]) == (True, False)
    assert result["authz_plugins"] == [PLUGIN_NAME]
    assert "DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1" in result["profile_text"]
    assert result["profile_text"].count("pupil)") == 1
    assert result["todo"] is True


def test_other_authorization_plugins_are_kept(pki):
    facts = _converged(pki)
    facts["daemon_json"] = {"config": {"authorization-plugins": ["opa"]}}
    result = plan(facts, _variables(pki, docker_access_restricted_users=["pupil"]))
    assert result["authz_plugins"] == ["opa", PLUGIN_NAME]
    facts = _restricted(pki, _converged(pki))
    facts["daemon_json"]["config"]["authorization-plugins"] = ["opa", PLUGIN_NAME]
    assert plan(facts, _variables(pki))["authz_plugins"] == ["opa"]


@pytest.mark.parametrize(
    "change",
    ["policy", "program", "daemon_json", "socket stopped", "socket disabled", "no units read", "profile"],
)
def test_a_policy_that_differs(pki, change):
    facts = _restricted(pki, _converged(pki))
    if change == "socket stopped":
        # systemctl stop dockerlab-authz.socket: every API call waits on the plugin.
        facts["units"][AUTHZ_SOCKET]["active"] = False
    elif change == "socket disabled":
        facts["units"][AUTHZ_SOCKET]["enabled"] = False
    elif change == "no units read":
        del facts["units"]
    elif change == "policy":
        facts["files"][POLICY_FILE]["sha256"] = policy_sha256(["someone"], [])
    elif change == "program":
        facts["files"][SERVICE_UNIT]["inputs"] = "0" * 64
    elif change == "daemon_json":
        facts["daemon_json"]["config"] = {}
    else:
        facts["files"][PROFILE]["mode"] = "0666"
    result = plan(facts, _variables(pki, docker_access_restricted_users=["pupil"]))
    field = "profile_current" if change == "profile" else "authz_current"
    assert result[field] is False
    assert result["todo"] is True


def test_a_restricted_user_leaves_the_docker_group(pki):
    facts = _restricted(pki, _converged(pki))
    facts["group"]["members"] = ["student", "pupil"]
    result = plan(facts, _variables(pki, docker_access_restricted_users=["pupil"]))
    assert (result["group_remove"], result["group_differs"], result["todo"]) == (["pupil"], True, True)


def test_a_revoked_users_bundle_is_removed_and_the_policy_stays_on(pki):
    # student's certificate is still valid, and student is no longer allowed.
    facts = _restricted(pki, _converged(pki), restricted=(), revoked=("student",))
    variables = _variables(pki, docker_access_users=[], bundle_users=["root"], revoked=["student"])
    result = plan(facts, variables)
    assert (result["authz_wanted"], result["authz_current"]) == (True, True)
    assert result["revoked_bundles"] == [f"/home/student/.docker/{item['name']}" for item in BUNDLE_FILES]
    assert result["group_remove"] == ["student"]
    assert result["profile_text"] is None


def test_a_bundle_that_is_not_the_pkis_is_left_alone(pki):
    facts = _restricted(pki, _converged(pki), restricted=(), revoked=("student",))
    facts["users"]["student"]["files"][".docker/cert.pem"]["sha256"] = "0" * 64
    variables = _variables(pki, docker_access_users=[], bundle_users=["root"], revoked=["student"])
    assert plan(facts, variables)["revoked_bundles"] == []


def test_turning_the_policy_off_takes_the_plugin_out(pki):
    facts = _restricted(pki, _converged(pki))
    result = plan(facts, _variables(pki, docker_access_authz=False))
    assert (result["authz_wanted"], result["authz_current"], result["authz_plugins"]) == (False, False, [])
    assert result["profile_current"] is False  # the login script goes too
    assert result["todo"] is True


def test_no_policy_without_tls(pki):
    variables = _variables(pki, docker_access_tcp="off", revoked=["student"])
    result = plan(_converged(pki), variables)
    assert (result["authz_wanted"], result["revoked"]) == (False, [])


def test_revoked_certificates_are_the_pkis_valid_ones_no_longer_allowed(own_pki):
    assert certs_revoked(["root", "student"], str(own_pki)) == []
    assert certs_revoked(["root"], str(own_pki)) == ["student"]
    # A certificate from another CA is not this CA's to revoke.
    other_key = x509_certs.ec_key()
    other = x509_certs.certificate(
        "other CA", other_key, x509_certs.name("other CA"), other_key, now=NOW, ca=True
    )
    cert, _key = _issue("stranger", other, other_key)
    _write(own_pki / "users" / "stranger" / "cert.pem", cert)
    assert certs_revoked(["root"], str(own_pki)) == ["student"]
    # Expired: nothing to refuse.
    assert certs_revoked(["root"], str(own_pki), now=NOW + datetime.timedelta(days=4000)) == []


def test_nobody_to_revoke_costs_no_certificate_parsing(own_pki, monkeypatch):
    # The usual case, at every host read: cryptography is not even imported.
    def no_crypto():
        raise AssertionError("cryptography was used")

    monkeypatch.setattr(_pki, "_crypto", no_crypto)
    assert certs_revoked(["root", "student"], str(own_pki)) == []


def test_the_filter_is_exposed():
    assert access_plan.FilterModule().filters() == {"access_plan": plan}


def test_the_filters_load_neither_the_plugins_program_nor_an_http_client():
    # Every templating process of every host imports them: the plugin's
    # program (_authz_install) and the API client are imported only where the
    # policy is wanted or a restricted user is checked.
    code = (
        "import sys\n"
        "from ansible_collections.dockerlab.docker.plugins.filter import access_checks, access_plan\n"
        "print(sorted(m for m in sys.modules if m.rsplit('.', 1)[-1] in"
        " ('_authz_install', '_authz_server', '_api', 'http', 'ssl')))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"

"""plugins/module_utils/_host_read: the host read the roles share. A role
asks docker_host_facts for what it needs (its request); merge() is the one
read of every request of a play, each entry once and in order, with what
cannot be read left out; covers() says whether a read (the fact, with its
``requested``) has everything a request asks for, still current after a
restart of the daemon. And the roles' own requests, as their vars/main.yml
declare them, use only the keys a request has, under names the roles'
read tasks find."""

import copy
import re

import pytest
import yaml
from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import (
    DAEMON_KEYS,
    FACT,
    LISTS,
    RESTARTED_FACT,
    covers,
    merge,
)
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli

IMAGE = "digitalocean/flask-helloworld:latest"
# The roles' requests as their vars/main.yml template them (the defaults):
# a templated port is a string.
ENGINE = {
    "packages": ["docker.io", "python3-requests"],
    "daemon_json": "/etc/docker/daemon.json",
    "files": ["/etc/docker", "/etc/docker/daemon.json"],
}
ACCESS = {
    "users": ["student", "root"],
    "user_files": [".docker", ".docker/ca.pem", ".docker/cert.pem", ".docker/key.pem"],
    "files": [
        "/etc/docker/tls",
        "/etc/systemd/system/docker.service.d/dockerlab-listener.conf",
        "/etc/docker/tls/ca.pem",
        "/etc/docker/tls/server-cert.pem",
        "/etc/docker/tls/server-key.pem",
    ],
    "units": ["dockerlab-authz.socket"],
}
FLASK = {"images": [IMAGE], "inspect": ["flaskapp"], "ports": ["1337"], "containers": True}
BREAKOUT = {"containers": True}
EMPTY = {**{key: [] for key in LISTS}, "containers": False, "daemon_json": None}


def _read(*requests, base=None):
    """The fact of a read made for ``requests`` (only what covers() looks at)."""
    return {"requested": merge(list(requests), base=base)}


def test_the_constants():
    assert LISTS == ("packages", "users", "user_files", "files", "images", "inspect", "ports", "units")
    assert DAEMON_KEYS == ("containers", "images", "inspect", "ports")
    assert set(DAEMON_KEYS) - {"containers"} < set(LISTS)
    assert FACT == "dockerlab"
    assert RESTARTED_FACT == "dockerlab_daemon_restarted"


# ------------------------------------------------------------------ merge


@pytest.mark.parametrize(
    ("requests", "base"),
    [(None, None), ([], None), ([], {}), ([{}], None), ([{}, {}], {})],
    ids=["none", "empty-list", "empty-base", "one-empty", "all-empty"],
)
def test_nothing_asked_is_an_empty_request(requests, base):
    assert merge(requests, base=base) == EMPTY


def test_merge_has_every_key_of_a_request():
    assert sorted(merge([])) == sorted([*LISTS, "containers", "daemon_json"])


def test_the_requests_of_a_play_are_read_in_one_request():
    assert merge([ENGINE, ACCESS, FLASK, BREAKOUT]) == {
        "packages": ["docker.io", "python3-requests"],
        "users": ["student", "root"],
        "user_files": [".docker", ".docker/ca.pem", ".docker/cert.pem", ".docker/key.pem"],
        # The engine's files first, then docker_access's: in their order.
        "files": ["/etc/docker", "/etc/docker/daemon.json", *ACCESS["files"]],
        "images": [IMAGE],
        "inspect": ["flaskapp"],
        "ports": [1337],
        "units": ["dockerlab-authz.socket"],
        "containers": True,
        "daemon_json": "/etc/docker/daemon.json",
    }


@pytest.mark.parametrize("key", [key for key in LISTS if key != "ports"])
def test_lists_keep_their_order_and_each_entry_once(key):
    requests = [{key: ["b", "a"]}, {key: ["a", "c", "b"]}, {key: ["d", "d"]}]
    assert merge(requests)[key] == ["b", "a", "c", "d"]


def test_the_base_comes_first():
    base = {"users": ["root"], "files": ["/z"], "ports": [2376]}
    merged = merge([{"users": ["student", "root"], "files": ["/a"], "ports": [1337, 2376]}], base=base)
    assert merged["users"] == ["root", "student"]
    assert merged["files"] == ["/z", "/a"]
    assert merged["ports"] == [2376, 1337]


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        ([1337], [1337]),
        (["1337"], [1337]),
        ([" 8080 "], [8080]),
        (["0080"], [80]),
        ([1, "65535"], [1, 65535]),
        ([1337, "1337", " 1337"], [1337]),
        (["1337", 2376, "1337"], [1337, 2376]),
    ],
    ids=["int", "digits", "spaces", "leading-zeros", "bounds", "same-port-three-ways", "order"],
)
def test_ports_are_read_as_ints_each_once(ports, expected):
    assert merge([{"ports": ports}])["ports"] == expected


@pytest.mark.parametrize(
    "port",
    [0, 65536, -1, "-1", "70000", "", " ", "http", "13 37", "1.5", 1.5, "0x10", True, False, None, [80], {}],
)
def test_what_is_not_a_port_is_left_out(port):
    assert merge([{"ports": [port, 1337]}])["ports"] == [1337]


def test_a_digit_int_cannot_read_is_left_out_too():
    # str.isdigit() is true for "²", which int() refuses.
    assert merge([{"ports": ["²", 1337]}])["ports"] == [1337]


@pytest.mark.parametrize("key", [key for key in LISTS if key != "ports"])
@pytest.mark.parametrize("wrong", [7, None, "", True, 1.5, ["root"], {"name": "root"}], ids=repr)
def test_entries_that_are_not_strings_are_left_out(key, wrong):
    assert merge([{key: ["ok", wrong]}])[key] == ["ok"]


@pytest.mark.parametrize("key", LISTS)
@pytest.mark.parametrize("value", ["student", {"student": 1}, 7, True, None], ids=repr)
def test_a_value_that_is_not_a_list_asks_for_nothing(key, value):
    # Not its characters one by one: a string is not a list of names.
    assert merge([{key: value}])[key] == []


@pytest.mark.parametrize("key", LISTS)
def test_a_tuple_is_a_list(key):
    entry = 2376 if key == "ports" else "x"
    assert merge([{key: (entry,)}])[key] == [entry]


@pytest.mark.parametrize("request_", [None, "packages", ["docker.io"], 7, True], ids=repr)
def test_a_request_that_is_not_a_dict_is_left_out(request_):
    assert merge([request_, ENGINE]) == merge([ENGINE])
    assert merge([ENGINE], base=request_ or None) == merge([ENGINE])


def test_keys_that_are_no_option_are_left_out():
    assert merge([{"volumes": ["/srv"], "packages": ["docker.io"]}]) == {**EMPTY, "packages": ["docker.io"]}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([True], True),
        ([False, True], True),
        ([True, False], True),
        ([False, False], False),
        ([None], False),
        # Only a boolean true asks: the role's vars give one.
        (["yes"], False),
        ([1], False),
        (["true"], False),
    ],
)
def test_containers_are_asked_for_when_any_request_asks(values, expected):
    assert merge([{"containers": value} for value in values])["containers"] is expected


def test_containers_from_the_base_count_too():
    assert merge([{}], base={"containers": True})["containers"] is True


def test_daemon_json_is_the_first_one_given():
    first, second = {"daemon_json": "/etc/docker/daemon.json"}, {"daemon_json": "/srv/daemon.json"}
    assert merge([{}, first, second])["daemon_json"] == "/etc/docker/daemon.json"
    assert merge([second, first])["daemon_json"] == "/srv/daemon.json"
    assert merge([first], base=second)["daemon_json"] == "/srv/daemon.json"
    assert merge([{"daemon_json": None}, {"daemon_json": 7}, second])["daemon_json"] == "/srv/daemon.json"


def test_merge_leaves_its_inputs_alone():
    requests, base = [copy.deepcopy(ENGINE), copy.deepcopy(FLASK)], copy.deepcopy(ACCESS)
    merged = merge(requests, base=base)
    merged["files"].append("/x")
    merged["ports"].append(1)
    assert requests == [ENGINE, FLASK]
    assert base == ACCESS
    assert merge(requests, base=base)["ports"] == [1337]


def test_merging_a_merged_request_again_changes_nothing():
    merged = merge([ENGINE, ACCESS, FLASK])
    assert merge([merged]) == merged
    assert merge([merged, merged], base=merged) == merged


# ----------------------------------------------------------------- covers


@pytest.mark.parametrize(
    "read",
    [None, {}, [], "dockerlab", {"requested": None}, {"requested": []}, {"packages": {"docker.io": "1"}}],
    ids=["none", "empty", "list", "str", "requested-none", "requested-list", "no-requested"],
)
def test_a_read_without_requested_covers_nothing(read):
    assert covers(read, {}) is False
    assert covers(read, ENGINE) is False


def test_a_read_covers_the_requests_it_was_made_for():
    read = _read(ENGINE, ACCESS, FLASK, BREAKOUT)
    for request in (ENGINE, ACCESS, FLASK, BREAKOUT, {}):
        assert covers(read, request) is True


def test_a_read_for_one_role_does_not_cover_the_others():
    read = _read(ENGINE)
    assert covers(read, ENGINE) is True
    assert covers(read, ACCESS) is False
    assert covers(read, FLASK) is False
    assert covers(read, BREAKOUT) is False


def test_an_empty_request_is_covered_by_any_read():
    assert covers(_read(), {}) is True
    assert covers(_read(), None) is True
    assert covers({"requested": {}}, {}) is True


@pytest.mark.parametrize(
    ("key", "entry"),
    [
        ("packages", "docker-ce"),
        ("users", "alice"),
        ("user_files", ".docker/extra.pem"),
        ("files", "/etc/docker/certs.d"),
        ("images", "registry:2"),
        ("inspect", "other"),
        ("ports", 8080),
        ("ports", "8080"),
    ],
)
def test_one_entry_the_read_did_not_ask_for_is_not_covered(key, entry):
    read = _read(ENGINE, ACCESS, FLASK)
    request = {**ENGINE, **ACCESS, **FLASK}
    assert covers(read, request) is True
    assert covers(read, {**request, key: [*(request.get(key) or []), entry]}) is False
    assert covers(read, {key: [entry]}) is False


def test_what_the_read_found_does_not_count_only_what_it_asked_for():
    # The user exists in the read's users (another read found it), but this
    # read was not asked for it: whether it was read with its files is unknown.
    read = {**_read(ENGINE, ACCESS), "users": {"student": {}, "root": {}, "alice": {"uid": 1001}}}
    assert covers(read, {"users": ["alice"]}) is False


def test_order_does_not_matter():
    read = _read({"files": ["/a", "/b", "/c"], "ports": [1, 2]})
    assert covers(read, {"files": ["/c", "/a"], "ports": ["2", 1]}) is True


def test_a_port_is_covered_as_an_int_or_as_digits():
    read = _read(FLASK)
    assert read["requested"]["ports"] == [1337]
    for port in (1337, "1337", " 1337 "):
        assert covers(read, {"ports": [port]}) is True


def test_what_a_request_cannot_ask_for_is_not_held_against_the_read():
    # The role that asks for it refuses it in its own checks.
    read = _read(ENGINE)
    assert covers(read, {**ENGINE, "ports": ["http", 0], "users": [7, None], "files": "/etc/docker"}) is True


@pytest.mark.parametrize(
    ("asked", "wanted", "expected"),
    [
        (True, True, True),
        (False, True, False),
        (True, False, True),
        (False, False, True),
        (None, True, False),
    ],
)
def test_containers_must_have_been_asked_for(asked, wanted, expected):
    read = {"requested": {**merge([]), "containers": asked}}
    assert covers(read, {"containers": wanted}) is expected


@pytest.mark.parametrize(
    ("asked", "wanted", "expected"),
    [
        ("/etc/docker/daemon.json", "/etc/docker/daemon.json", True),
        ("/etc/docker/daemon.json", None, True),
        (None, None, True),
        ("/etc/docker/daemon.json", "/srv/daemon.json", False),
        (None, "/etc/docker/daemon.json", False),
    ],
)
def test_daemon_json_must_be_the_one_read_when_the_request_names_one(asked, wanted, expected):
    read = {"requested": {**merge([]), "daemon_json": asked}}
    assert covers(read, {"daemon_json": wanted}) is expected


def test_a_requested_with_missing_keys_covers_what_it_has():
    read = {"requested": {"packages": ["docker.io"]}}
    assert covers(read, {"packages": ["docker.io"]}) is True
    assert covers(read, {"users": ["root"]}) is False
    assert covers(read, {"containers": True}) is False
    assert covers(read, {"daemon_json": "/etc/docker/daemon.json"}) is False


# ------------------------------------------------------ after a restart


@pytest.mark.parametrize(
    "request_",
    [
        {"images": [IMAGE]},
        {"inspect": ["flaskapp"]},
        {"ports": [1337]},
        {"containers": True},
        FLASK,
        BREAKOUT,
    ],
    ids=["images", "inspect", "ports", "containers", "flask_app", "breakout_lab"],
)
def test_the_daemons_answers_are_out_of_date_once_it_restarted(request_):
    read = _read(ENGINE, ACCESS, FLASK)
    assert covers(read, request_) is True
    assert covers(read, request_, restarted=False) is True
    assert covers(read, request_, True) is False


@pytest.mark.parametrize(
    "request_",
    [
        ENGINE,
        ACCESS,
        {"packages": ["docker.io"]},
        {"users": ["root"]},
        {"user_files": [".docker"]},
        {"files": ["/etc/docker"]},
        {"daemon_json": "/etc/docker/daemon.json"},
        {"containers": False, "images": [], "ports": []},
        {},
    ],
    ids=["docker_engine", "docker_access", "packages", "users", "user_files", "files", "daemon_json",
         "no-daemon-key-asked", "empty"],
)  # fmt: skip
def test_the_hosts_files_stay_current_after_a_restart(request_):
    read = _read(ENGINE, ACCESS, FLASK)
    assert covers(read, request_, restarted=True) is True


@pytest.mark.parametrize("restarted", [None, False, 0, ""], ids=repr)
def test_restarted_unknown_or_false_is_not_a_restart(restarted):
    assert covers(_read(FLASK), FLASK, restarted) is True


def test_a_restart_does_not_make_a_read_cover_what_it_did_not_ask_for():
    assert covers(_read(ENGINE), ACCESS, restarted=True) is False
    assert covers(_read(), {"containers": True}, restarted=True) is False


def test_covers_leaves_its_inputs_alone():
    read, request = _read(ENGINE, FLASK), copy.deepcopy(FLASK)
    before = copy.deepcopy(read)
    covers(read, request, restarted=True)
    assert (read, request) == (before, FLASK)


# ---------------------------------------------- the roles' own requests

ROLES = ansible_cli.ROOT / "roles"
REQUEST_KEYS = {*LISTS, "containers", "daemon_json"}


def _role_requests(role=None):
    """{variable: request} of the roles' vars/main.yml (of ``role`` only,
    when given): their variables named for the host read."""
    found = {}
    for path in sorted(ROLES.glob(f"{role or '*'}/vars/main.yml")):
        for name, value in (yaml.safe_load(path.read_text()) or {}).items():
            if "host_read" in name:
                found[name] = value
    return found


def _read_tasks_patterns():
    """The regular expressions by which the roles' read tasks find the
    requests (``query('ansible.builtin.varnames', REGEX)``)."""
    patterns = set()
    for path in sorted(ROLES.glob("*/tasks/*.yml")):
        patterns.update(re.findall(r"varnames', '([^']+)'", path.read_text()))
    return patterns


@pytest.mark.parametrize("role", ["docker_engine", "docker_access", "flask_app", "breakout_lab"])
def test_each_role_that_decides_on_the_read_declares_one_request(role):
    requests = _role_requests(role)
    assert len(requests) == 1, sorted(requests)
    assert role in next(iter(requests))


@pytest.mark.parametrize("name", sorted(_role_requests()))
def test_each_roles_request_has_only_the_keys_of_a_request(name):
    request = _role_requests()[name]
    assert isinstance(request, dict)
    assert request
    assert set(request) <= REQUEST_KEYS, set(request) - REQUEST_KEYS


def test_the_read_tasks_find_every_roles_request_and_nothing_else():
    patterns = _read_tasks_patterns()
    assert patterns, "no read task asks ansible.builtin.varnames for the requests"
    names = set()
    for path in sorted(ROLES.glob("*/*/main.yml")):
        names.update(
            (yaml.safe_load(path.read_text()) or {}) if path.parent.name in ("vars", "defaults") else {}
        )
    for pattern in sorted(patterns):
        found = sorted(name for name in names if re.search(pattern, name))
        assert found == sorted(_role_requests()), pattern

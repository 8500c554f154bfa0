"""The input checks of docker_engine, docker_access and flask_app (the
input_errors of the filters engine_plan, access_checks and flask_plan):
every bad value gets one message that names the variable and the fix, good
values get none; through Ansible, each role's _<role>_input_errors gives the
filter the role's variables; and access_checks' host checks and flask_plan's
coverage of a read."""

import json

import pytest
import yaml
from ansible_collections.dockerlab.docker.plugins.filter import access_checks, engine_plan, flask_plan
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli

engine_errors = engine_plan.input_errors
access_errors = access_checks.input_errors
flask_errors = flask_plan.input_errors

# The roles' defaults (defaults/main.yml), as the filters get them.
ENGINE = {
    "docker_engine_daemon_options": {},
    "docker_engine_registry_mirrors": [],
    "docker_engine_restart_timeout": 60,
    "docker_engine_log_opts": {"max-size": "10m", "max-file": "3"},
}
ACCESS = {
    "engine_in_play": True,
    "default_ports": {"tls": 2376, "insecure": 2375, "off": 2376},
    "docker_access_tcp": "tls",
    "docker_access_tcp_port": None,
    "docker_access_tcp_address": "0.0.0.0",  # noqa: S104 - a value checked, not a server
    "docker_access_insecure_acknowledged": False,
    "docker_access_users": [],
}
FLASK = {
    "flask_app_host_port": 1337,
    "flask_app_container_port": 5000,
    "flask_app_bind_address": "0.0.0.0",  # noqa: S104 - a value checked, not a server
    "flask_app_wait_timeout": 60,
}


@pytest.mark.parametrize(
    ("check", "defaults"), [(engine_errors, ENGINE), (access_errors, ACCESS), (flask_errors, FLASK)]
)
def test_the_defaults_are_fine(check, defaults):
    assert check(defaults) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"docker_engine_daemon_options": ["debug"]}, "docker_engine_daemon_options must be a dict"),
        ({"docker_engine_daemon_options": None}, "(got NoneType)"),
        (
            {"docker_engine_registry_mirrors": "http://m:5000"},
            "docker_engine_registry_mirrors must be a list",
        ),
        ({"docker_engine_registry_mirrors": {"a": 1}}, "docker_engine_registry_mirrors must be a list"),
        ({"docker_engine_restart_timeout": 0}, "docker_engine_restart_timeout is '0'"),
        ({"docker_engine_restart_timeout": "soon"}, "docker_engine_restart_timeout is 'soon'"),
        ({"docker_engine_restart_timeout": True}, "docker_engine_restart_timeout is 'True'"),
        ({"docker_engine_log_opts": ["max-size=10m"]}, "docker_engine_log_opts must be a dict of strings"),
        ({"docker_engine_log_opts": {"max-file": 3}}, "quote max-file (3)"),
    ],
)
def test_each_bad_engine_value_is_named(changes, expected):
    errors = engine_errors({**ENGINE, **changes})
    assert len(errors) == 1, errors
    assert expected in errors[0], errors


@pytest.mark.parametrize("timeout", [1, "30", " 5 "])
def test_engine_timeouts_as_ints_or_digits_are_fine(timeout):
    assert engine_errors({**ENGINE, "docker_engine_restart_timeout": timeout}) == []


def test_every_bad_engine_value_gets_its_own_message():
    bad = {
        "docker_engine_daemon_options": [],
        "docker_engine_registry_mirrors": None,
        "docker_engine_restart_timeout": -1,
        "docker_engine_log_opts": {"max-file": 3},
    }
    errors = engine_errors(bad)
    assert [e.split()[0] for e in errors] == list(bad)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"engine_in_play": False}, "docker_access needs the docker_engine role earlier in the same play"),
        ({"docker_access_tcp_port": 0}, "docker_access_tcp_port is '0'"),
        ({"docker_access_tcp_port": 70000}, "docker_access_tcp_port is '70000'"),
        ({"docker_access_tcp_port": "abc"}, "docker_access_tcp_port is 'abc'"),
        ({"docker_access_tcp_port": True}, "docker_access_tcp_port is 'True'"),
        ({"docker_access_tcp_address": "not an address!"}, "docker_access_tcp_address is 'not an address!'"),
        ({"docker_access_tcp_address": "10.0.0.300"}, "neither an IPv4 or IPv6 address nor a host name"),
        ({"docker_access_tcp_address": "-bad.example"}, "docker_access_tcp_address is '-bad.example'"),
        ({"docker_access_tcp": "insecure"}, "set docker_access_insecure_acknowledged: true"),
        (
            {"docker_access_tcp": "insecure", "docker_access_insecure_acknowledged": "no"},
            "listen on 0.0.0.0:2375 with NO authentication",
        ),
        ({"docker_access_users": "student"}, "docker_access_users must be a list of user names"),
        ({"docker_access_users": ["student", 7]}, "docker_access_users must be a list of user names"),
    ],
)
def test_each_bad_access_value_is_named(changes, expected):
    errors = access_errors({**ACCESS, **changes})
    assert len(errors) == 1, errors
    assert expected in errors[0], errors


@pytest.mark.parametrize(
    "changes",
    [
        {"docker_access_tcp_address": "127.0.0.1"},
        {"docker_access_tcp_address": "::"},
        {"docker_access_tcp_address": "fe80::1"},
        {"docker_access_tcp_address": "docker.lab.example"},
        {"docker_access_tcp_address": "localhost."},
        # The listener's own check (plugins/module_utils/_listener) takes brackets.
        {"docker_access_tcp_address": "[::1]"},
        {"docker_access_tcp_port": "2376"},
        {"docker_access_tcp_port": 65535},
        {"docker_access_tcp": "off", "docker_access_tcp_address": "anything at all"},
        {"docker_access_tcp": "insecure", "docker_access_insecure_acknowledged": True},
        {"docker_access_tcp": "insecure", "docker_access_insecure_acknowledged": "yes"},
        {"docker_access_users": ["student", "root"]},
        {"docker_access_users": ()},
    ],
)
def test_good_access_values_are_fine(changes):
    assert access_errors({**ACCESS, **changes}) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"flask_app_host_port": 0}, "flask_app_host_port is '0'"),
        ({"flask_app_host_port": "70000"}, "flask_app_host_port is '70000'"),
        ({"flask_app_container_port": "http"}, "flask_app_container_port is 'http'"),
        ({"flask_app_bind_address": "localhost"}, "flask_app_bind_address is 'localhost', which is not"),
        ({"flask_app_bind_address": "0.0.0.0/0"}, "flask_app_bind_address is '0.0.0.0/0'"),
        ({"flask_app_wait_timeout": 0}, "flask_app_wait_timeout is '0'"),
        ({"flask_app_wait_timeout": None}, "flask_app_wait_timeout is 'None'"),
    ],
)
def test_each_bad_flask_value_is_named(changes, expected):
    errors = flask_errors({**FLASK, **changes})
    assert len(errors) == 1, errors
    assert expected in errors[0], errors


@pytest.mark.parametrize(
    "changes",
    [{"flask_app_host_port": "8080"}, {"flask_app_bind_address": "::1"}, {"flask_app_host_port": 65535}],
)
def test_good_flask_values_are_fine(changes):
    assert flask_errors({**FLASK, **changes}) == []


# ------------------------------------------------------- through Ansible

ROLES_PLAY = """\
- hosts: localhost
  gather_facts: false
  roles:
    # Only loaded: their defaults and vars, none of their tasks.
    - {role: dockerlab.docker.docker_engine, when: false}
    - {role: dockerlab.docker.docker_access, when: false}
    - {role: dockerlab.docker.flask_app, when: false}
  tasks:
    - name: Print the roles' input errors
      ansible.builtin.debug:
        msg: "<{{ {'engine': _docker_engine_input_errors, 'access': _docker_access_input_errors,
                   'flask': _flask_app_input_errors} | to_json }}>"
"""


def _input_errors(tmp_path, extra_vars):
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars))
    (tmp_path / "play.yml").write_text(ROLES_PLAY)
    args = ["-i", "localhost,", "-c", "local", "--check", "-e", f"@{tmp_path / 'vars.json'}"]
    done = ansible_cli.run("ansible-playbook", [*args, str(tmp_path / "play.yml")], temp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # The YAML callback folds the message: read it back as YAML.
    printed = done.stdout.split("ok: [localhost] => ", 1)[1].split("\nPLAY RECAP", 1)[0]
    return json.loads(yaml.safe_load(printed)["msg"][1:-1])


def test_each_role_gives_its_variables_to_its_filter(tmp_path):
    errors = _input_errors(
        tmp_path,
        {
            # What docker_engine's read registers; docker_access needs it.
            "_docker_engine_host_read": {"skipped": True},
            "docker_engine_log_opts": {"max-file": 3},
            "docker_access_tcp_port": 70000,
            "docker_access_tcp_address": "not an address!",
            "flask_app_bind_address": "nowhere",
        },
    )
    assert [e.split(" must ")[0] for e in errors["engine"]] == ["docker_engine_log_opts"]
    assert [e.split(" is ")[0] for e in errors["access"]] == [
        "docker_access_tcp_port",
        "docker_access_tcp_address",
    ]
    assert "docker_access_tcp_port is '70000'" in errors["access"][0]
    assert [e.split(" is ")[0] for e in errors["flask"]] == ["flask_app_bind_address"]


def test_docker_access_without_docker_engine_in_the_play_is_named(tmp_path):
    errors = _input_errors(tmp_path, {})
    assert errors["engine"] == []
    assert errors["flask"] == []
    assert len(errors["access"]) == 1
    assert errors["access"][0].startswith(
        "docker_access needs the docker_engine role earlier in the same play"
    )


# ------------------------------------------- the host, as docker_host_facts read it

host_errors = access_checks.host_errors
flask_covered = flask_plan.covered


def _host_vars(tmp_path, **changes):
    return {
        "host": "lab1",
        "ca_key": str(tmp_path / "ca-key.pem"),
        "docker_access_tcp": "tls",
        "docker_access_tls_dir": "/etc/docker/tls",
        "docker_access_ca_regenerate": False,
        **changes,
    }


def _read(users=None, trusted=True):
    return {
        "users": {"root": {"uid": 0}, "student": {"uid": 1000}, **(users or {})},
        "files": {"/etc/docker/tls/ca.pem": {"exists": trusted}},
    }


def test_a_host_with_its_users_and_the_ca_key_is_fine(tmp_path):
    (tmp_path / "ca-key.pem").write_text("key")
    assert host_errors(_read(), _host_vars(tmp_path)) == []


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        (["ghost"], "docker_access_users lists ghost, who does not exist on lab1."),
        (["zed", "ghost"], "docker_access_users lists ghost, zed, who do not exist on lab1."),
    ],
)
def test_users_that_do_not_exist_are_named(tmp_path, missing, expected):
    (tmp_path / "ca-key.pem").write_text("key")
    errors = host_errors(_read(dict.fromkeys(missing)), _host_vars(tmp_path))
    assert errors == [f"{expected} Create the user(s) first or remove them from the list."]


def test_a_lost_ca_key_is_refused_where_the_host_trusts_a_ca(tmp_path):
    errors = host_errors(_read(), _host_vars(tmp_path))
    assert len(errors) == 1
    assert errors[0].startswith(f"The CA key {tmp_path / 'ca-key.pem'} is missing on the controller")
    assert "set docker_access_ca_regenerate: true" in errors[0]


@pytest.mark.parametrize(
    ("facts", "changes"),
    [
        (_read(trusted=False), {}),  # a new host: the CA is issued and installed
        (_read(), {"docker_access_ca_regenerate": True}),
        (_read(), {"docker_access_ca_regenerate": "yes"}),
        (_read(), {"docker_access_tcp": "off"}),
        ({"users": {}, "files": {}}, {}),  # the file was not read
    ],
)
def test_a_missing_ca_key_is_fine_where_nothing_trusts_the_old_ca(tmp_path, facts, changes):
    assert host_errors(facts, _host_vars(tmp_path, **changes)) == []


COVERING = {
    "images": {"img:1": {}},
    "inspected": {"app": None},
    "listening": {"1337": []},
    "containers": [],
}


def test_a_read_that_asked_about_the_app_covers_it():
    assert flask_covered(COVERING, "img:1", "app", 1337) is True
    assert flask_covered(COVERING, "img:1", "app", "1337") is True


@pytest.mark.parametrize(
    "facts",
    [
        None,
        {},
        {**COVERING, "images": None},
        {**COVERING, "images": {"img:2": {}}},
        {**COVERING, "inspected": {"other": None}},
        {**COVERING, "listening": {"8080": []}},
        {**COVERING, "containers": None},
    ],
)
def test_a_read_that_did_not_ask_about_the_app_does_not_cover_it(facts):
    assert flask_covered(facts, "img:1", "app", 1337) is False


# --------------------------------------------- docker_access's preflight, in one call

checks = access_checks.access_checks


def _check_vars(tmp_path, **changes):
    (tmp_path / "ca-key.pem").write_text("key")
    return {
        **ACCESS,
        **_host_vars(tmp_path),
        "bundle_users": ["student", "root"],
        "host_files": ["/etc/docker/tls", "/etc/docker/tls/ca.pem"],
        "reserved_keys": ["hosts", "tls", "tlsverify"],
        **changes,
    }


def _covering_read(**daemon_json):
    read = _read()
    read["files"]["/etc/docker/tls"] = {"exists": True}
    read["daemon_json"] = {"config": daemon_json}
    return read


def test_a_host_read_that_covers_the_role_and_shows_nothing_wrong_passes(tmp_path):
    result = checks(_covering_read(debug=True), _check_vars(tmp_path))
    assert result == {
        "input_errors": [],
        "port": 2376,
        "reread_needed": False,
        "host_errors": [],
        "reserved_conflict": False,
        "preflight_errors": [],
        "preflight_ok": True,
    }


@pytest.mark.parametrize(
    "changes",
    [{"bundle_users": ["student", "root", "alice"]}, {"host_files": ["/etc/docker/tls", "/etc/other"]}],
)
def test_what_the_read_did_not_cover_is_read_again(tmp_path, changes):
    result = checks(_covering_read(), _check_vars(tmp_path, **changes))
    assert result["reread_needed"] is True
    assert result["preflight_ok"] is False
    assert result["preflight_errors"] == []


def test_a_reserved_key_in_daemon_json_is_a_conflict_unless_the_listener_is_off(tmp_path):
    assert checks(_covering_read(tls=True), _check_vars(tmp_path))["reserved_conflict"] is True
    off = checks(_covering_read(tls=True), _check_vars(tmp_path, docker_access_tcp="off"))
    assert off["reserved_conflict"] is False
    assert off["preflight_ok"] is True


def test_the_inputs_come_first_and_need_no_read(tmp_path):
    result = checks({}, _check_vars(tmp_path, docker_access_tcp_port=0))
    assert result["preflight_errors"] == result["input_errors"]
    assert result["input_errors"][0].startswith("docker_access_tcp_port is '0'")
    assert result["reread_needed"] is False
    assert result["preflight_ok"] is False


def test_host_errors_are_refused(tmp_path):
    read = _covering_read()
    read["users"]["ghost"] = None
    result = checks(read, _check_vars(tmp_path))
    assert result["preflight_errors"] == result["host_errors"]
    assert "ghost" in result["host_errors"][0]


def test_the_filter_is_exposed():
    assert access_checks.FilterModule().filters() == {"access_checks": checks}

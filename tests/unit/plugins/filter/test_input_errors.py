"""The input checks of docker_engine, docker_access and flask_app (the
input_errors of the filters engine_plan, access_checks and flask_plan): what
the roles' argument specs cannot say (the specs check the types first).
Every bad value gets one message that names the variable and the fix, good
values get none, and a value of the wrong type is left to the spec; through
Ansible, each role's plan gives the filter the role's variables, and
docker_access finds docker_engine in the play's roles; and access_checks'
host checks and whether the play's read covers docker_access's request."""

import json

import pytest
import yaml
from ansible_collections.dockerlab.docker.plugins.filter import access_checks, engine_plan, flask_plan
from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import merge
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
# site.yml's play: ansible_role_names has the roles by their full names.
SITE_ROLES = [
    "dockerlab.docker.docker_engine",
    "dockerlab.docker.docker_access",
    "dockerlab.docker.flask_app",
]
ACCESS = {
    "role_names": SITE_ROLES,
    "docker_access_tcp": "tls",
    "docker_access_tcp_port": None,
    "docker_access_tcp_address": "0.0.0.0",  # noqa: S104 - a value checked, not a server
    "docker_access_insecure_acknowledged": False,
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
        ({"docker_engine_restart_timeout": 0}, "docker_engine_restart_timeout is '0'"),
        ({"docker_engine_restart_timeout": "0"}, "docker_engine_restart_timeout is '0'"),
        ({"docker_engine_restart_timeout": -1}, "docker_engine_restart_timeout is '-1'"),
        ({"docker_engine_restart_timeout": " -5 "}, "docker_engine_restart_timeout is '-5'"),
        ({"docker_engine_log_opts": {"max-file": 3}}, "quote max-file (3)"),
        ({"docker_engine_log_opts": {"max-size": "10m", "max-file": 3}}, "quote max-file (3)"),
        ({"docker_engine_log_opts": {"labels": None}}, "quote labels (None)"),
        (
            {"docker_engine_registry_mirrors": ["registry.lab:5000"]},
            "'registry.lab:5000' does not start with",
        ),
        (
            {"docker_engine_registry_mirrors": ["not a url"]},
            "'not a url' does not start with http:// or https://",
        ),
        (
            {"docker_engine_registry_mirrors": ["ftp://registry.lab"]},
            "'ftp://registry.lab' does not start with",
        ),
        ({"docker_engine_registry_mirrors": ["http://"]}, "'http://' names no host"),
        ({"docker_engine_registry_mirrors": ["http://r.lab:port"]}, "'http://r.lab:port' is not a URL"),
        ({"docker_engine_registry_mirrors": ["http://u:p@r.lab"]}, "has a user, a query or a fragment"),
        ({"docker_engine_registry_mirrors": ["http://r.lab/?x=1"]}, "has a user, a query or a fragment"),
        ({"docker_engine_registry_mirrors": [5000]}, "5000 is not a string"),
    ],
)
def test_each_bad_engine_value_is_named(changes, expected):
    errors = engine_errors({**ENGINE, **changes})
    assert len(errors) == 1, errors
    assert expected in errors[0], errors


@pytest.mark.parametrize(
    "mirrors",
    [
        ["http://dockerlab-registry:5000"],
        ["https://mirror.gcr.io", "http://[fd00::1]:5000/"],
        ["http://10.0.0.1"],
    ],
)
def test_good_registry_mirrors_pass(mirrors):
    assert engine_errors({**ENGINE, "docker_engine_registry_mirrors": mirrors}) == []


def test_a_bad_registry_mirror_says_how_to_give_one():
    assert engine_errors({**ENGINE, "docker_engine_registry_mirrors": ["http://ok:5000", "mirror:5000"]}) == [
        "docker_engine_registry_mirrors: 'mirror:5000' does not start with http:// or https://. Give each "
        "mirror as http:// or https:// and a host, e.g. http://registry.lab:5000."
    ]


def test_the_engine_messages_say_what_to_do():
    assert engine_errors({**ENGINE, "docker_engine_restart_timeout": 0}) == [
        "docker_engine_restart_timeout is '0': use a number of seconds, at least 1."
    ]
    assert engine_errors({**ENGINE, "docker_engine_log_opts": {"max-file": 3, "compress": True}}) == [
        "docker_engine_log_opts must be a dict of strings, as dockerd wants them: quote"
        ' compress (True), max-file (3), e.g. max-file: "3".'
    ]


@pytest.mark.parametrize("timeout", [1, "30", " 5 ", 3600])
def test_engine_timeouts_as_ints_or_digits_are_fine(timeout):
    assert engine_errors({**ENGINE, "docker_engine_restart_timeout": timeout}) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"docker_engine_daemon_options": ["debug"]},
        {"docker_engine_daemon_options": None},
        {"docker_engine_registry_mirrors": "http://m:5000"},
        {"docker_engine_registry_mirrors": {"a": 1}},
        {"docker_engine_restart_timeout": "soon"},
        {"docker_engine_restart_timeout": True},
        {"docker_engine_restart_timeout": None},
        {"docker_engine_log_opts": None},
        {"docker_engine_log_opts": {}},
    ],
    ids=repr,
)
def test_engine_values_of_the_wrong_type_are_left_to_the_argument_spec(changes):
    # The spec (dict, list, int) refuses them before the role decides anything.
    assert engine_errors({**ENGINE, **changes}) == []


def test_every_bad_engine_value_gets_its_own_message():
    bad = {
        "docker_engine_daemon_options": {},
        "docker_engine_registry_mirrors": [],
        "docker_engine_restart_timeout": -1,
        "docker_engine_log_opts": {"max-file": 3},
    }
    errors = engine_errors(bad)
    assert [e.split(maxsplit=1)[0] for e in errors] == [
        "docker_engine_restart_timeout",
        "docker_engine_log_opts",
    ]


# ------------------------------------------------ docker_engine's proxy variables

PROXY_FIX = "Give the proxy as http:// or https://, a host and a port, e.g. http://proxy.lab:3128."


@pytest.mark.parametrize("name", ["docker_engine_http_proxy", "docker_engine_https_proxy"])
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("proxy.lab:3128", "'proxy.lab:3128' does not start with http:// or https://"),
        ("proxy.lab", "'proxy.lab' does not start with http:// or https://"),
        ("socks5://proxy.lab:1080", "'socks5://proxy.lab:1080' does not start with http:// or https://"),
        ("http://", "'http://' names no host"),
        (
            "http://proxy.lab:port",
            "'http://proxy.lab:port' is not a URL (Port could not be cast to integer value as 'port')",
        ),
        (
            "http://proxy.lab:3128/?x=1",
            "'http://proxy.lab:3128/?x=1' has a query or a fragment, which a proxy URL cannot have",
        ),
        (3128, "3128 is not a string"),
        ("http://proxy lab:3128", "'http://proxy lab:3128' has a space, which a URL cannot have"),
        (" http://proxy.lab:3128", "' http://proxy.lab:3128' has a space, which a URL cannot have"),
    ],
)
def test_a_proxy_that_is_no_url_is_named_with_the_fix(name, value, why):
    assert engine_errors({**ENGINE, name: value}) == [f"{name}: {why}. {PROXY_FIX}"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("http://proxy.lab:3128\n", "contains a newline, which a drop-in line cannot hold"),
        ("http://proxy.lab:3128\nEnvironment=X=1", "contains a newline, which a drop-in line cannot hold"),
        ("http://proxy.lab:3128\t", "contains the control character '\\t', which a drop-in line cannot hold"),
    ],
)
def test_a_proxy_the_dropin_cannot_hold_is_named(value, why):
    # urlsplit drops newlines and tabs silently: they are refused before it.
    assert engine_errors({**ENGINE, "docker_engine_https_proxy": value}) == [
        f"docker_engine_https_proxy {why}."
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"docker_engine_http_proxy": "", "docker_engine_https_proxy": "", "docker_engine_no_proxy": []},
        {"docker_engine_http_proxy": None, "docker_engine_https_proxy": None, "docker_engine_no_proxy": None},
        {
            "docker_engine_http_proxy": "http://proxy.lab:3128",
            "docker_engine_https_proxy": "http://proxy.lab:3128",
        },
        {"docker_engine_https_proxy": "https://proxy.lab"},
        {"docker_engine_http_proxy": "http://user:p%40ss@proxy.lab:3128/"},
        {"docker_engine_http_proxy": "http://[fd00::1]:3128"},
        {"docker_engine_no_proxy": ["localhost", "127.0.0.1", ".lab", "10.0.0.0/8", "[::1]"]},
    ],
    ids=repr,
)
def test_good_proxy_values_pass(changes):
    assert engine_errors({**ENGINE, **changes}) == []


def test_no_proxy_entries_a_dropin_cannot_hold_are_named():
    assert engine_errors({**ENGINE, "docker_engine_no_proxy": ["localhost", "a\nb", 7]}) == [
        "docker_engine_no_proxy: the entry 'a\\nb' contains a newline, which a drop-in line cannot hold;"
        " the entry 7 is not a string: quote it. List host names, domains (.lab) and addresses or"
        " networks (10.0.0.0/8), e.g. [localhost, 127.0.0.1, .lab]."
    ]


def test_no_proxy_of_the_wrong_type_is_left_to_the_argument_spec():
    # A string is a list to the spec (split at commas); engine_plan reads it as the spec does.
    assert engine_errors({**ENGINE, "docker_engine_no_proxy": "localhost,.lab"}) == []
    assert engine_errors({**ENGINE, "docker_engine_no_proxy": {"a": 1}}) == []


def test_each_bad_proxy_variable_gets_its_own_message():
    errors = engine_errors(
        {
            **ENGINE,
            "docker_engine_http_proxy": "proxy.lab:3128",
            "docker_engine_https_proxy": "ftp://proxy.lab",
            "docker_engine_no_proxy": ["a\nb"],
        }
    )
    assert [e.split(maxsplit=1)[0] for e in errors] == [
        "docker_engine_http_proxy:",
        "docker_engine_https_proxy:",
        "docker_engine_no_proxy:",
    ]


ENGINE_MISSING = (
    "docker_access needs the docker_engine role earlier in the same play: it installs Docker and owns the"
    " restart handler this role notifies. Use roles: [dockerlab.docker.docker_engine,"
    " dockerlab.docker.docker_access] (as the playbook dockerlab.docker.site does)."
)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"role_names": ["dockerlab.docker.docker_access"]}, ENGINE_MISSING),
        ({"role_names": []}, ENGINE_MISSING),
        ({"role_names": None}, ENGINE_MISSING),
        ({"docker_access_tcp_port": 0}, "docker_access_tcp_port is '0'"),
        ({"docker_access_tcp_port": 70000}, "docker_access_tcp_port is '70000'"),
        ({"docker_access_tcp_port": "abc"}, "docker_access_tcp_port is 'abc'"),
        ({"docker_access_tcp_port": True}, "docker_access_tcp_port is 'True'"),
        ({"docker_access_tcp_address": "not an address!"}, "docker_access_tcp_address is 'not an address!'"),
        ({"docker_access_tcp_address": "10.0.0.300"}, "neither an IPv4 or IPv6 address nor a host name"),
        ({"docker_access_tcp_address": "-bad.example"}, "docker_access_tcp_address is '-bad.example'"),
        ({"docker_access_tcp": "insecure"}, "set docker_access_insecure_acknowledged: true"),
        (
            {"docker_access_tcp_held_by": "systemd", "docker_access_tcp_address": "docker.lab.example"},
            "docker_access_tcp_held_by is 'systemd' and docker_access_tcp_address is"
            " 'docker.lab.example', a host name, which systemd's ListenStream= cannot take",
        ),
        (
            {"docker_access_tcp": "insecure", "docker_access_insecure_acknowledged": "no"},
            "listen on 0.0.0.0:2375 with NO authentication",
        ),
    ],
)
def test_each_bad_access_value_is_named(changes, expected):
    errors = access_errors({**ACCESS, **changes})
    assert len(errors) == 1, errors
    assert expected in errors[0], errors


def test_without_docker_engine_in_the_play_the_message_says_how_to_play_both():
    assert access_errors({**ACCESS, "role_names": ["dockerlab.docker.docker_access"]}) == [ENGINE_MISSING]


@pytest.mark.parametrize(
    "changes",
    [
        {"docker_access_tcp_address": "127.0.0.1"},
        {"docker_access_tcp_address": "::"},
        {"docker_access_tcp_address": "fe80::1"},
        {"docker_access_tcp_address": "docker.lab.example"},
        # auto: dockerd holds a listener on a host name.
        {"docker_access_tcp_held_by": "auto", "docker_access_tcp_address": "docker.lab.example"},
        {"docker_access_tcp_held_by": "dockerd", "docker_access_tcp_address": "docker.lab.example"},
        {"docker_access_tcp_held_by": "systemd", "docker_access_tcp_address": "[::1]"},
        {
            "docker_access_tcp": "off",
            "docker_access_tcp_held_by": "systemd",
            "docker_access_tcp_address": "x",
        },
        {"docker_access_tcp_address": "localhost."},
        # The listener's own check (plugins/module_utils/_listener) takes brackets.
        {"docker_access_tcp_address": "[::1]"},
        {"docker_access_tcp_port": "2376"},
        {"docker_access_tcp_port": 65535},
        {"docker_access_tcp": "off", "docker_access_tcp_address": "anything at all"},
        {"docker_access_tcp": "insecure", "docker_access_insecure_acknowledged": True},
        {"docker_access_tcp": "insecure", "docker_access_insecure_acknowledged": "yes"},
        # docker_engine under its plain name (a copy of the role in a roles path), or in any order.
        {"role_names": ["docker_engine", "docker_access"]},
        {"role_names": ["dockerlab.docker.docker_access", "dockerlab.docker.docker_engine"]},
    ],
)
def test_good_access_values_are_fine(changes):
    assert access_errors({**ACCESS, **changes}) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"docker_access_users": "student"},
        {"docker_access_users": ["student", 7]},
        {"docker_access_users": None},
    ],
    ids=repr,
)
def test_docker_access_users_are_left_to_the_argument_spec(changes):
    # The spec (a list of str) refuses them; the filter does not read them.
    assert access_errors({**ACCESS, **changes}) == []


@pytest.mark.parametrize(
    ("role_names", "expected"),
    [
        (["dockerlab.docker.docker_engine"], True),
        (["docker_engine"], True),
        (["dockerlab.docker.docker_access", "dockerlab.docker.docker_engine"], True),
        # A role of another collection by the same name is docker_engine too: the play's.
        (["acme.lab.docker_engine"], True),
        (["dockerlab.docker.docker_access", "dockerlab.docker.flask_app"], False),
        (["docker_engine_extra"], False),
        (["my_docker_engine"], False),
        (["dockerlab.docker_engine.other"], False),
        (["docker"], False),
        ([], False),
        (None, False),
        ((), False),
    ],
)
def test_engine_in_play_is_any_role_named_docker_engine(role_names, expected):
    assert access_checks.engine_in_play(role_names) is expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"flask_app_host_port": 0}, "flask_app_host_port is '0'"),
        ({"flask_app_host_port": "70000"}, "flask_app_host_port is '70000'"),
        ({"flask_app_host_port": -1}, "flask_app_host_port is '-1'"),
        ({"flask_app_container_port": 65536}, "flask_app_container_port is '65536'"),
        ({"flask_app_container_port": "0"}, "flask_app_container_port is '0'"),
        ({"flask_app_bind_address": "localhost"}, "flask_app_bind_address is 'localhost', which is not"),
        ({"flask_app_bind_address": "0.0.0.0/0"}, "flask_app_bind_address is '0.0.0.0/0'"),
        ({"flask_app_wait_timeout": 0}, "flask_app_wait_timeout is '0'"),
        ({"flask_app_wait_timeout": "-3"}, "flask_app_wait_timeout is '-3'"),
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


@pytest.mark.parametrize(
    "changes",
    [
        {"flask_app_container_port": "http"},
        {"flask_app_host_port": None},
        {"flask_app_host_port": True},
        {"flask_app_host_port": "13.37"},
        {"flask_app_wait_timeout": None},
        {"flask_app_wait_timeout": "soon"},
    ],
    ids=repr,
)
def test_flask_values_that_are_no_number_are_left_to_the_argument_spec(changes):
    # The spec (int) refuses them before the role decides anything.
    assert flask_errors({**FLASK, **changes}) == []


# ------------------------------------------------------- through Ansible

ROLES_PLAY = """\
- hosts: localhost
  gather_facts: false
  roles:
    # Only loaded: their defaults and vars, none of their tasks.
    ROLES
  tasks:
    - name: Print the roles' input errors, and the play's roles
      ansible.builtin.debug:
        msg: "<{{ {'engine': _docker_engine_plan.input_errors | default(none),
                   'access': _docker_access_checks.input_errors,
                   'flask': _flask_app_plan.input_errors, 'roles': ansible_role_names} | to_json }}>"
"""
ALL_ROLES = ("docker_engine", "docker_access", "flask_app")


def _input_errors(tmp_path, extra_vars, roles=ALL_ROLES):
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars))
    listed = "\n    ".join(f"- {{role: dockerlab.docker.{role}, when: false}}" for role in roles)
    (tmp_path / "play.yml").write_text(ROLES_PLAY.replace("ROLES", listed))
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
            "docker_engine_log_opts": {"max-file": 3},
            "docker_access_tcp_port": 70000,
            "docker_access_tcp_address": "not an address!",
            "flask_app_bind_address": "nowhere",
        },
    )
    assert [e.split(" must ", maxsplit=1)[0] for e in errors["engine"]] == ["docker_engine_log_opts"]
    assert [e.split(" is ", maxsplit=1)[0] for e in errors["access"]] == [
        "docker_access_tcp_port",
        "docker_access_tcp_address",
    ]
    assert "docker_access_tcp_port is '70000'" in errors["access"][0]
    assert [e.split(" is ", maxsplit=1)[0] for e in errors["flask"]] == ["flask_app_bind_address"]


def test_the_roles_defaults_are_fine_together(tmp_path):
    errors = _input_errors(tmp_path, {})
    assert (errors["engine"], errors["access"], errors["flask"]) == ([], [], [])
    # docker_engine is in the play's roles (loaded, though skipped): docker_access finds it there.
    assert set(errors["roles"]) == {f"dockerlab.docker.{role}" for role in ALL_ROLES}


def test_docker_access_without_docker_engine_in_the_play_is_named(tmp_path):
    errors = _input_errors(tmp_path, {}, roles=("docker_access", "flask_app"))
    assert errors["engine"] is None  # not in the play
    assert errors["flask"] == []
    assert errors["access"] == [ENGINE_MISSING]


def test_docker_engine_gives_its_proxy_variables_to_its_filter(tmp_path):
    errors = _input_errors(tmp_path, {"docker_engine_http_proxy": "proxy.lab:3128"})
    assert errors["engine"] == [
        "docker_engine_http_proxy: 'proxy.lab:3128' does not start with http:// or https://. " + PROXY_FIX
    ]


# ------------------------------------------- the host, as docker_host_facts read it

host_errors = access_checks.host_errors


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
    errors = host_errors(_read(dict.fromkeys(missing)), _host_vars(tmp_path, docker_access_users=missing))
    assert errors == [f"{expected} Create the user(s) first or remove them from the list."]


def test_restricted_users_that_do_not_exist_are_named(tmp_path):
    (tmp_path / "ca-key.pem").write_text("key")
    variables = _host_vars(tmp_path, docker_access_restricted_users=["ghost"])
    errors = host_errors(_read({"ghost": None}), variables)
    assert errors == [
        "docker_access_restricted_users lists ghost, who does not exist on lab1."
        " Create the user(s) first or remove them from the list."
    ]


def test_a_revoked_user_gone_from_the_host_is_no_error(tmp_path):
    # The read asks for revoked users' bundles too; they need not exist.
    (tmp_path / "ca-key.pem").write_text("key")
    assert host_errors(_read({"former": None}), _host_vars(tmp_path, docker_access_users=["student"])) == []


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


# --------------------------------------------- docker_access's preflight, in one call

checks = access_checks.access_checks
# The role's request (its vars/main.yml): its bundle users, their ~/.docker
# files, and the host's TLS directory and files.
REQUEST = {
    "users": ["student", "root"],
    "user_files": [".docker", ".docker/ca.pem", ".docker/cert.pem", ".docker/key.pem"],
    "files": ["/etc/docker/tls", "/etc/docker/tls/ca.pem"],
}
ENGINE_REQUEST = {
    "packages": ["docker.io"],
    "daemon_json": "/etc/docker/daemon.json",
    "files": ["/etc/docker"],
}


def _check_vars(tmp_path, **changes):
    (tmp_path / "ca-key.pem").write_text("key")
    return {
        **ACCESS,
        **_host_vars(tmp_path),
        "request": REQUEST,
        "reserved_keys": ["hosts", "tls", "tlsverify"],
        **changes,
    }


def _covering_read(**daemon_json):
    """docker_engine's read of the play, made with this role's request too."""
    read = _read()
    read["files"]["/etc/docker/tls"] = {"exists": True}
    read["daemon_json"] = {"config": daemon_json}
    read["requested"] = merge([ENGINE_REQUEST, REQUEST], base={"daemon_json": "/etc/docker/daemon.json"})
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
    # Every field is documented, and nothing else.
    assert sorted(result) == sorted(yaml.safe_load(access_checks.RETURN)["_value"]["contains"])


@pytest.mark.parametrize(
    "changes",
    [
        {"users": [*REQUEST["users"], "alice"]},
        {"files": [*REQUEST["files"], "/etc/other"]},
        {"user_files": [*REQUEST["user_files"], ".docker/extra.pem"]},
    ],
    ids=["a-user", "a-file", "a-user-file"],
)
def test_what_the_read_did_not_cover_is_read_again(tmp_path, changes):
    result = checks(_covering_read(), _check_vars(tmp_path, request={**REQUEST, **changes}))
    assert result["reread_needed"] is True
    assert result["preflight_ok"] is False
    assert result["preflight_errors"] == []


def test_a_user_the_read_found_but_was_not_asked_for_is_read_again(tmp_path):
    # alice is in the read's users (whoever read them), but the read was not
    # made with a request for her: whether her bundle was read is unknown.
    read = _covering_read()
    read["users"]["alice"] = {"uid": 1001}
    result = checks(read, _check_vars(tmp_path, request={**REQUEST, "users": ["student", "alice"]}))
    assert result["reread_needed"] is True


def test_a_read_made_without_this_roles_request_is_read_again(tmp_path):
    read = {**_covering_read(), "requested": merge([ENGINE_REQUEST])}
    assert checks(read, _check_vars(tmp_path))["reread_needed"] is True
    read = {key: value for key, value in _covering_read().items() if key != "requested"}
    assert checks(read, _check_vars(tmp_path))["reread_needed"] is True


def test_before_any_read_the_role_reads_the_host(tmp_path):
    result = checks({}, _check_vars(tmp_path))
    assert result["input_errors"] == []
    assert result["reread_needed"] is True
    assert result["host_errors"] == []  # nothing to check them on yet
    assert result["reserved_conflict"] is False
    assert result["preflight_errors"] == []
    assert result["preflight_ok"] is False


def test_host_errors_are_only_looked_for_in_a_read(tmp_path):
    # The CA key is missing on the controller; only a read says the host trusts a CA.
    variables = _check_vars(tmp_path)
    (tmp_path / "ca-key.pem").unlink()
    assert checks({}, variables)["host_errors"] == []
    assert checks(_covering_read(), variables)["host_errors"][0].startswith("The CA key")


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


def test_without_docker_engine_in_the_play_nothing_is_read(tmp_path):
    result = checks(_covering_read(), _check_vars(tmp_path, role_names=["dockerlab.docker.docker_access"]))
    assert result["input_errors"] == [ENGINE_MISSING]
    assert (result["reread_needed"], result["host_errors"]) == (False, [])
    assert result["preflight_errors"] == [ENGINE_MISSING]
    assert result["preflight_ok"] is False


@pytest.mark.parametrize(
    ("mode", "port", "expected"),
    [
        ("tls", None, 2376),
        ("tls", "", 2376),
        ("insecure", None, 2375),
        ("off", None, 2376),
        ("tls", 12376, 12376),
    ],
)
def test_the_port_is_the_variable_or_dockers_convention(tmp_path, mode, port, expected):
    variables = _check_vars(
        tmp_path,
        docker_access_tcp=mode,
        docker_access_tcp_port=port,
        docker_access_insecure_acknowledged=True,
    )
    assert checks(_covering_read(), variables)["port"] == expected


def test_host_errors_are_refused(tmp_path):
    read = _covering_read()
    read["users"]["ghost"] = None
    result = checks(read, _check_vars(tmp_path, docker_access_users=["ghost"]))
    assert result["preflight_errors"] == result["host_errors"]
    assert "ghost" in result["host_errors"][0]


def test_the_filter_is_exposed():
    assert access_checks.FilterModule().filters() == {"access_checks": checks}

"""plugins/module_utils/_daemon_json: how daemon.json is parsed, merged and
written, one way for docker_daemon_config, docker_host_facts,
docker_host_audit and the filter engine_plan."""

import json

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import (
    DEFAULT_PATH,
    apply,
    merge,
    parse,
    render,
)


def test_the_default_path_is_dockers():
    assert DEFAULT_PATH == "/etc/docker/daemon.json"


@pytest.mark.parametrize(
    ("base", "overlay", "merged"),
    [
        ({}, {"a": 1}, {"a": 1}),
        ({"a": 1}, {}, {"a": 1}),
        ({"a": {"x": 1}}, {"a": {"y": 2}}, {"a": {"x": 1, "y": 2}}),
        ({"a": {"x": {"p": 1}}}, {"a": {"x": {"q": 2}}}, {"a": {"x": {"p": 1, "q": 2}}}),
        ({"a": {"x": 1}}, {"a": 5}, {"a": 5}),
        ({"a": 5}, {"a": {"x": 1}}, {"a": {"x": 1}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
    ],
)
def test_merge(base, overlay, merged):
    original = json.dumps(base)
    assert merge(base, overlay) == merged
    assert json.dumps(base) == original  # the base is not modified


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, {}), ("", {}), (" \n", {}), ('{"a": 1}', {"a": 1}), ('{"a": {"b": []}}', {"a": {"b": []}})],
)
def test_parse_accepts(text, expected):
    assert parse(text) == (expected, None)


def test_render_is_sorted_indented_and_ends_with_a_newline():
    assert (
        render({"b": 1, "a": {"d": 2, "c": 3}}) == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"live-restore": tru}', "is not valid JSON: Expecting value: line 1 column 18 (char 17)"),
        (
            "{'icc': false}",
            "is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ('["live-restore"]', "must hold a JSON object at the top level, not list"),
        ("null", "must hold a JSON object at the top level, not NoneType"),
        ('"debug"', "must hold a JSON object at the top level, not str"),
    ],
)
def test_parse_refuses_what_is_not_a_json_object_without_naming_the_path(text, error):
    assert parse(text) == (None, error)


def test_merge_reads_any_mapping_as_an_object():
    class Settings(dict):
        pass

    assert merge({"log-opts": Settings(a="1")}, {"log-opts": Settings(b="2")}) == {
        "log-opts": {"a": "1", "b": "2"}
    }


@pytest.mark.parametrize(
    ("current", "options", "remove_keys", "desired"),
    [
        ({"debug": True}, {"icc": False}, (), {"debug": True, "icc": False}),
        ({"userns-remap": "default", "debug": True}, {}, ["userns-remap"], {"debug": True}),
        ({"debug": True}, {"userns-remap": "default"}, ["userns-remap"], {"debug": True}),
        (
            {"log-opts": {"max-size": "1m"}},
            {"log-opts": {"max-file": "3"}},
            ["absent"],
            {"log-opts": {"max-size": "1m", "max-file": "3"}},
        ),
        ({"log-opts": {"max-size": "1m"}}, {}, ["max-size"], {"log-opts": {"max-size": "1m"}}),
    ],
)
def test_apply_merges_the_options_then_takes_the_removed_keys_out(current, options, remove_keys, desired):
    original = json.dumps(current)
    assert apply(current, options, remove_keys) == desired
    assert json.dumps(current) == original  # the current settings are not modified


# --- dockerd --validate's command line -----------------------------------------
VENDOR_ARGV = [
    "/usr/sbin/dockerd",
    "-H",
    "fd://",
    "--containerd=/run/containerd/containerd.sock",
    "$DOCKER_OPTS",
]


def test_validate_argv_keeps_the_units_flags_and_drops_unset_variables():
    from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import validate_argv

    assert validate_argv("/usr/sbin/dockerd", VENDOR_ARGV, "/run/c/daemon.json") == [
        "/usr/sbin/dockerd",
        "-H",
        "fd://",
        "--containerd=/run/containerd/containerd.sock",
        "--validate",
        "--config-file",
        "/run/c/daemon.json",
    ]


@pytest.mark.parametrize("reference", ["$DOCKER_OPTS", "${DOCKER_OPTS}", "$OPTS2"])
def test_validate_argv_drops_each_form_of_variable_reference(reference):
    from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import validate_argv

    assert reference not in validate_argv("dockerd", ["dockerd", "-H", "fd://", reference], "c")


def test_validate_argv_keeps_the_listener_flags_and_puts_the_candidate_last():
    from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import validate_argv

    argv = [
        *VENDOR_ARGV[:-1],
        "-H",
        "tcp://0.0.0.0:2376",
        "--tlsverify",
        "--config-file=/etc/docker/other.json",
    ]
    result = validate_argv("/usr/sbin/dockerd", argv, "/run/c/daemon.json")
    assert result[1:-3] == argv[1:]
    assert result[-3:] == ["--validate", "--config-file", "/run/c/daemon.json"]


def test_validate_argv_without_a_unit_is_dockerd_alone():
    from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import validate_argv

    assert validate_argv("/usr/sbin/dockerd", None, "c") == [
        "/usr/sbin/dockerd",
        "--validate",
        "--config-file",
        "c",
    ]


@pytest.mark.parametrize(
    ("current", "options", "replace", "expected"),
    [
        (
            {"log-opts": {"max-size": "1m"}},
            {"log-opts": {"tag": "x"}},
            ["log-opts"],
            {"log-opts": {"tag": "x"}},
        ),
        (
            {"log-opts": {"max-size": "1m"}},
            {"log-opts": {"tag": "x"}},
            [],
            {"log-opts": {"max-size": "1m", "tag": "x"}},
        ),
        ({"log-opts": {"max-size": "1m"}}, {}, ["log-opts"], {"log-opts": {"max-size": "1m"}}),
    ],
)
def test_apply_replaces_the_keys_named(current, options, replace, expected):
    assert apply(current, options, (), replace) == expected

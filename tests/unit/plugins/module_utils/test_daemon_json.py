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

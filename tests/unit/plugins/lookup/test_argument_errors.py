"""The lookup dockerlab.docker.argument_errors (plugins/lookup/), which tells
from the controller what ansible.builtin.validate_argument_spec would refuse:
through a real ansible-playbook, for the four roles' real preflight specs
(named as roles of this collection), it must report exactly what that action
reports, host by host, for good values, bad ones, and values that are
templates. This comparison is the proof that the lookup says what the action
says."""

import json
import re
import sys

import pytest
import yaml
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli

ROOT = ansible_cli.ROOT
LOOKUP = "dockerlab.docker.argument_errors"
ROLES = ("docker_engine", "docker_access", "flask_app", "breakout_lab")
SPECS = [str(ROOT / "roles" / role / "meta" / "argument_specs.yml") for role in ROLES]

# One lab host per case: its variables, and whether the action refuses them.
CASES = {
    "defaults": ({}, False),
    "good-values": (
        {
            "docker_access_users": ["alice", "bob"],
            "docker_access_tcp_port": "2376",
            "docker_engine_live_restore": "yes",
            "flask_app_healthcheck": {"interval": "5s"},
        },
        False,
    ),
    "good-templates": (
        {
            "who": "alice",
            "docker_access_users": ["{{ who }}", "{{ 'b' ~ 'ob' }}"],
            "docker_engine_registry_mirrors": "{{ ['http://m:5000'] }}",
            "flask_app_host_port": "{{ 1300 + 37 }}",
        },
        False,
    ),
    "not-a-bool": ({"docker_engine_live_restore": "maybe"}, True),
    "not-a-choice": ({"docker_access_tcp": "plaintext"}, True),
    "not-an-int": ({"docker_access_tcp_port": "abc"}, True),
    "not-a-list": ({"docker_engine_registry_mirrors": {"a": 1}}, True),
    "not-a-dict": ({"flask_app_healthcheck": ["interval=5s"]}, True),
    "bad-template": ({"who": "maybe", "breakout_lab_privileged_container": "{{ who }}"}, True),
    "several-roles": (
        {
            "docker_engine_icc": "sometimes",
            "docker_access_ca_days": "long",
            "flask_app_restart_policy": "never",
            "breakout_lab_privileged_state": "running",
        },
        True,
    ),
}

PLAYBOOK = [
    {
        "name": "Compare the lookup with validate_argument_spec",
        "hosts": "all",
        "gather_facts": False,
        "vars": {"roles": list(ROLES), "specs": SPECS},
        "tasks": [
            {
                "name": "The lookup, by the roles' names",
                "ansible.builtin.set_fact": {
                    "by_lookup": "{{ query('" + LOOKUP + "', *roles, entry_point='preflight') }}"
                },
            },
            {
                "name": "The action",
                "ansible.builtin.validate_argument_spec": {
                    "argument_spec": "{{ query('ansible.builtin.file', *specs) | map('from_yaml')"
                    " | map(attribute='argument_specs.preflight.options') | combine }}"
                },
                "register": "by_action",
                "ignore_errors": True,
            },
            {
                # A file per host: the json stdout callback is ansible.posix's in
                # ansible-core 2.19, and that collection is not everywhere the
                # tests run (ansible-test's venv has none).
                "name": "Both",
                "ansible.builtin.copy": {
                    "content": "{{ {'lookup': by_lookup, 'action': by_action.argument_errors | default([]),"
                    " 'failed': by_action is failed} | to_json }}",
                    "dest": "{{ results }}/{{ inventory_hostname }}.json",
                    "mode": "0644",
                },
            },
        ],
    }
]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """{case: {"lookup": [...], "action": [...], "failed": bool}} from one run."""
    temp = tmp_path_factory.mktemp("argument_errors")
    hosts = {
        case: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **values}
        for case, (values, _refused) in CASES.items()
    }
    (temp / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (temp / "compare.yml").write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
    results = temp / "results"
    results.mkdir()
    done = ansible_cli.run(
        "ansible-playbook",
        ["-i", "inventory.yml", "-e", f"results={results}", "compare.yml"],
        temp=temp,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    compared = {path.stem: json.loads(path.read_text()) for path in results.glob("*.json")}
    assert sorted(compared) == sorted(CASES), done.stdout[-3000:]
    return compared


def _same_words(messages):
    """The messages with Python class names left out: the action names the
    tagged containers Ansible hands it, the lookup the plain ones."""
    return [re.sub(r"<class '[\w.]+'>", "<class>", message) for message in messages]


@pytest.mark.parametrize("case", list(CASES))
def test_the_lookup_reports_what_the_action_reports(compared, case):
    refused = CASES[case][1]
    got = compared[case]
    assert got["failed"] is refused, got
    assert _same_words(got["lookup"]) == _same_words(got["action"])
    assert bool(got["lookup"]) is refused


def test_every_role_bad_value_is_named(compared):
    errors = " ".join(compared["several-roles"]["lookup"])
    for name in (
        "docker_engine_icc",
        "docker_access_ca_days",
        "flask_app_restart_policy",
        "breakout_lab_privileged_state",
    ):
        assert name in errors


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ("'/nonexistent'", ["cannot read the argument spec /nonexistent/meta/argument_specs.yml"]),
        ("'docker_engine', entry_point='nosuch'", ["has no argument_specs.nosuch"]),
        # A name is a role of this collection (wherever Ansible found it).
        ("'nosuch_role'", ["cannot read the argument spec /", "/roles/nosuch_role/meta/argument_specs.yml"]),
    ],
)
def test_a_wrong_spec_is_named(tmp_path, terms, expected):
    done = ansible_cli.debug_run(f"query('{LOOKUP}', {terms})", temp=tmp_path)
    assert done.returncode != 0
    output = " ".join((done.stdout + done.stderr).split())  # the callback may fold long lines
    assert f"{LOOKUP}: " in output
    for words in expected:
        assert words in output, done.stdout + done.stderr


def test_a_role_directory_is_a_path(tmp_path):
    # A term with a "/" is a role directory anywhere: the same role by its path.
    by_path = ansible_cli.debug(
        f"query('{LOOKUP}', '{ROOT / 'roles' / 'docker_engine'}', entry_point='preflight') | length",
        temp=tmp_path,
    )
    assert "msg: <0>\n" in by_path, by_path


def test_ansible_doc_renders_the_lookup(tmp_path):
    done = ansible_cli.run("ansible-doc", ["--json", "-t", "lookup", LOOKUP], temp=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)[LOOKUP]["doc"]
    assert doc["name"] == "argument_errors"
    assert set(doc["options"]) == {"_terms", "entry_point"}

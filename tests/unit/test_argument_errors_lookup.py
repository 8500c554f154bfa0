"""The lookup dockerlab_argument_errors (playbooks/lookup_plugins/), which
lets site.yml skip ansible.builtin.validate_argument_spec on hosts whose
values are fine: through a real ansible-playbook, for the four roles' real
preflight specs, it must report exactly what that action reports, host by
host, for good values, bad ones, and values that are templates."""

import json
import re
import sys

import ansible_cli
import pytest
import yaml

ROOT = ansible_cli.ROOT
LOOKUPS = ROOT / "playbooks" / "lookup_plugins"
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
        "vars": {"specs": SPECS},
        "tasks": [
            {
                "name": "The lookup",
                "ansible.builtin.set_fact": {
                    "by_lookup": "{{ query('dockerlab_argument_errors', *specs, entry_point='preflight') }}"
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
                "name": "Both",
                "ansible.builtin.debug": {
                    "msg": "{{ {'lookup': by_lookup, 'action': by_action.argument_errors | default([]),"
                    " 'failed': by_action is failed} }}"
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
        for case, (values, _) in CASES.items()
    }
    (temp / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (temp / "compare.yml").write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
    done = ansible_cli.run(
        "ansible-playbook",
        ["-i", "inventory.yml", "compare.yml"],
        temp=temp,
        lookup_plugins=LOOKUPS,
        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    return {case: result["msg"] for case, result in tasks[-1]["hosts"].items()}


def _same_words(messages):
    """The messages with Python class names left out: the action names the
    tagged containers Ansible hands it, the lookup the plain ones."""
    return [re.sub(r"<class '[\w.]+'>", "<class>", message) for message in messages]


@pytest.mark.parametrize("case", list(CASES))
def test_the_lookup_reports_what_the_action_reports(compared, case):
    _, refused = CASES[case]
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
        (
            "'/nonexistent/argument_specs.yml'",
            "cannot read the argument spec /nonexistent/argument_specs.yml",
        ),
        (f"'{SPECS[0]}', entry_point='nosuch'", "has no argument_specs.nosuch"),
    ],
)
def test_a_wrong_spec_is_named(tmp_path, terms, expected):
    done = ansible_cli.debug_run(
        f"query('dockerlab_argument_errors', {terms})", temp=tmp_path, lookup_plugins=LOOKUPS
    )
    assert done.returncode != 0
    assert expected in done.stdout + done.stderr


def test_ansible_doc_renders_the_lookup(tmp_path):
    done = ansible_cli.run(
        "ansible-doc",
        ["--json", "-t", "lookup", "dockerlab_argument_errors"],
        temp=tmp_path,
        lookup_plugins=LOOKUPS,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)["dockerlab_argument_errors"]["doc"]
    assert set(doc["options"]) == {"_terms", "entry_point"}

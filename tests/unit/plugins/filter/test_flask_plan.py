"""plugins/filter/flask_plan: which read flask_app decides on, what it
refuses, whether it reads again, and why the container is not as wanted, in
one call; and through Ansible, from the role and by its FQCN."""

import base64
import copy
import json
import re

import pytest
from ansible_collections.dockerlab.docker.plugins.filter import flask_plan
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli

plan = flask_plan.flask_plan

IMAGE = "digitalocean/flask-helloworld:latest"
IMAGE_ID = "sha256:" + "c" * 64
DIGEST = "sha256:" + "e" * 64
ANY_IPV4 = "0.0.0.0"  # noqa: S104 - an address compared, nothing binds here
# docker_host_facts' fact on a host that runs the container as wanted.
READ = {
    "containers": [
        {
            "name": "flaskapp",
            "state": "running",
            "published": [{"ip": ANY_IPV4, "port": 1337, "type": "tcp"}],
        }
    ],
    "images": {
        IMAGE: {
            "id": IMAGE_ID,
            "repo_digests": ["digitalocean/flask-helloworld@" + DIGEST],
            "registry_digest": DIGEST,
            "registry_error": "",
        }
    },
    "inspected": {
        "flaskapp": {
            "image_id": IMAGE_ID,
            "status": "running",
            "restart_policy": "unless-stopped",
            "port_bindings": {"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}]},
            "memory": 128 * 1024 * 1024,
            "cpu_shares": 512,
            "pids_limit": 100,
        }
    },
    "listening": {"1337": [{"address": ANY_IPV4, "process": "docker-proxy", "pid": 10}]},
}
VARIABLES = {
    "reread_ran": False,
    "restarted": False,
    "flask_app_image": IMAGE,
    "flask_app_name": "flaskapp",
    "flask_app_restart_policy": "unless-stopped",
    "flask_app_bind_address": ANY_IPV4,
    "flask_app_host_port": 1337,
    "flask_app_container_port": 5000,
    "flask_app_wait_timeout": 60,
    "flask_app_memory": "128m",
    "flask_app_cpu_shares": 512,
    "flask_app_pids_limit": 100,
    "flask_app_user": "65534:65534",
    "flask_app_cap_drop": ["ALL"],
    "flask_app_read_only": True,
    "flask_app_tmpfs": ["/tmp:rw,noexec,nosuid,size=16m"],  # noqa: S108 - a mount option, no file
    "flask_app_no_new_privileges": True,
    "flask_app_healthcheck": {},
}
# What the container converged with these settings is labelled with.
READ["inspected"]["flaskapp"]["labels"] = {
    "org.dockerlab.flask-settings": flask_plan.settings_hash(VARIABLES)
}


def _variables(**changes):
    return {**VARIABLES, **changes}


def test_a_host_that_runs_the_container_as_wanted_has_nothing_to_do():
    result = plan({"dockerlab": READ}, VARIABLES)
    assert result == {
        "input_errors": [],
        "settings_hash": flask_plan.settings_hash(VARIABLES),
        "covered": True,
        "facts": READ,
        "host_errors": [],
        "reread_needed": False,
        "drift": "",
        "preflight_errors": [],
        "preflight_ok": True,
    }


def test_other_settings_are_drift():
    assert plan({"dockerlab": READ}, _variables(flask_app_user="1000:1000"))["drift"] == (
        "the container was made with other settings"
    )
    assert plan({"dockerlab": READ}, _variables(flask_app_host_port=1400))["drift"] != ""


def test_a_read_that_did_not_cover_the_app_is_read_again_by_the_role():
    other = {**READ, "inspected": {}}
    result = plan({"dockerlab": other}, VARIABLES)
    assert result["covered"] is False
    assert result["preflight_ok"] is False
    assert result["reread_needed"] is True
    own = copy.deepcopy(READ)
    result = plan({"dockerlab": other, "_flask_app_host": own}, _variables(reread_ran=True))
    assert result["facts"] is own
    assert result["reread_needed"] is False
    assert result["drift"] == ""


def test_the_roles_own_read_wins_when_it_ran_last():
    own = copy.deepcopy(READ)
    own["inspected"]["flaskapp"]["status"] = "exited"
    result = plan({"dockerlab": READ, "_flask_app_host": own}, _variables(reread_ran=True))
    assert result["facts"] is own
    assert result["drift"] == "the container is exited"


def test_a_restart_in_this_run_means_reading_again():
    assert plan({"dockerlab": READ}, _variables(restarted=True))["reread_needed"] is True


def test_a_busy_port_is_refused():
    read = copy.deepcopy(READ)
    read["listening"]["1400"] = [{"address": ANY_IPV4, "process": "python3", "pid": 7}]
    result = plan({"dockerlab": read}, _variables(flask_app_host_port=1400))
    assert result["preflight_ok"] is False
    assert result["preflight_errors"][0].startswith("flask_app_host_port 1400 is already in use")


@pytest.mark.parametrize("facts", [{}, {"dockerlab": READ}])
def test_bad_inputs_come_first_and_nothing_else_is_decided(facts):
    result = plan(facts, _variables(flask_app_host_port="x", flask_app_cpu_shares="many"))
    assert result["preflight_errors"] == result["input_errors"]
    assert result["input_errors"][0].startswith("flask_app_host_port is 'x'")
    assert (result["host_errors"], result["drift"]) == ([], "")
    assert result["preflight_ok"] is False


# ------------------------------------------------------- through Ansible

# The label's definition before it moved into the filter: running containers
# carry hashes made this way, and a different one would recreate them all.
ORACLE = (
    "([flask_app_user, flask_app_cap_drop, flask_app_memory, flask_app_cpu_shares | int,"
    " flask_app_read_only | bool, flask_app_tmpfs, flask_app_no_new_privileges | bool,"
    " flask_app_healthcheck, flask_app_pids_limit | int] | to_json(sort_keys=true) | hash('sha256'))[:16]"
)
HASH_PLAY = """\
- hosts: localhost
  gather_facts: false
  roles:
    - {role: dockerlab.docker.flask_app, when: false}  # only loaded: its defaults and vars
  tasks:
    - name: Print the role's label and the oracle's
      ansible.builtin.debug:
        msg: "<{{ _flask_app_settings_hash }} {{ ORACLE }}>"
""".replace("ORACLE", ORACLE)


@pytest.mark.parametrize(
    "extra_vars",
    [
        {},
        {"flask_app_memory": "256m", "flask_app_cpu_shares": "1024", "flask_app_read_only": "no"},
        {"flask_app_cap_drop": ["NET_RAW", "ALL"], "flask_app_healthcheck": {}, "flask_app_user": "1000"},
        {
            "flask_app_tmpfs": ["/run:size=1m", "/var/cache:rw"],
            "flask_app_healthcheck": {"test": ["CMD", "true"]},
        },
    ],
)
def test_the_label_is_the_one_ansible_made_before(tmp_path, extra_vars):
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars))
    (tmp_path / "play.yml").write_text(HASH_PLAY)
    args = ["-i", "localhost,", "-c", "local", "-e", f"@{tmp_path / 'vars.json'}", str(tmp_path / "play.yml")]
    done = ansible_cli.run("ansible-playbook", args, temp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    label, oracle = done.stdout.split("msg: <", 1)[1].split(">", 1)[0].split()
    assert len(label) == 16
    assert label == oracle


PLAN_PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Print the plan, as base64 JSON (the stdout callback wraps long lines)
      ansible.builtin.debug:
        msg: "<{{ ansible_facts | dockerlab.docker.flask_plan(variables) | to_json | b64encode }}>"
"""


@pytest.mark.parametrize(
    ("status", "drift"),
    [("running", ""), ("exited", "the container is exited")],
    ids=["current", "exited"],
)
def test_the_filter_through_ansible(tmp_path, status, drift):
    # The fact arrives as Ansible has it (JSON); the ports as the role's
    # argument spec has them (int).
    read = copy.deepcopy(READ)
    read["inspected"]["flaskapp"]["status"] = status
    extra_vars = {"ansible_facts": {"dockerlab": read}, "variables": VARIABLES}
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars))
    (tmp_path / "play.yml").write_text(PLAN_PLAY)
    args = ["-i", "localhost,", "-c", "local", "-e", f"@{tmp_path / 'vars.json'}", str(tmp_path / "play.yml")]
    done = ansible_cli.run("ansible-playbook", args, temp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    encoded = re.search(r"msg: <([A-Za-z0-9+/=]*)>\n", done.stdout)
    assert encoded, done.stdout
    assert json.loads(base64.b64decode(encoded.group(1))) == plan({"dockerlab": read}, VARIABLES)
    assert plan({"dockerlab": read}, VARIABLES)["drift"] == drift

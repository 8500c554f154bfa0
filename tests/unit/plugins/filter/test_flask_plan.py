"""plugins/filter/flask_plan: whether the host read covers flask_app (its
request, from a daemon that answered and has not restarted since), what it
refuses, why the container is not as wanted, and whether it is current, in
one call; and through Ansible, from the role and by its FQCN."""

import base64
import copy
import json
import re

import pytest
import yaml
from ansible_collections.dockerlab.docker.plugins.filter import engine_plan, flask_plan
from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import merge
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli

plan = flask_plan.flask_plan

IMAGE = "digitalocean/flask-helloworld:latest"
IMAGE_ID = "sha256:" + "c" * 64
DIGEST = "sha256:" + "e" * 64
ANY_IPV4 = "0.0.0.0"  # noqa: S104 - an address compared, nothing binds here
# The role's request (its vars/main.yml, templated: the port is a string),
# and the other roles' of the play, which the play's read asks for too.
REQUEST = {"images": [IMAGE], "inspect": ["flaskapp"], "ports": ["1337"], "containers": True}
ENGINE_REQUEST = {
    "packages": ["docker.io", "python3-requests"],
    "daemon_json": "/etc/docker/daemon.json",
    "files": ["/etc/docker", "/etc/docker/daemon.json"],
}
ACCESS_REQUEST = {"users": ["student", "root"], "user_files": [".docker"], "files": ["/etc/docker/tls"]}
# docker_host_facts' fact on a host that runs the container as wanted, read
# for every role of the play.
READ = {
    "requested": merge(
        [ENGINE_REQUEST, ACCESS_REQUEST, REQUEST], base={"daemon_json": "/etc/docker/daemon.json"}
    ),
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
    "request": REQUEST,
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
    result = plan({"dockerlab": READ, "dockerlab_daemon_restarted": False}, VARIABLES)
    assert result == {
        "input_errors": [],
        "settings_hash": flask_plan.settings_hash(VARIABLES),
        "covered": True,
        "host_errors": [],
        "drift": "",
        "preflight_errors": [],
        "preflight_ok": True,
        "current": True,
        "read_needed": False,
        "daemon_answered": True,
    }
    # Every field is documented, and nothing else.
    assert sorted(result) == sorted(yaml.safe_load(flask_plan.RETURN)["_value"]["contains"])


def test_without_the_restarted_fact_the_read_is_current():
    # A read from before docker_host_facts set it: no restart known of.
    assert plan({"dockerlab": READ}, VARIABLES)["current"] is True


def test_other_settings_are_drift():
    assert plan({"dockerlab": READ}, _variables(flask_app_user="1000:1000"))["drift"] == (
        "the container was made with other settings"
    )
    assert plan({"dockerlab": READ}, _variables(flask_app_host_port=1400))["drift"] != ""


@pytest.mark.parametrize(
    "variables",
    [_variables(flask_app_user="1000:1000"), _variables(flask_app_memory="256m")],
    ids=["label", "memory"],
)
def test_drift_is_not_current_though_covered(variables):
    result = plan({"dockerlab": READ}, variables)
    assert (result["covered"], result["preflight_ok"]) == (True, True)
    assert result["drift"]
    assert result["current"] is False


def test_a_read_that_did_not_ask_about_the_app_does_not_cover_it():
    # The play's read without flask_app's request: the container was not inspected.
    other = {**READ, "requested": merge([ENGINE_REQUEST, ACCESS_REQUEST]), "inspected": {}}
    result = plan({"dockerlab": other}, VARIABLES)
    assert result["covered"] is False
    assert result["preflight_ok"] is False
    assert result["current"] is False
    assert result["drift"] == "not read yet"


@pytest.mark.parametrize(
    "request_",
    [
        {**REQUEST, "images": ["digitalocean/flask-helloworld:1.1"]},
        {**REQUEST, "inspect": ["flaskapp2"]},
        {**REQUEST, "ports": ["8080"]},
    ],
    ids=["another-image", "another-container", "another-port"],
)
def test_a_request_the_read_was_not_made_for_is_not_covered(request_):
    # Even where the read has an answer for it (from another read): only
    # what it was asked for counts.
    read = copy.deepcopy(READ)
    read["images"]["digitalocean/flask-helloworld:1.1"] = read["images"][IMAGE]
    read["inspected"]["flaskapp2"] = read["inspected"]["flaskapp"]
    read["listening"]["8080"] = []
    result = plan({"dockerlab": read}, _variables(request=request_))
    assert result["covered"] is False
    assert result["current"] is False


def test_a_read_without_the_containers_does_not_cover_the_app():
    read = {**READ, "requested": merge([{**REQUEST, "containers": False}])}
    assert plan({"dockerlab": read}, VARIABLES)["covered"] is False


def test_a_read_without_requested_covers_nothing():
    # E.g. a read from before requested was recorded: the role reads again.
    read = {key: value for key, value in READ.items() if key != "requested"}
    result = plan({"dockerlab": read}, VARIABLES)
    assert (result["covered"], result["preflight_ok"], result["current"]) == (False, False, False)
    assert result["drift"] == ""  # what the read shows is still as wanted


def test_the_requests_port_covers_as_a_string_or_an_int():
    for port in ("1337", 1337):
        assert plan({"dockerlab": READ}, _variables(request={**REQUEST, "ports": [port]}))["covered"] is True


def test_a_restart_since_the_read_makes_it_out_of_date():
    result = plan({"dockerlab": READ, "dockerlab_daemon_restarted": True}, VARIABLES)
    assert result["covered"] is False
    assert result["preflight_ok"] is False
    assert result["current"] is False
    # What the read showed is still compared: only the gates change.
    assert (result["drift"], result["host_errors"]) == ("", [])


def test_a_restart_makes_flask_plan_read_again_while_engine_plan_stays_covered():
    facts = {"dockerlab": READ, "dockerlab_daemon_restarted": True}
    engine_variables = {
        "host": "lab1",
        "file_modes": {"/etc/docker": "0755", "/etc/docker/daemon.json": "0644"},
        "request": ENGINE_REQUEST,
        "docker_engine_source": "distribution",
        "docker_engine_service_enabled": True,
        "docker_engine_live_restore": True,
        "docker_engine_icc": False,
        "docker_engine_no_new_privileges": True,
        "docker_engine_userland_proxy": False,
        "docker_engine_log_driver": "json-file",
        "docker_engine_log_opts": {"max-size": "10m", "max-file": "3"},
        "docker_engine_registry_mirrors": [],
        "docker_engine_userns_remap": "",
        "docker_engine_daemon_options": {},
        "docker_engine_restart_timeout": 60,
        "proxy_dropin": "/etc/systemd/system/docker.service.d/dockerlab-proxy.conf",
        "docker_engine_http_proxy": "",
        "docker_engine_https_proxy": "",
        "docker_engine_no_proxy": [],
    }
    # engine_plan takes the read itself, as the role passes it (ansible_facts.dockerlab).
    assert engine_plan.engine_plan(facts["dockerlab"], engine_variables)["covered"] is True
    assert plan(facts, VARIABLES)["covered"] is False
    assert plan({**facts, "dockerlab_daemon_restarted": False}, VARIABLES)["covered"] is True


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        ({"images": {}, "containers": []}, True),
        ({"images": {IMAGE: {}}, "containers": [{"name": "flaskapp"}]}, True),
        ({"images": None, "containers": []}, False),
        ({"images": {}, "containers": None}, False),
        ({"images": [], "containers": []}, False),
        ({"containers": []}, False),
        ({"images": {}}, False),
        ({}, False),
    ],
    ids=["empty-answers", "answers", "images-unknown", "containers-unknown", "images-not-a-dict",
         "no-images", "no-containers", "empty"],
)  # fmt: skip
def test_daemon_answered(read, expected):
    assert flask_plan.daemon_answered(read) is expected


@pytest.mark.parametrize(
    "unanswered",
    [{"images": None, "inspected": None}, {"containers": None}, {"images": None, "containers": None}],
    ids=["images", "containers", "both"],
)
def test_a_read_the_daemon_did_not_answer_does_not_cover_the_app(unanswered):
    result = plan({"dockerlab": {**READ, **unanswered}}, VARIABLES)
    assert result["covered"] is False
    assert result["preflight_ok"] is False
    assert result["current"] is False


def test_before_any_read_nothing_is_covered():
    for facts in ({}, {"dockerlab": None}, {"dockerlab": {}}, {"dockerlab_daemon_restarted": False}):
        result = plan(facts, VARIABLES)
        assert (result["covered"], result["preflight_ok"], result["current"]) == (False, False, False)
        assert result["drift"] == "the daemon did not answer"
        assert result["input_errors"] == []


def test_only_the_host_read_is_decided_on():
    # The role's own fact of before (_flask_app_host) is nobody's now.
    other = {**READ, "requested": merge([ENGINE_REQUEST]), "inspected": {}}
    stopped = copy.deepcopy(READ)
    stopped["inspected"]["flaskapp"]["status"] = "exited"
    result = plan({"dockerlab": other, "_flask_app_host": READ}, VARIABLES)
    assert (result["covered"], result["drift"]) == (False, "not read yet")
    result = plan({"dockerlab": READ, "_flask_app_host": stopped}, VARIABLES)
    assert (result["covered"], result["drift"], result["current"]) == (True, "", True)


def test_a_busy_port_is_refused():
    read = copy.deepcopy(READ)
    read["requested"] = merge([read["requested"], {"ports": [1400]}])
    read["listening"]["1400"] = [{"address": ANY_IPV4, "process": "python3", "pid": 7}]
    result = plan(
        {"dockerlab": read}, _variables(flask_app_host_port=1400, request={**REQUEST, "ports": ["1400"]})
    )
    assert result["covered"] is True
    assert result["preflight_ok"] is False
    assert result["preflight_errors"][0].startswith("flask_app_host_port 1400 is already in use")
    assert result["current"] is False


@pytest.mark.parametrize("process", ["docker-proxy", "dockerd"])
def test_dockers_own_listener_is_not_called_busy_when_the_daemon_did_not_answer(process):
    # An authorization plugin that does not answer blocks the daemon: the
    # read has no containers, and the port is perhaps the role's own container's.
    read = copy.deepcopy(READ)
    read.update(containers=None, images=None, inspected=None, daemon_blocked=["dockerlab-authz: gone"])
    read["listening"]["1337"] = [{"address": "127.0.0.1", "process": process, "pid": 10}]
    result = plan({"dockerlab": read}, VARIABLES)
    assert (result["daemon_answered"], result["host_errors"]) == (False, [])
    # Another program on the port is refused all the same.
    read["listening"]["1337"].append({"address": ANY_IPV4, "process": "python3", "pid": 7})
    result = plan({"dockerlab": read}, VARIABLES)
    assert result["host_errors"][0].startswith(
        "flask_app_host_port 1337 is already in use on this host by python3"
    )
    # Answered, dockerd on the port without a container of the role's is in the way.
    read = copy.deepcopy(READ)
    read["inspected"] = {"flaskapp": None}
    read["listening"]["1337"] = [{"address": "127.0.0.1", "process": process, "pid": 10}]
    assert plan({"dockerlab": read}, VARIABLES)["host_errors"][0].startswith(
        "flask_app_host_port 1337 is already"
    )


@pytest.mark.parametrize("facts", [{}, {"dockerlab": READ}])
def test_bad_inputs_come_first_and_nothing_else_is_decided(facts):
    result = plan(facts, _variables(flask_app_host_port=0, flask_app_cpu_shares="many"))
    assert result["preflight_errors"] == result["input_errors"]
    assert result["input_errors"][0].startswith("flask_app_host_port is '0'")
    assert (result["host_errors"], result["drift"], result["settings_hash"]) == ([], "", "")
    assert result["preflight_ok"] is False
    assert result["current"] is False


@pytest.mark.parametrize(
    "changes",
    [{"flask_app_host_port": "x"}, {"flask_app_container_port": None}, {"flask_app_wait_timeout": "soon"}],
    ids=["host-port", "container-port", "wait-timeout"],
)
def test_a_value_that_is_no_number_is_left_to_the_argument_spec(changes):
    # The role's argument spec (type int) refuses it before the filter runs.
    assert plan({"dockerlab": READ}, _variables(**changes))["input_errors"] == []


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
        msg: "<{{ _flask_app_plan.settings_hash }} {{ ORACLE }}>"
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
    ("status", "restarted", "drift", "current"),
    [
        ("running", False, "", True),
        ("exited", False, "the container is exited", False),
        ("running", True, "", False),
    ],
    ids=["current", "exited", "restarted"],
)
def test_the_filter_through_ansible(tmp_path, status, restarted, drift, current):
    # The facts arrive as Ansible has them (JSON); the ports as the role's
    # argument spec has them (int), the request's as its vars template them.
    read = copy.deepcopy(READ)
    read["inspected"]["flaskapp"]["status"] = status
    facts = {"dockerlab": read, "dockerlab_daemon_restarted": restarted}
    extra_vars = {"ansible_facts": facts, "variables": VARIABLES}
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars))
    (tmp_path / "play.yml").write_text(PLAN_PLAY)
    args = ["-i", "localhost,", "-c", "local", "-e", f"@{tmp_path / 'vars.json'}", str(tmp_path / "play.yml")]
    done = ansible_cli.run("ansible-playbook", args, temp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    encoded = re.search(r"msg: <([A-Za-z0-9+/=]*)>\n", done.stdout)
    assert encoded, done.stdout
    result = plan(facts, VARIABLES)
    assert json.loads(base64.b64decode(encoded.group(1))) == result
    assert (result["drift"], result["covered"], result["current"]) == (drift, not restarted, current)


def test_the_read_is_needed_where_it_does_not_cover_the_app_and_the_inputs_are_fine():
    assert plan({}, VARIABLES)["read_needed"] is True
    assert plan({"dockerlab": READ, "dockerlab_daemon_restarted": True}, VARIABLES)["read_needed"] is True
    assert plan({"dockerlab": READ}, VARIABLES)["read_needed"] is False
    wrong = {**VARIABLES, "flask_app_host_port": 70000}
    assert plan({}, wrong)["read_needed"] is False


def test_a_daemon_that_did_not_answer_the_read_is_said_so():
    """A host whose Docker is not installed or not running yet: the read has
    no images and no containers (a check run then says what it would deploy)."""
    assert plan({"dockerlab": READ}, VARIABLES)["daemon_answered"] is True
    unanswered = {**READ, "images": {}, "containers": None}
    assert plan({"dockerlab": unanswered}, VARIABLES)["daemon_answered"] is False
    assert plan({}, VARIABLES)["daemon_answered"] is False

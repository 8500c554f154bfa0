"""plugins/filter/engine_plan: what docker_engine refuses and does on a
host, from docker_host_facts' read. Whether the read covers the role's
request (else the role reads the host itself); a converged host has nothing
to do; each difference engine.yml acts on, alone, makes ``todo`` true and
shows in its own field; the merge is docker_daemon_config's own
(plugins/module_utils/_daemon_json, which both use), and what the filter
predicts is what the module writes."""

import copy
import hashlib
import json

import pytest
import yaml
from ansible_collections.dockerlab.docker.plugins.filter import engine_plan
from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import apply
from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import covers, merge
from ansible_collections.dockerlab.docker.plugins.modules import (
    docker_daemon_config,
    docker_daemon_environment,
)
from ansible_collections.dockerlab.docker.plugins.modules.docker_host_facts import file_state
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli

plan = engine_plan.engine_plan

MODES = {"/etc/docker": "0755", "/etc/docker/daemon.json": "0644"}
# The role's _docker_engine_proxy_dropin.
PROXY_DROPIN = "/etc/systemd/system/docker.service.d/dockerlab-proxy.conf"
# The role's request (its vars/main.yml): the packages of its source and the
# support packages, daemon.json, the files of _docker_engine_file_modes and
# the proxy drop-in.
PACKAGES = {
    "distribution": ["docker.io", "python3-requests"],
    "upstream": ["docker-ce", "docker-ce-cli", "containerd.io", "python3-requests"],
}
REQUEST = {
    "packages": PACKAGES["distribution"],
    "daemon_json": "/etc/docker/daemon.json",
    "files": [*MODES, PROXY_DROPIN],
}
# The other roles' requests, which the read of a play asks for too.
ACCESS_REQUEST = {"users": ["student", "root"], "user_files": [".docker"], "files": ["/etc/docker/tls"]}
FLASK_REQUEST = {
    "images": ["digitalocean/flask-helloworld:latest"],
    "inspect": ["flaskapp"],
    "ports": ["1337"],
    "containers": True,
}
# The role's defaults (defaults/main.yml) and what vars/main.yml adds.
VARIABLES = {
    "host": "lab1",
    "file_modes": MODES,
    "request": REQUEST,
    "docker_engine_source": "distribution",
    "docker_engine_service_enabled": True,
    "docker_engine_live_restore": True,
    "docker_engine_icc": False,
    "docker_engine_no_new_privileges": True,
    "docker_engine_userland_proxy": False,
    "docker_engine_log_driver": "journald",
    "docker_engine_log_opts": {},
    "docker_engine_registry_mirrors": [],
    "docker_engine_userns_remap": "",
    "docker_engine_daemon_options": {},
    "docker_engine_restart_timeout": 60,
    "proxy_dropin": PROXY_DROPIN,
    "docker_engine_http_proxy": "",
    "docker_engine_https_proxy": "",
    "docker_engine_no_proxy": [],
}
OPTIONS = {
    "live-restore": True,
    "icc": False,
    "no-new-privileges": True,
    "userland-proxy": False,
    "log-driver": "journald",
}
# A key set by hand, which the merge keeps.
CONVERGED_JSON = {**OPTIONS, "data-root": "/srv/docker"}


def _facts(**changes):
    facts = {
        "packages": {"docker.io": "20.10.24", "python3-requests": "2.28.1"},
        "service": {"exists": True, "active": True, "enabled": True},
        "daemon_json": {"exists": True, "valid": True, "error": "", "config": copy.deepcopy(CONVERGED_JSON)},
        "files": {
            "/etc/docker": {"exists": True, "mode": "0755", "uid": 0, "gid": 0},
            "/etc/docker/daemon.json": {"exists": True, "mode": "0644", "uid": 0, "gid": 0},
            PROXY_DROPIN: {"exists": False},
        },
        "stash_pending": [],
        "proc_sys_writable": True,
        # docker_host_facts' read of the play: every role's request, as
        # docker_host_facts merges them (its daemon_json option first).
        "requested": merge(
            [REQUEST, ACCESS_REQUEST, FLASK_REQUEST], base={"daemon_json": "/etc/docker/daemon.json"}
        ),
    }
    facts.update(changes)
    return facts


def _variables(**changes):
    return {**VARIABLES, **changes}


def test_a_converged_host_has_nothing_to_do():
    result = plan(_facts(), VARIABLES)
    assert result == {
        "covered": True,
        "read_needed": False,
        "input_errors": [],
        "options": OPTIONS,
        "removed_keys": ["userns-remap", "log-opts"],
        "replaced_keys": [],
        "config_suspect": False,
        "host_errors": [],
        "preflight_errors": [],
        "preflight_ok": True,
        "missing_packages": [],
        "enabled_differs": False,
        "daemon_config": CONVERGED_JSON,
        "config_differs": False,
        "loose_files": [],
        "proxy_environment": {},
        "proxy_sha256": "",
        "proxy_differs": False,
        "todo": False,
    }
    # Every field is documented, and nothing else.
    assert sorted(result) == sorted(yaml.safe_load(engine_plan.RETURN)["_value"]["contains"])


@pytest.mark.parametrize(
    ("facts", "field", "expected"),
    [
        (
            _facts(packages={"docker.io": None, "python3-requests": "2.28.1"}),
            "missing_packages",
            ["docker.io"],
        ),
        (_facts(service={"exists": True, "active": True, "enabled": False}), "enabled_differs", True),
        (
            _facts(files={"/etc/docker": {"exists": True, "mode": "0777", "uid": 0, "gid": 0}}),
            "loose_files",
            ["/etc/docker"],
        ),
    ],
)
def test_each_difference_is_work(facts, field, expected):
    result = plan(facts, VARIABLES)
    assert result[field] == expected
    assert result["todo"] is True


def test_a_stopped_daemon_or_an_owed_restart_is_work():
    assert plan(_facts(service={"exists": True, "active": False, "enabled": True}), VARIABLES)["todo"] is True
    assert plan(_facts(stash_pending=["/etc/docker/daemon.json"]), VARIABLES)["todo"] is True


def test_upstream_always_runs_its_tasks():
    assert plan(_facts(), _variables(docker_engine_source="upstream"))["todo"] is True


@pytest.mark.parametrize(
    ("changes", "key", "value"),
    [
        ({"docker_engine_icc": True}, "icc", True),
        ({"docker_engine_live_restore": "no"}, "live-restore", False),
        ({"docker_engine_registry_mirrors": ["http://m:5000"]}, "registry-mirrors", ["http://m:5000"]),
        ({"docker_engine_userns_remap": "default"}, "userns-remap", "default"),
        ({"docker_engine_daemon_options": {"debug": True}}, "debug", True),
        # The user's options win over the role's, object by object.
        (
            {"docker_engine_daemon_options": {"log-opts": {"max-file": "5"}}},
            "log-opts",
            {"max-file": "5"},
        ),
        (
            {
                "docker_engine_log_driver": "json-file",
                "docker_engine_log_opts": {"max-size": "10m"},
                "docker_engine_daemon_options": {"log-opts": {"max-file": "5"}},
            },
            "log-opts",
            {"max-size": "10m", "max-file": "5"},
        ),
        ({"docker_engine_daemon_options": {"icc": True}}, "icc", True),
    ],
)
def test_a_setting_that_differs_changes_daemon_json(changes, key, value):
    result = plan(_facts(), _variables(**changes))
    assert result["daemon_config"][key] == value
    assert result["daemon_config"]["data-root"] == "/srv/docker"  # set by hand, kept
    assert result["config_differs"] is True
    assert result["todo"] is True


JSON_FILE_HOST = {
    **CONVERGED_JSON,
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "3"},
}


def test_a_host_on_json_file_moves_to_journald_without_the_old_options():
    # A json-file max-size left under journald makes dockerd refuse to start.
    facts = _facts(daemon_json={"exists": True, "valid": True, "error": "", "config": JSON_FILE_HOST})
    result = plan(facts, VARIABLES)
    assert result["daemon_config"] == CONVERGED_JSON
    assert (result["config_differs"], result["todo"]) == (True, True)


def test_the_roles_log_options_replace_the_files():
    facts = _facts(daemon_json={"exists": True, "valid": True, "error": "", "config": JSON_FILE_HOST})
    result = plan(
        facts, _variables(docker_engine_log_driver="json-file", docker_engine_log_opts={"max-size": "5m"})
    )
    assert result["replaced_keys"] == ["log-opts"]
    assert result["daemon_config"]["log-opts"] == {"max-size": "5m"}


def test_userns_remap_is_removed_unless_it_is_set():
    facts = _facts()
    facts["daemon_json"]["config"]["userns-remap"] = "default"
    result = plan(facts, VARIABLES)
    assert "userns-remap" not in result["daemon_config"]
    assert result["config_differs"] is True
    kept = plan(facts, _variables(docker_engine_daemon_options={"userns-remap": "default"}))
    assert kept["removed_keys"] == ["log-opts"]
    assert kept["config_differs"] is False


@pytest.mark.parametrize(
    ("current", "options"),
    [
        ({}, OPTIONS),
        ({"log-opts": {"max-size": "1m", "labels": "a"}, "debug": True}, {"log-opts": {"max-size": "10m"}}),
        (
            {"default-ulimits": {"nofile": {"Hard": 1, "Soft": 1}}},
            {"default-ulimits": {"nofile": {"Soft": 2}}},
        ),
        ({"registry-mirrors": ["a", "b"]}, {"registry-mirrors": ["c"]}),
        ({"log-opts": "not an object"}, {"log-opts": {"max-size": "10m"}}),
    ],
)
def test_the_merge_is_the_modules(current, options):
    facts = _facts(daemon_json={"exists": True, "valid": True, "error": "", "config": current})
    result = plan(facts, _variables(docker_engine_daemon_options=options, docker_engine_userns_remap="x"))
    assert result["daemon_config"] == apply(
        current, result["options"], result["removed_keys"], result["replaced_keys"]
    )


@pytest.mark.parametrize(
    ("current", "changes"),
    [
        ({}, {}),
        (CONVERGED_JSON, {}),
        ({**CONVERGED_JSON, "userns-remap": "default"}, {}),
        ({"log-opts": {"max-size": "1m", "labels": "a"}, "debug": True}, {"docker_engine_icc": True}),
        ({"data-root": "/srv/docker"}, {"docker_engine_daemon_options": {"log-opts": {"max-file": "5"}}}),
        (JSON_FILE_HOST, {}),
        (
            JSON_FILE_HOST,
            {"docker_engine_log_driver": "json-file", "docker_engine_log_opts": {"max-size": "5m"}},
        ),
    ],
)
def test_what_the_plan_predicts_is_what_docker_daemon_config_writes(run_module, tmp_path, current, changes):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(current))
    facts = _facts(daemon_json={"exists": True, "valid": True, "error": "", "config": copy.deepcopy(current)})
    result = plan(facts, _variables(**changes))
    written = run_module(
        docker_daemon_config,
        {
            "path": str(path),
            "stash_dir": str(tmp_path / "stash"),
            "options": result["options"],
            "remove_keys": result["removed_keys"],
            "replace_keys": result["replaced_keys"],
        },
    )
    assert "failed" not in written, written
    assert written["changed"] is result["config_differs"]
    assert json.loads(path.read_text()) == result["daemon_config"]


@pytest.mark.parametrize(
    ("facts", "changes"),
    [
        (_facts(daemon_json={"exists": True, "valid": False, "error": "bad", "config": {}}), {}),
        (
            _facts(daemon_json={"exists": True, "valid": True, "error": "", "config": {"hosts": ["fd://"]}}),
            {},
        ),
        (_facts(), {"docker_engine_daemon_options": {"hosts": ["tcp://0.0.0.0:2375"]}}),
    ],
)
def test_a_suspect_daemon_json_is_left_to_the_module_to_explain(facts, changes):
    result = plan(facts, _variables(**changes))
    assert result["config_suspect"] is True
    assert result["preflight_ok"] is False


def test_userland_proxy_off_on_a_read_only_proc_sys_is_refused():
    result = plan(_facts(proc_sys_writable=False), VARIABLES)
    assert result["preflight_ok"] is False
    assert len(result["preflight_errors"]) == 1
    assert result["preflight_errors"][0].startswith(
        "docker_engine_userland_proxy is false, but /proc/sys is read-only on lab1"
    )
    fine = plan(_facts(proc_sys_writable=False), _variables(docker_engine_userland_proxy=True))
    assert fine["preflight_ok"] is True
    # Through the options too: what daemon.json will say is what counts.
    fine = plan(
        _facts(proc_sys_writable=False), _variables(docker_engine_daemon_options={"userland-proxy": True})
    )
    assert fine["preflight_ok"] is True


def test_before_the_host_read_only_the_inputs_are_checked():
    result = plan({}, _variables(docker_engine_restart_timeout=0))
    assert result["preflight_errors"] == result["input_errors"]
    assert len(result["input_errors"]) == 1
    assert result["config_suspect"] is False
    assert plan({}, VARIABLES)["preflight_errors"] == []


def test_bad_inputs_leave_the_options_empty_and_come_first():
    result = plan(_facts(proc_sys_writable=False), _variables(docker_engine_log_opts={"max-file": 3}))
    assert result["options"] == {}
    assert result["preflight_errors"] == result["input_errors"]
    assert result["input_errors"][0].startswith("docker_engine_log_opts must be a dict of strings")
    assert result["preflight_ok"] is False


@pytest.mark.parametrize("timeout", ["soon", True, None, "1.5", [60]], ids=repr)
def test_a_timeout_that_is_no_number_is_left_to_the_argument_spec(timeout):
    # The role's argument spec (type int) refuses it before the filter runs.
    result = plan(_facts(), _variables(docker_engine_restart_timeout=timeout))
    assert result["input_errors"] == []
    assert result["preflight_ok"] is True


# ------------------------------------------------------- covered: the play's read


def test_before_the_host_read_nothing_is_covered():
    assert plan({}, VARIABLES)["covered"] is False


def test_a_read_made_for_this_role_alone_covers_it():
    facts = _facts(requested=merge([REQUEST], base={"daemon_json": "/etc/docker/daemon.json"}))
    assert plan(facts, VARIABLES)["covered"] is True


UPSTREAM = {"docker_engine_source": "upstream", "request": {**REQUEST, "packages": PACKAGES["upstream"]}}


@pytest.mark.parametrize(
    ("requested", "changes"),
    [
        # Another role read the host without docker_engine's request.
        (merge([ACCESS_REQUEST, FLASK_REQUEST], base={"daemon_json": "/etc/docker/daemon.json"}), {}),
        # The distribution's packages read, the upstream ones wanted.
        (merge([REQUEST]), UPSTREAM),
        (merge([{**REQUEST, "packages": ["docker.io"]}]), {}),
        (merge([{**REQUEST, "files": ["/etc/docker"]}]), {}),
        (merge([{**REQUEST, "daemon_json": "/srv/docker/daemon.json"}]), {}),
        (None, {}),
    ],
    ids=["other-roles-only", "other-source", "a-package-missing", "a-file-missing", "other-daemon-json",
         "no-requested"],
)  # fmt: skip
def test_a_read_that_did_not_ask_for_the_roles_request_does_not_cover_it(requested, changes):
    assert plan(_facts(requested=requested), _variables(**changes))["covered"] is False


def test_a_read_with_the_upstream_packages_covers_the_upstream_source():
    facts = _facts(requested=merge([UPSTREAM["request"], ACCESS_REQUEST]))
    assert plan(facts, _variables(**UPSTREAM))["covered"] is True


def test_covered_is_covers_of_the_request():
    facts = _facts()
    for request in (REQUEST, {**REQUEST, "packages": ["docker-ce"]}, {"packages": []}):
        assert plan(facts, _variables(request=request))["covered"] is covers(facts, request)


def test_the_roles_request_stays_covered_after_a_restart():
    # The daemon's answers are out of date after a restart; the packages,
    # daemon.json and the files the role decides on are not the daemon's.
    facts = _facts()
    assert covers(facts, REQUEST, restarted=True) is True
    assert covers(facts, FLASK_REQUEST, restarted=True) is False
    assert plan(facts, VARIABLES)["covered"] is True


def test_input_errors_do_not_change_what_is_covered():
    result = plan(_facts(), _variables(docker_engine_restart_timeout=0))
    assert result["input_errors"]
    assert result["covered"] is True


# ------------------------------------------------- missing_packages: the request's


def test_missing_packages_are_the_requests_not_installed_in_its_order():
    facts = _facts(packages={"python3-requests": None, "docker.io": None})
    assert plan(facts, VARIABLES)["missing_packages"] == ["docker.io", "python3-requests"]


def test_a_package_the_read_did_not_report_is_missing():
    result = plan(_facts(packages={"python3-requests": "2.28.1"}), VARIABLES)
    assert result["missing_packages"] == ["docker.io"]
    assert result["todo"] is True
    assert plan({}, VARIABLES)["missing_packages"] == REQUEST["packages"]


def test_packages_read_for_others_but_not_requested_are_not_missing():
    # Another request (or another source's packages) read with the play's read.
    facts = _facts(packages={"docker.io": "20.10.24", "python3-requests": "2.28.1", "docker-ce": None})
    assert plan(facts, VARIABLES)["missing_packages"] == []
    upstream = _variables(
        docker_engine_source="upstream", request={**REQUEST, "packages": PACKAGES["upstream"]}
    )
    assert plan(facts, upstream)["missing_packages"] == ["docker-ce", "docker-ce-cli", "containerd.io"]


def test_the_filter_is_exposed():
    assert engine_plan.FilterModule().filters() == {"engine_plan": plan}


def test_the_read_is_needed_where_it_does_not_cover_the_role_and_the_inputs_are_fine():
    assert plan({}, VARIABLES)["read_needed"] is True
    assert plan(_facts(), VARIABLES)["read_needed"] is False
    wrong = {**VARIABLES, "docker_engine_restart_timeout": 0}
    assert plan({}, wrong)["read_needed"] is False


# ------------------------------------------- proxy_differs: the proxy drop-in

PROXY = {
    "docker_engine_http_proxy": "http://proxy.lab:3128",
    "docker_engine_https_proxy": "http://proxy.lab:3128",
    "docker_engine_no_proxy": ["localhost", ".lab"],
}
PROXY_ENVIRONMENT = {
    "HTTP_PROXY": "http://proxy.lab:3128",
    "http_proxy": "http://proxy.lab:3128",
    "HTTPS_PROXY": "http://proxy.lab:3128",
    "https_proxy": "http://proxy.lab:3128",
    "NO_PROXY": "localhost,.lab",
    "no_proxy": "localhost,.lab",
}
# The drop-in docker_daemon_environment writes for PROXY_ENVIRONMENT, as a text.
PROXY_TEXT = (
    "# Managed by Ansible (docker_daemon_environment): manual changes will be lost.\n"
    "[Service]\n"
    'Environment="HTTPS_PROXY=http://proxy.lab:3128"\n'
    'Environment="HTTP_PROXY=http://proxy.lab:3128"\n'
    'Environment="NO_PROXY=localhost,.lab"\n'
    'Environment="http_proxy=http://proxy.lab:3128"\n'
    'Environment="https_proxy=http://proxy.lab:3128"\n'
    'Environment="no_proxy=localhost,.lab"\n'
)
PROXY_SHA256 = hashlib.sha256(PROXY_TEXT.encode()).hexdigest()


def _with_dropin(state):
    facts = _facts()
    facts["files"][PROXY_DROPIN] = state
    return facts


def test_the_proxy_variables_make_the_dropins_environment():
    result = plan(_facts(), _variables(**PROXY))
    assert result["proxy_environment"] == PROXY_ENVIRONMENT
    assert result["proxy_sha256"] == PROXY_SHA256


def test_no_proxy_and_no_dropin_is_nothing_to_do():
    result = plan(_facts(), VARIABLES)
    assert (result["proxy_environment"], result["proxy_sha256"]) == ({}, "")
    assert result["proxy_differs"] is False
    assert result["todo"] is False


@pytest.mark.parametrize(
    ("dropin", "changes", "differs"),
    [
        # The drop-in as wanted: the read's sha256 is the text's.
        ({"exists": True, "sha256": PROXY_SHA256, "mode": "0644"}, PROXY, False),
        # Another text (another proxy, or edited by hand).
        ({"exists": True, "sha256": "0" * 64, "mode": "0644"}, PROXY, True),
        # Wanted and missing.
        ({"exists": False}, PROXY, True),
        # There and no longer wanted: removed.
        ({"exists": True, "sha256": PROXY_SHA256, "mode": "0644"}, {}, True),
        # A drop-in that could not be read (no sha256) is left to the module.
        ({"exists": True, "sha256": None}, PROXY, True),
        ({"exists": True, "directory": True, "mode": "0755"}, PROXY, True),
    ],
    ids=["as-wanted", "other-text", "missing", "no-longer-wanted", "unreadable", "a-directory"],
)
def test_proxy_differs_from_the_reads_sha256_of_the_dropin(dropin, changes, differs):
    result = plan(_with_dropin(dropin), _variables(**changes))
    assert result["proxy_differs"] is differs
    assert result["todo"] is differs


def test_only_the_drop_in_of_proxy_dropin_counts():
    facts = _facts()
    facts["files"]["/etc/systemd/system/docker.service.d/other.conf"] = {"exists": True, "sha256": "1" * 64}
    assert plan(facts, VARIABLES)["proxy_differs"] is False
    moved = _variables(**PROXY, proxy_dropin="/etc/systemd/system/docker.service.d/other.conf")
    assert plan(facts, moved)["proxy_differs"] is True


def test_no_proxy_from_a_comma_separated_string_is_the_same_list():
    # -e docker_engine_no_proxy=localhost,.lab: the argument spec reads a list.
    result = plan(_facts(), _variables(**{**PROXY, "docker_engine_no_proxy": "localhost,.lab"}))
    assert result["proxy_sha256"] == PROXY_SHA256


def test_only_no_proxy_still_makes_a_dropin():
    result = plan(_facts(), _variables(docker_engine_no_proxy=["localhost"]))
    assert result["proxy_environment"] == {"NO_PROXY": "localhost", "no_proxy": "localhost"}
    assert result["proxy_differs"] is True


def test_a_bad_proxy_is_an_input_error_and_no_environment():
    result = plan(_facts(), _variables(**{**PROXY, "docker_engine_http_proxy": "proxy.lab:3128"}))
    assert result["input_errors"][0].startswith("docker_engine_http_proxy: 'proxy.lab:3128' does not start")
    assert result["preflight_ok"] is False
    assert result["proxy_environment"] == {}


def test_a_read_without_the_dropin_does_not_cover_the_role():
    facts = _facts(requested=merge([{**REQUEST, "files": list(MODES)}]))
    assert plan(facts, VARIABLES)["covered"] is False


@pytest.mark.parametrize(
    ("before", "changes"),
    [
        (None, PROXY),
        (None, {}),
        (PROXY_TEXT, PROXY),
        (PROXY_TEXT, {}),
        (PROXY_TEXT, {**PROXY, "docker_engine_no_proxy": ["localhost"]}),
        ("[Service]\nEnvironment=HTTP_PROXY=http://old.lab:8080\n", PROXY),
        (PROXY_TEXT, {"docker_engine_https_proxy": "https://u:p%40ss@proxy.lab:3129"}),
    ],
)
def test_what_the_plan_predicts_is_what_docker_daemon_environment_writes(
    run_module, tmp_path, before, changes
):
    systemd = tmp_path / "systemd"
    dropin = systemd / "docker.service.d" / "dockerlab-proxy.conf"
    if before is not None:
        dropin.parent.mkdir(parents=True)
        dropin.write_text(before)
    # The plan decides on the host read (docker_host_facts' own file_state).
    result = plan(_with_dropin(file_state(str(dropin))), _variables(**changes))
    written = run_module(
        docker_daemon_environment,
        {
            "environment": result["proxy_environment"],
            "systemd_dir": str(systemd),
            "stash_dir": str(tmp_path / "stash"),
        },
    )
    assert "failed" not in written, written
    assert written["changed"] is result["proxy_differs"]
    assert written["sha256"] == result["proxy_sha256"]
    # Read again, the host is as wanted.
    assert plan(_with_dropin(file_state(str(dropin))), _variables(**changes))["proxy_differs"] is False


PROXY_PLAY = """\
- hosts: localhost
  gather_facts: false
  roles:
    - role: dockerlab.docker.docker_engine
      when: false  # only loaded: its defaults and vars, none of its tasks
  tasks:
    - name: Print the role's proxy fields (of its plan)
      ansible.builtin.debug:
        msg: "<{{ _docker_engine_plan | dict2items | selectattr('key', 'match', 'proxy_')
                  | items2dict | to_json }}>"
"""


@pytest.mark.parametrize(("sha256", "differs"), [(PROXY_SHA256, False), ("0" * 64, True)])
def test_the_role_gives_its_proxy_variables_and_its_dropin_to_the_filter(tmp_path, sha256, differs):
    # The read of the drop-in the role names (_docker_engine_proxy_dropin),
    # with the text the role's variables make, or another.
    facts = _with_dropin({"exists": True, "sha256": sha256, "mode": "0644"})
    extra = {"ansible_facts": {"dockerlab": facts}, **PROXY, "docker_engine_no_proxy": "localhost,.lab"}
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    (tmp_path / "play.yml").write_text(PROXY_PLAY)
    args = ["-i", "localhost,", "-c", "local", "--check", "-e", f"@{tmp_path / 'vars.json'}"]
    done = ansible_cli.run("ansible-playbook", [*args, str(tmp_path / "play.yml")], temp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    printed = done.stdout.split("ok: [localhost] => ", 1)[1].split("\nPLAY RECAP", 1)[0]
    fields = json.loads(yaml.safe_load(printed)["msg"][1:-1])
    assert fields == {
        "proxy_environment": PROXY_ENVIRONMENT,
        "proxy_sha256": PROXY_SHA256,
        "proxy_differs": differs,
    }

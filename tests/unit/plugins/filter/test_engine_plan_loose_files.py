"""plugins/filter/engine_plan's loose_files: which of the files docker_engine
owns exist with another mode or owner, on ``files`` shaped as
docker_host_facts reports them (and as it reports real temporary files), and
the filter engine_plan, which reports them, through Ansible from the role and
by its FQCN without it."""

import copy
import json
import os

import pytest
from ansible_collections.dockerlab.docker.plugins.filter import engine_plan
from ansible_collections.dockerlab.docker.plugins.modules.docker_host_facts import file_state
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli

loose_files = engine_plan.loose_files

# The role's _docker_engine_file_modes.
MODES = {"/etc/docker": "0755", "/etc/docker/daemon.json": "0644"}

# docker_host_facts' ``files`` on a host where both are as wanted.
CURRENT = {
    "/etc/docker": {"exists": True, "directory": True, "mode": "0755", "uid": 0, "gid": 0},
    "/etc/docker/daemon.json": {
        "exists": True,
        "directory": False,
        "sha256": "a" * 64,
        "inputs": None,
        "mode": "0644",
        "uid": 0,
        "gid": 0,
    },
}


def _files(**changes):
    """CURRENT with fields of daemon.json replaced (``daemon__mode="0600"``)
    or those of /etc/docker (``dir__uid=1000``)."""
    files = copy.deepcopy(CURRENT)
    for key, value in changes.items():
        which, _sep, field = key.partition("__")
        files["/etc/docker" if which == "dir" else "/etc/docker/daemon.json"][field] = value
    return files


def test_files_as_wanted_are_not_loose():
    assert loose_files(MODES, CURRENT) == []


@pytest.mark.parametrize("mode", ["0600", "0640", "0664", "0666", "0755", "4644"])
def test_another_mode_is_loose(mode):
    assert loose_files(MODES, _files(daemon__mode=mode)) == ["/etc/docker/daemon.json"]


@pytest.mark.parametrize("mode", ["0700", "0775", "0777", "1755", "2755"])
def test_a_directory_with_another_mode_is_loose(mode):
    assert loose_files(MODES, _files(dir__mode=mode)) == ["/etc/docker"]


@pytest.mark.parametrize(
    ("uid", "gid"),
    [(1000, 0), (0, 1000), (1000, 1000), (0, 999), (None, 0), (0, None)],
    ids=["user", "group", "both", "docker-group", "uid-unknown", "gid-unknown"],
)
def test_another_owner_is_loose(uid, gid):
    assert loose_files(MODES, _files(daemon__uid=uid, daemon__gid=gid)) == ["/etc/docker/daemon.json"]


def test_a_right_mode_with_another_owner_and_the_reverse_are_both_loose():
    files = _files(dir__uid=1000, daemon__mode="0600")
    assert loose_files(MODES, files) == ["/etc/docker", "/etc/docker/daemon.json"]


@pytest.mark.parametrize(
    "state",
    [{"exists": False}, None, {}, {"exists": False, "mode": "0600", "uid": 1000}],
    ids=["missing", "null", "empty", "missing-with-other-fields"],
)
def test_a_missing_path_is_not_returned(state):
    files = _files(dir__mode="0700")
    files["/etc/docker/daemon.json"] = state
    assert loose_files(MODES, files) == ["/etc/docker"]


def test_a_path_not_read_is_not_returned():
    files = _files(daemon__mode="0600")
    del files["/etc/docker/daemon.json"]
    assert loose_files(MODES, files) == []


def test_paths_read_but_not_asked_for_are_ignored():
    files = {**CURRENT, "/etc/docker/certs.d": {"exists": True, "mode": "0777", "uid": 1000, "gid": 1000}}
    assert loose_files(MODES, files) == []


@pytest.mark.parametrize(
    ("modes", "files"),
    [(None, CURRENT), ({}, CURRENT), (MODES, None), (MODES, {}), (None, None)],
    ids=["modes-null", "modes-empty", "files-null", "files-empty", "both-null"],
)
def test_no_modes_or_no_files_is_nothing_loose(modes, files):
    assert loose_files(modes, files) == []


def test_the_result_is_sorted_by_path():
    modes = {"/z": "0644", "/etc/docker/daemon.json": "0644", "/a": "0644", "/etc/docker": "0755"}
    loose = {"exists": True, "mode": "0600", "uid": 0, "gid": 0}
    files = {path: loose for path in modes}
    assert loose_files(modes, files) == ["/a", "/etc/docker", "/etc/docker/daemon.json", "/z"]


def test_the_inputs_are_not_modified():
    modes, files = copy.deepcopy(MODES), _files(daemon__mode="0600")
    before = (copy.deepcopy(modes), copy.deepcopy(files))
    loose_files(modes, files)
    assert (modes, files) == before


def test_on_real_files_as_docker_host_facts_reads_them(tmp_path):
    # Created by this (possibly unprivileged) user: their owner is root only
    # when the tests run as root.
    directory = tmp_path / "docker"
    directory.mkdir()
    directory.chmod(0o755)
    daemon_json = directory / "daemon.json"
    daemon_json.write_text("{}\n")
    daemon_json.chmod(0o600)
    modes = {str(directory): "0755", str(daemon_json): "0644", str(directory / "missing.json"): "0644"}
    files = {path: file_state(path) for path in modes}
    as_root = os.geteuid() == 0 and os.getegid() == 0
    expected = [str(daemon_json)] if as_root else [str(directory), str(daemon_json)]
    assert loose_files(modes, files) == expected
    daemon_json.chmod(0o644)
    files = {path: file_state(path) for path in modes}
    assert loose_files(modes, files) == ([] if as_root else [str(directory), str(daemon_json)])


def test_filter_module_exposes_the_filter():
    # loose_files is no filter of its own: engine_plan's loose_files field is it.
    assert engine_plan.FilterModule().filters() == {"engine_plan": engine_plan.engine_plan}


# ------------------------------------------------------- through Ansible


def _playbook(tmp_path, plays, facts):
    """Run ``plays`` (YAML text) with the fact ``dockerlab`` loaded from JSON;
    the role and the filters come from the collection, by their FQCN, and no
    ANSIBLE_FILTER_PLUGINS is set."""
    # As docker_host_facts leaves it: under ansible_facts (an extra var wins
    # over the facts Ansible would gather, of which there are none here).
    (tmp_path / "vars.json").write_text(json.dumps({"ansible_facts": {"dockerlab": facts}}))
    (tmp_path / "play.yml").write_text(plays)
    # Check mode, and the role's own tasks skipped: nothing runs.
    args = ["-i", "localhost,", "-c", "local", "--check", "-e", f"@{tmp_path / 'vars.json'}"]
    return ansible_cli.run("ansible-playbook", [*args, str(tmp_path / "play.yml")], temp=tmp_path)


ROLE_PLAY = """\
- hosts: localhost
  gather_facts: false
  roles:
    - role: dockerlab.docker.docker_engine
      when: false  # only loaded: its defaults and vars, none of its tasks
  tasks:
    - name: Print the role's loose files (the field of its plan)
      ansible.builtin.debug:
        msg: "<{{ _docker_engine_plan.loose_files | to_json }}>"
"""


def test_the_filter_loads_in_the_role_and_its_vars_use_it(tmp_path):
    facts = {"files": _files(daemon__mode="0666", dir__gid=999)}
    done = _playbook(tmp_path, ROLE_PLAY, facts)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = json.dumps(["/etc/docker", "/etc/docker/daemon.json"])
    assert f"msg: <{expected}>\n" in done.stdout, done.stdout
    assert "skipping: [localhost]" in done.stdout  # the role's tasks did not run


NO_ROLE_PLAY = """\
- hosts: localhost
  gather_facts: false
  vars:
    # The variables engine_plan needs, as the role's defaults and vars give them.
    engine_variables:
      host: lab1
      file_modes: {/etc/docker: "0755"}
      request: {packages: [docker.io], daemon_json: /etc/docker/daemon.json, files: [/etc/docker]}
      docker_engine_source: distribution
      docker_engine_service_enabled: true
      docker_engine_live_restore: true
      docker_engine_icc: false
      docker_engine_no_new_privileges: true
      docker_engine_userland_proxy: false
      docker_engine_log_driver: json-file
      docker_engine_log_opts: {}
      docker_engine_registry_mirrors: []
      docker_engine_userns_remap: ""
      docker_engine_daemon_options: {}
      docker_engine_restart_timeout: 60
      proxy_dropin: /etc/systemd/system/docker.service.d/dockerlab-proxy.conf
      docker_engine_http_proxy: ""
      docker_engine_https_proxy: ""
      docker_engine_no_proxy: []
  tasks:
    - name: Use the filter without the role
      ansible.builtin.debug:
        msg: "<{{ (ansible_facts.dockerlab | FILTER(engine_variables)).loose_files | to_json }}>"
"""


def test_without_the_role_the_filter_is_known_by_its_fqcn(tmp_path):
    # The counterpart of the test above: the filter is the collection's, not the role's.
    play = NO_ROLE_PLAY.replace("FILTER", "dockerlab.docker.engine_plan")
    done = _playbook(tmp_path, play, {"files": _files(dir__mode="0777")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"msg: <{json.dumps(['/etc/docker'])}>\n" in done.stdout, done.stdout


@pytest.mark.parametrize("name", ["dockerlab_loose_files", "dockerlab.docker.loose_files", "engine_plan"])
def test_a_filter_by_another_name_is_unknown(tmp_path, name):
    # Neither the filter's old name, nor loose_files (engine_plan's field now),
    # nor engine_plan without the collection's name is a filter.
    done = _playbook(tmp_path, NO_ROLE_PLAY.replace("FILTER", name), {"files": CURRENT})
    assert done.returncode != 0
    output = " ".join((done.stdout + done.stderr).split())  # the YAML callback folds lines
    assert f"No filter named ''{name}''" in output, done.stdout + done.stderr

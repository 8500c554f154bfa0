"""plugins/modules/docker_daemon_config: merging into a real daemon.json in a temp dir
(how the file is parsed, merged and rendered: test_daemon_json.py)."""

import base64
import json
import os
import shutil

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._files import Stash
from ansible_collections.dockerlab.docker.plugins.modules import docker_daemon_config

HOSTS_CONFLICT = "specified both as a flag and in the configuration file"


@pytest.fixture
def paths(tmp_path):
    return tmp_path / "docker" / "daemon.json", tmp_path / "stash"


@pytest.fixture
def run(run_module, paths):
    config, stash = paths

    def run_config(options=None, *, check_mode=False, diff=False, **args):
        return run_module(
            docker_daemon_config,
            {"path": str(config), "stash_dir": str(stash), "options": options or {}, **args},
            check_mode=check_mode,
            diff=diff,
        )

    return run_config


def write(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path.read_bytes()


def test_creates_a_missing_file_with_the_options(run, paths):
    config = paths[0]
    result = run({"live-restore": True})
    assert result["changed"] is True
    assert config.read_text() == '{\n  "live-restore": true\n}\n'
    assert os.stat(config).st_mode & 0o7777 == 0o644
    assert result["config"] == {"live-restore": True}
    assert result["changed_keys"] == ["live-restore"]


def test_merge_keeps_keys_set_by_hand(run, paths):
    config = paths[0]
    write(config, '{"debug": true, "log-level": "warn"}\n')
    result = run({"live-restore": True, "log-level": "info"})
    assert json.loads(config.read_text()) == {"debug": True, "live-restore": True, "log-level": "info"}
    assert result["changed_keys"] == ["live-restore", "log-level"]


def test_nested_objects_are_merged_key_by_key(run, paths):
    config = paths[0]
    write(config, '{"log-driver": "json-file", "log-opts": {"max-size": "10m", "labels": "x"}}\n')
    result = run({"log-opts": {"max-size": "20m", "max-file": "3"}})
    assert json.loads(config.read_text())["log-opts"] == {"labels": "x", "max-file": "3", "max-size": "20m"}
    assert result["changed_keys"] == ["log-opts"]


def test_lists_are_replaced_not_appended(run, paths):
    config = paths[0]
    write(config, '{"registry-mirrors": ["http://old:5000"]}\n')
    run({"registry-mirrors": ["http://dockerlab-registry:5000"]})
    assert json.loads(config.read_text()) == {"registry-mirrors": ["http://dockerlab-registry:5000"]}


def test_second_run_reports_no_change(run, paths):
    config = paths[0]
    run({"live-restore": True, "log-opts": {"max-size": "10m"}})
    written = config.read_bytes()
    result = run({"live-restore": True, "log-opts": {"max-size": "10m"}})
    assert result["changed"] is False
    assert result["changed_keys"] == []
    assert config.read_bytes() == written


@pytest.mark.parametrize(
    "text",
    [
        '{"live-restore":true,"log-level":"info"}',
        '{\n    "log-level": "info",\n    "live-restore": true\n}\n',
        '{"log-level": "info", "live-restore": true}\r\n',
    ],
)
def test_formatting_only_differences_do_not_rewrite_the_file(run, paths, text):
    config, stash = paths
    before = write(config, text)
    mtime = os.stat(config).st_mtime_ns
    result = run({"live-restore": True, "log-level": "info"}, diff=True)
    assert result["changed"] is False
    assert config.read_bytes() == before
    assert os.stat(config).st_mtime_ns == mtime
    assert result["diff"]["before"] == result["diff"]["after"]
    assert not stash.exists()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"live-restore": tru}', "Expecting value: line 1 column 18 (char 17)"),
        (
            "{'live-restore': true}",
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ('{"log-level": "info"', "Expecting ',' delimiter: line 1 column 21 (char 20)"),
        ("live-restore: true\n", "Expecting value: line 1 column 1 (char 0)"),
        ('{"a": 1}\n{"b": 2}\n', "Extra data: line 2 column 1 (char 9)"),
    ],
)
def test_invalid_json_fails_naming_the_path_and_the_error_and_keeps_the_file(run, paths, text, error):
    config, stash = paths
    before = write(config, text)
    result = run({"live-restore": True})
    assert result["failed"] is True
    assert (
        result["msg"] == f"{config} is not valid JSON: {error}. Fix or remove the file; nothing was changed."
    )
    assert config.read_bytes() == before
    assert not stash.exists()


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[]\n", "list"), ('["live-restore"]', "list"), ('"text"', "str"), ("42", "int"), ("null", "NoneType")],
)
def test_a_top_level_that_is_not_an_object_fails_and_keeps_the_file(run, paths, text, kind):
    config = paths[0]
    before = write(config, text)
    result = run({})
    assert result["failed"] is True
    assert result["msg"] == (
        f"{config} must hold a JSON object at the top level, not {kind}. "
        "Fix or remove the file; nothing was changed."
    )
    assert config.read_bytes() == before


@pytest.mark.parametrize("text", ["", "\n", "   \n\t"])
def test_an_empty_file_counts_as_an_empty_object(run, paths, text):
    config = paths[0]
    write(config, text)
    assert run({})["changed"] is False
    assert run({"debug": True})["config"] == {"debug": True}


def test_hosts_in_the_file_is_refused_and_the_file_kept(run, paths):
    config, stash = paths
    before = write(config, '{"hosts": ["tcp://0.0.0.0:2375"], "debug": true}\n')
    result = run({"live-restore": True})
    assert result["failed"] is True
    assert result["msg"].startswith(
        f"""{config} sets 'hosts' (["tcp://0.0.0.0:2375"]), which this configuration manages elsewhere: """
    )
    assert HOSTS_CONFLICT in result["msg"]
    assert result["msg"].endswith(
        f"Remove 'hosts' from {config} (to keep a TCP listener, configure it with "
        "docker_access_tcp_* instead). Nothing was changed."
    )
    assert config.read_bytes() == before
    assert not stash.exists()


def test_hosts_in_the_options_is_refused_and_nothing_written(run, paths):
    config, stash = paths
    result = run({"hosts": ["unix:///var/run/docker.sock"]})
    assert result["failed"] is True
    assert result["msg"].startswith("The options set 'hosts', which this configuration manages elsewhere: ")
    assert HOSTS_CONFLICT in result["msg"]
    assert result["msg"].endswith("Remove 'hosts' from docker_engine_daemon_options. Nothing was changed.")
    assert not config.exists()
    assert not stash.exists()


def test_hosts_in_both_places_reports_both(run, paths):
    config = paths[0]
    write(config, '{"hosts": []}')
    msg = run({"hosts": []})["msg"]
    assert msg.count(HOSTS_CONFLICT) == 2
    assert msg.index(f"{config} sets 'hosts'") < msg.index("The options set 'hosts'")


@pytest.mark.parametrize("key", ["tls", "tlsverify", "tlscacert", "tlscert", "tlskey"])
def test_tls_keys_are_refused_when_reserved(run, paths, key):
    config = paths[0]
    before = write(config, json.dumps({key: True}))
    result = run({key: True}, reserved_keys=["hosts", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey"])
    assert result["failed"] is True
    reason = (
        "the TLS listener is configured by flags in the docker.service drop-in, and dockerd "
        "refuses to start when a directive is set both as a flag and in the configuration file"
    )
    assert (
        f"{config} sets '{key}' (true), which this configuration manages elsewhere: {reason}."
        in result["msg"]
    )
    assert f"The options set '{key}', which this configuration manages elsewhere: {reason}." in result["msg"]
    assert config.read_bytes() == before


def test_tls_keys_are_allowed_when_not_reserved(run, paths):
    config = paths[0]
    result = run({"tlsverify": True})
    assert result["changed"] is True
    assert json.loads(config.read_text()) == {"tlsverify": True}


def test_a_reserved_key_without_a_known_reason_is_refused_plainly(run, paths):
    result = run({"debug": True}, reserved_keys=["debug"])
    assert result["msg"] == (
        "The options set 'debug', which this configuration manages elsewhere. "
        "Remove 'debug' from docker_engine_daemon_options. Nothing was changed."
    )


def test_check_mode_reports_the_change_and_writes_nothing(run, paths):
    config, stash = paths
    before = write(config, '{"debug": true}\n', 0o600)
    result = run({"live-restore": True}, check_mode=True)
    assert result["changed"] is True
    assert result["config"] == {"debug": True, "live-restore": True}
    assert config.read_bytes() == before
    assert not stash.exists()


def test_check_mode_creates_nothing_when_the_file_is_missing(run, paths):
    config, stash = paths
    assert run({"live-restore": True}, check_mode=True)["changed"] is True
    assert not config.parent.exists()
    assert not stash.exists()


def test_diff_has_the_file_text_before_and_after_with_headers(run, paths):
    config = paths[0]
    write(config, '{"debug":true}')
    diff = run({"live-restore": True}, diff=True)["diff"]
    assert diff == {
        "before_header": str(config),
        "after_header": str(config),
        "before": '{"debug":true}',
        "after": '{\n  "debug": true,\n  "live-restore": true\n}\n',
    }


def test_diff_before_a_missing_file_is_empty(run, paths):
    config = paths[0]
    diff = run({"debug": True}, check_mode=True, diff=True)["diff"]
    assert (diff["before"], diff["after"]) == ("", '{\n  "debug": true\n}\n')
    assert not config.exists()


def test_no_diff_unless_asked(run):
    assert "diff" not in run({"debug": True})


def test_the_stash_saves_the_previous_version(run, paths):
    config, stash = paths
    before = write(config, '{"debug": true}\n', 0o640)
    run({"live-restore": True})
    entry = Stash(str(stash)).entries()[str(config)]
    assert entry == {"existed": True, "content": base64.b64encode(before).decode(), "mode": 0o640}


def test_the_stash_keeps_the_version_before_the_first_change(run, paths):
    config, stash = paths
    before = write(config, '{"debug": true}\n')
    run({"live-restore": True})
    run({"log-level": "warn"})
    assert base64.b64decode(Stash(str(stash)).entries()[str(config)]["content"]) == before


def test_the_stash_records_a_file_that_did_not_exist(run, paths):
    config, stash = paths
    run({"debug": True})
    assert Stash(str(stash)).entries() == {str(config): {"existed": False}}


def test_the_mode_of_an_existing_file_is_kept(run, paths):
    config = paths[0]
    write(config, "{}", 0o600)
    run({"debug": True})
    assert os.stat(config).st_mode & 0o7777 == 0o600


def test_no_temporary_file_is_left_beside_the_config(run, paths):
    config = paths[0]
    write(config, "{}")
    run({"debug": True})
    assert sorted(p.name for p in config.parent.iterdir()) == ["daemon.json"]


def test_a_path_under_a_regular_file_fails_naming_the_read_error(run, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    config = blocker / "daemon.json"
    result = run({"debug": True}, path=str(config))
    assert result["failed"] is True
    assert result["msg"] == (
        f"Failed to read {config}: [Errno 20] Not a directory: '{config}'. Nothing was changed."
    )


def test_a_path_that_is_a_directory_fails_naming_the_read_error(run, paths):
    config = paths[0]
    config.mkdir(parents=True)
    result = run({"debug": True})
    assert (
        result["msg"]
        == f"Failed to read {config}: [Errno 21] Is a directory: '{config}'. Nothing was changed."
    )
    assert config.is_dir()


def test_a_file_that_is_not_utf8_fails_and_is_kept(run, paths):
    config = paths[0]
    config.parent.mkdir(parents=True)
    config.write_bytes(b'{"labels": ["caf\xe9"]}\n')
    result = run({"debug": True})
    assert result["msg"] == (
        f"Failed to read {config}: 'utf-8' codec can't decode byte 0xe9 in position 16: "
        "invalid continuation byte. Nothing was changed."
    )
    assert config.read_bytes() == b'{"labels": ["caf\xe9"]}\n'


def test_a_write_error_fails_naming_the_file_and_keeps_it(run, paths, tmp_path):
    config = paths[0]
    before = write(config, '{"debug": true}\n')
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    result = run({"live-restore": True}, stash_dir=str(blocker / "stash"))
    assert result["failed"] is True
    manifest = blocker / "stash" / "pending.json"
    assert result["msg"] == f"Failed to write {config}: [Errno 20] Not a directory: '{manifest}'"
    assert config.read_bytes() == before


# ------------------------------------------------------------- remove_keys


def test_remove_keys_removes_a_present_key_and_stashes_the_previous_version(run, paths):
    config, stash = paths
    before = write(config, '{"debug": true, "userns-remap": "default"}\n', 0o640)
    result = run({"debug": True}, remove_keys=["userns-remap"])
    assert result["changed"] is True
    assert result["changed_keys"] == ["userns-remap"]
    assert result["config"] == {"debug": True}
    assert config.read_text() == '{\n  "debug": true\n}\n'
    assert os.stat(config).st_mode & 0o7777 == 0o640
    entry = Stash(str(stash)).entries()[str(config)]
    assert entry == {"existed": True, "content": base64.b64encode(before).decode(), "mode": 0o640}


def test_remove_keys_with_a_change_lists_both_keys(run, paths):
    config = paths[0]
    write(config, '{"debug": true, "userns-remap": "default"}\n')
    result = run({"live-restore": True}, remove_keys=["userns-remap"])
    assert result["changed_keys"] == ["live-restore", "userns-remap"]
    assert json.loads(config.read_text()) == {"debug": True, "live-restore": True}


def test_remove_keys_only_removes_top_level_keys(run, paths):
    config = paths[0]
    write(config, '{"log-opts": {"max-size": "10m"}}\n')
    result = run({}, remove_keys=["max-size"])
    assert result["changed"] is False
    assert json.loads(config.read_text()) == {"log-opts": {"max-size": "10m"}}


@pytest.mark.parametrize("text", ['{"debug": true}\n', None], ids=["key-absent", "file-missing"])
def test_remove_keys_of_an_absent_key_changes_nothing(run, paths, text):
    config, stash = paths
    before = write(config, text) if text is not None else None
    result = run({}, remove_keys=["userns-remap"], diff=True)
    assert result["changed"] is False
    assert result["changed_keys"] == []
    assert result["diff"]["before"] == result["diff"]["after"]
    if before is None:
        assert not config.exists()
        assert not config.parent.exists()
    else:
        assert config.read_bytes() == before
    assert not stash.exists()


def test_a_key_both_in_options_and_remove_keys_is_removed(run, paths):
    config = paths[0]
    write(config, '{"debug": true, "userns-remap": "default"}\n')
    result = run({"userns-remap": "dockremap", "debug": True}, remove_keys=["userns-remap"])
    assert result["changed"] is True
    assert result["changed_keys"] == ["userns-remap"]
    assert result["config"] == {"debug": True}
    assert json.loads(config.read_text()) == {"debug": True}


def test_a_key_only_in_options_and_remove_keys_is_never_written(run, paths):
    config, stash = paths
    before = write(config, '{"debug": true}\n')
    result = run({"userns-remap": "default"}, remove_keys=["userns-remap"])
    assert result["changed"] is False
    assert result["changed_keys"] == []
    assert config.read_bytes() == before
    assert not stash.exists()


def test_remove_keys_in_check_mode_reports_the_change_and_writes_nothing(run, paths):
    config, stash = paths
    before = write(config, '{"debug": true, "userns-remap": "default"}\n')
    mtime = os.stat(config).st_mtime_ns
    result = run({}, remove_keys=["userns-remap"], check_mode=True)
    assert result["changed"] is True
    assert result["changed_keys"] == ["userns-remap"]
    assert result["config"] == {"debug": True}
    assert config.read_bytes() == before
    assert os.stat(config).st_mtime_ns == mtime
    assert not stash.exists()


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_remove_keys_diff_shows_the_removal(run, paths, check_mode):
    config = paths[0]
    write(config, '{"debug":true,"userns-remap":"default"}')
    diff = run({}, remove_keys=["userns-remap"], diff=True, check_mode=check_mode)["diff"]
    assert diff == {
        "before_header": str(config),
        "after_header": str(config),
        "before": '{"debug":true,"userns-remap":"default"}',
        "after": '{\n  "debug": true\n}\n',
    }


def test_remove_keys_second_run_reports_no_change(run, paths):
    config, stash = paths
    write(config, '{"debug": true, "userns-remap": "default", "icc": true}\n')
    first = run({"icc": False}, remove_keys=["userns-remap"])
    assert first["changed"] is True
    assert first["changed_keys"] == ["icc", "userns-remap"]
    written = config.read_bytes()
    mtime = os.stat(config).st_mtime_ns
    stashed = Stash(str(stash)).entries()
    second = run({"icc": False}, remove_keys=["userns-remap"])
    assert second["changed"] is False
    assert second["changed_keys"] == []
    assert config.read_bytes() == written
    assert os.stat(config).st_mtime_ns == mtime
    assert Stash(str(stash)).entries() == stashed


def test_removing_every_key_leaves_an_empty_object(run, paths):
    config = paths[0]
    write(config, '{"userns-remap": "default"}\n')
    result = run({}, remove_keys=["userns-remap", "debug"])
    assert result["changed_keys"] == ["userns-remap"]
    assert config.read_text() == "{}\n"
    assert run({}, remove_keys=["userns-remap"])["changed"] is False


def test_a_reserved_key_in_the_file_is_refused_even_when_listed_in_remove_keys(run, paths):
    config, stash = paths
    before = write(config, '{"hosts": ["tcp://0.0.0.0:2375"]}\n')
    result = run({}, remove_keys=["hosts"])
    assert result["failed"] is True
    assert HOSTS_CONFLICT in result["msg"]
    assert config.read_bytes() == before
    assert not stash.exists()


# --- dockerd --validate before writing ---------------------------------------
# dockerd 23+ cannot run on this machine (Debian 12 has 20.10): a stand-in on
# PATH answers --version and --validate as dockerd 26.1 does, refusing keys it
# does not know and a directive given both as a flag and in the file. The lab
# hosts of the Molecule scenarios run the real one (faults, Debian 13).
FAKE_DOCKERD = """\
#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["DOCKERLAB_FAKE_DOCKERD_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args == ["--version"]:
    print("Docker version " + os.environ["DOCKERLAB_FAKE_DOCKERD_VERSION"] + ", build a72d7cd")
    sys.exit(0)
if "--validate" not in args:
    sys.exit("stand-in dockerd: only --version and --validate")
path = args[args.index("--config-file") + 1]
with open(path) as handle:
    config = json.load(handle)
known = {{"debug", "live-restore", "log-driver", "log-opts", "registry-mirrors", "hosts"}}
unknown = sorted(set(config) - known)
if unknown:
    sys.exit(f"unable to configure the Docker daemon with file {{path}}: the following directives don't "
             f"match any configuration option: {{', '.join(unknown)}}")
if "hosts" in config and "-H" in args:
    sys.exit("unable to configure the Docker daemon with file " + path + ": the following directives are "
             "specified both as a flag and in the configuration file: hosts")
print("configuration OK", file=sys.stderr)
"""


@pytest.fixture
def fake_dockerd(tmp_path, monkeypatch, fake_commands):
    """A stand-in dockerd first on PATH; returns the list of its calls."""
    fake_commands({"dockerd": FAKE_DOCKERD})
    log = tmp_path / "dockerd-calls.log"
    monkeypatch.setenv("DOCKERLAB_FAKE_DOCKERD_LOG", str(log))
    monkeypatch.setenv("DOCKERLAB_FAKE_DOCKERD_VERSION", "26.1.5+dfsg1")

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    calls.bin = shutil.which("dockerd")
    return calls


# No such unit: dockerd is validated with no flags of a unit.
NO_UNIT = {"unit": "dockerlab-no-such.service"}


def test_a_configuration_dockerd_refuses_fails_before_the_file_changes(run, paths, fake_dockerd):
    config, stash = paths
    before = write(config, '{"debug": true}\n')
    result = run({"bogus": True}, **NO_UNIT)
    assert result["failed"] is True
    assert result["validated"] == "refused"
    assert result["msg"] == (
        f"dockerd would not start with the new {config} (changing bogus): unable to configure the Docker "
        f"daemon with file {config}: the following directives don't match any configuration option: bogus "
        "Nothing was changed."
    )
    assert config.read_bytes() == before
    assert Stash(str(stash)).pending() == []


def test_a_configuration_dockerd_accepts_is_written(run, paths, fake_dockerd):
    config = paths[0]
    write(config, '{"debug": true}\n')
    result = run({"live-restore": True}, **NO_UNIT)
    assert (result["changed"], result["validated"]) == (True, "ok")
    assert json.loads(config.read_text()) == {"debug": True, "live-restore": True}
    version, validate = fake_dockerd()
    assert version == ["--version"]
    assert validate[:2] == ["--validate", "--config-file"]
    candidate = validate[2]
    assert candidate.endswith("/daemon.json")
    assert candidate != str(config)
    assert not os.path.exists(os.path.dirname(candidate))  # the candidate is gone


def test_check_mode_asks_dockerd_too(run, paths, fake_dockerd):
    config = paths[0]
    before = write(config, "{}\n")
    result = run({"bogus": True}, check_mode=True, **NO_UNIT)
    assert (result["failed"], result["validated"]) == (True, "refused")
    assert config.read_bytes() == before


@pytest.mark.parametrize("version", ["20.10.24+dfsg1", "22.06.0-beta.0"])
def test_a_dockerd_before_23_is_not_asked(run, paths, fake_dockerd, monkeypatch, version):
    monkeypatch.setenv("DOCKERLAB_FAKE_DOCKERD_VERSION", version)
    result = run({"bogus": True}, **NO_UNIT)
    assert (result["changed"], result["validated"]) == (True, "unsupported")
    assert fake_dockerd() == [["--version"]]


@pytest.mark.parametrize(("args", "calls"), [({"validate": False}, []), ({}, [])], ids=["off", "unchanged"])
def test_dockerd_is_not_asked_when_off_or_nothing_changes(run, paths, fake_dockerd, args, calls):
    write(paths[0], '{"live-restore": true}\n')
    result = run({"live-restore": True} if not args else {"bogus": True}, **NO_UNIT, **args)
    assert result["validated"] == "skipped"
    assert fake_dockerd() == calls


def test_the_real_dockerd_of_this_machine(run, paths):
    """Debian 12's dockerd (20.10) has no --validate: the file is written."""
    if not os.path.exists("/usr/sbin/dockerd"):
        pytest.skip("no dockerd on this machine")
    result = run({"live-restore": True}, **NO_UNIT)
    assert result["validated"] in ("unsupported", "ok")
    assert result["changed"] is True


def test_replace_keys_replace_instead_of_merging(run, paths):
    config = paths[0]
    write(config, '{"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}\n')
    result = run({"log-driver": "journald", "log-opts": {"tag": "{{.Name}}"}}, replace_keys=["log-opts"])
    assert json.loads(config.read_text()) == {"log-driver": "journald", "log-opts": {"tag": "{{.Name}}"}}
    assert result["changed_keys"] == ["log-driver", "log-opts"]


def test_a_replace_key_not_in_the_options_stays(run, paths):
    config = paths[0]
    write(config, '{"log-opts": {"max-size": "10m"}}\n')
    result = run({"debug": True}, replace_keys=["log-opts"])
    assert json.loads(config.read_text()) == {"debug": True, "log-opts": {"max-size": "10m"}}
    assert result["changed_keys"] == ["debug"]

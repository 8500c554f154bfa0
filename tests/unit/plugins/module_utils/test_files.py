"""plugins/module_utils/_files: atomic writes, the rollback stash and file
owners, on real files."""

import base64
import grp
import json
import os
import pwd

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._files import (
    Stash,
    owner_names,
    read_text,
    write_atomic,
)


def mode_of(path):
    return os.stat(path).st_mode & 0o7777


def test_read_text_returns_the_content(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text('{"live-restore": true}\n')
    assert read_text(str(path)) == '{"live-restore": true}\n'


def test_read_text_of_a_missing_file_is_none(tmp_path):
    assert read_text(str(tmp_path / "missing.json")) is None


def test_write_atomic_creates_the_file_with_the_content(tmp_path):
    path = tmp_path / "daemon.json"
    write_atomic(str(path), "{}\n")
    assert path.read_bytes() == b"{}\n"


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o400, 0o640])
def test_write_atomic_applies_the_mode(tmp_path, mode):
    path = tmp_path / "file"
    write_atomic(str(path), "x\n", mode)
    assert mode_of(path) == mode


def test_write_atomic_replaces_an_existing_file_and_its_mode(tmp_path):
    path = tmp_path / "file"
    path.write_text("old\n")
    path.chmod(0o666)
    write_atomic(str(path), "new\n", 0o600)
    assert path.read_text() == "new\n"
    assert mode_of(path) == 0o600


def test_write_atomic_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "file"
    write_atomic(str(path), "one\n")
    write_atomic(str(path), "two\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_write_atomic_that_fails_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("old\n")
    with pytest.raises(TypeError):
        write_atomic(str(path), b"bytes are not text")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing the owner needs root")
def test_write_atomic_sets_the_owner(tmp_path):
    path = tmp_path / "file"
    write_atomic(str(path), "x\n", 0o644, uid=65534, gid=65534)
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (65534, 65534)


def test_write_atomic_into_a_missing_directory_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(str(tmp_path / "missing" / "file"), "x\n")


def test_save_records_an_existing_file_with_its_content_and_mode(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_bytes(b'{"log-level": "info"}\n')
    path.chmod(0o600)
    stash = Stash(str(tmp_path / "stash"))
    assert stash.save(str(path)) is True
    entry = stash.entries()[str(path)]
    assert entry == {
        "existed": True,
        "content": base64.b64encode(b'{"log-level": "info"}\n').decode(),
        "mode": 0o600,
    }


def test_save_records_a_missing_file_as_not_existing(tmp_path):
    stash = Stash(str(tmp_path / "stash"))
    stash.save(str(tmp_path / "new.conf"))
    assert stash.entries() == {str(tmp_path / "new.conf"): {"existed": False}}


def test_save_keeps_the_first_version_only(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text("first\n")
    stash = Stash(str(tmp_path / "stash"))
    assert stash.save(str(path)) is True
    path.write_text("second\n")
    assert stash.save(str(path)) is False
    assert base64.b64decode(stash.entries()[str(path)]["content"]) == b"first\n"


def test_the_stash_directory_and_manifest_are_private(tmp_path):
    stash = Stash(str(tmp_path / "stash"))
    stash.save(str(tmp_path / "file"))
    assert mode_of(tmp_path / "stash") == 0o700
    assert mode_of(stash.manifest) == 0o600


def test_pending_lists_the_saved_paths_sorted(tmp_path):
    stash = Stash(str(tmp_path / "stash"))
    for name in ("b.conf", "a.json"):
        stash.save(str(tmp_path / name))
    assert stash.pending() == [str(tmp_path / "a.json"), str(tmp_path / "b.conf")]


def test_pending_of_a_missing_stash_is_empty(tmp_path):
    assert Stash(str(tmp_path / "never-created")).pending() == []


@pytest.mark.parametrize("manifest", ["", "not json", "[1, 2]", '"text"'])
def test_an_unreadable_manifest_counts_as_empty(tmp_path, manifest):
    stash = Stash(str(tmp_path))
    (tmp_path / "pending.json").write_text(manifest)
    assert stash.entries() == {}
    assert stash.pending() == []


def test_restore_puts_back_the_exact_bytes_and_mode(tmp_path):
    path = tmp_path / "daemon.json"
    original = b'{\r\n  "log-level": "warn"\r\n}'
    path.write_bytes(original)
    path.chmod(0o640)
    stash = Stash(str(tmp_path / "stash"))
    stash.save(str(path))
    path.write_text('{"bogus": true}\n')
    path.chmod(0o644)
    assert stash.restore() == [str(path)]
    assert path.read_bytes() == original
    assert mode_of(path) == 0o640


def test_restore_removes_a_file_that_did_not_exist(tmp_path):
    path = tmp_path / "dockerlab-listener.conf"
    stash = Stash(str(tmp_path / "stash"))
    stash.save(str(path))
    path.write_text("[Service]\n")
    assert stash.restore() == [str(path)]
    assert not path.exists()


def test_restore_of_a_file_that_is_still_missing_is_fine(tmp_path):
    path = tmp_path / "never-written.conf"
    stash = Stash(str(tmp_path / "stash"))
    stash.save(str(path))
    assert stash.restore() == [str(path)]
    assert not path.exists()


def test_restore_keeps_the_stash_so_it_can_run_again(tmp_path):
    path = tmp_path / "file"
    path.write_text("good\n")
    stash = Stash(str(tmp_path / "stash"))
    stash.save(str(path))
    path.write_text("bad\n")
    stash.restore()
    path.write_text("bad again\n")
    stash.restore()
    assert path.read_text() == "good\n"
    assert stash.pending() == [str(path)]


def test_restore_with_nothing_saved_restores_nothing(tmp_path):
    assert Stash(str(tmp_path / "stash")).restore() == []


def test_clear_forgets_every_saved_file_and_keeps_the_files(tmp_path):
    path = tmp_path / "file"
    path.write_text("old\n")
    stash = Stash(str(tmp_path / "stash"))
    stash.save(str(path))
    path.write_text("new\n")
    stash.clear()
    assert stash.pending() == []
    assert not os.path.exists(stash.manifest)
    assert path.read_text() == "new\n"


def test_clear_without_a_stash_is_fine(tmp_path):
    Stash(str(tmp_path / "stash")).clear()


def test_after_clear_the_next_save_records_the_new_known_good_version(tmp_path):
    path = tmp_path / "file"
    path.write_text("v1\n")
    stash = Stash(str(tmp_path / "stash"))
    stash.save(str(path))
    path.write_text("v2\n")
    stash.clear()
    assert stash.save(str(path)) is True
    assert base64.b64decode(stash.entries()[str(path)]["content"]) == b"v2\n"


def test_the_manifest_is_json_keyed_by_path(tmp_path):
    stash = Stash(str(tmp_path / "stash"))
    stash.save(str(tmp_path / "x"))
    with open(stash.manifest, encoding="utf-8") as handle:
        assert json.load(handle) == {str(tmp_path / "x"): {"existed": False}}


def test_owner_names_are_the_hosts_names_or_the_ids(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    st = os.stat(path)
    assert owner_names(st) == (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name)
    nobody = os.stat_result((0o100644, 0, 0, 1, 4242424, 4242425, 1, 0, 0, 0))
    assert owner_names(nobody) == ("4242424", "4242425")


def test_replace_unit_file_writes_stashes_and_removes(tmp_path):
    from ansible_collections.dockerlab.docker.plugins.module_utils._files import Stash, replace_unit_file

    path = tmp_path / "docker.service.d" / "x.conf"
    stash = tmp_path / "stash"
    replace_unit_file(str(path), "[Service]\n", str(stash))
    assert path.read_text() == "[Service]\n"
    assert (os.stat(path).st_mode & 0o777, os.stat(path.parent).st_mode & 0o777) == (0o644, 0o755)
    assert Stash(str(stash)).saved_text(str(path)) == (True, None)  # it did not exist before
    replace_unit_file(str(path), None, str(stash))
    assert not path.exists()


def test_text_diff_shows_a_missing_file_as_empty():
    from ansible_collections.dockerlab.docker.plugins.module_utils._files import text_diff

    assert text_diff("/p", None, "a\n") == {
        "before_header": "/p",
        "after_header": "/p",
        "before": "",
        "after": "a\n",
    }

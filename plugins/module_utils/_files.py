# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files the dockerlab modules write: atomic writes and the rollback stash.

Standard library only (this runs on the managed host).

The rollback stash keeps the last known-good version of every file a module
changes until the Docker daemon has been restarted successfully with the new
version. docker_daemon_config, docker_daemon_listener and
docker_daemon_environment ``save()`` a file before they change it;
docker_daemon_restart ``clear()``s the stash when the daemon answers again,
or ``restore()``s every saved file when it does not.
Only the first save of a file counts: a second change before the restart
keeps the version the daemon last ran with.
"""

import base64
import grp
import hashlib
import json
import os
import pwd
import tempfile

DEFAULT_STASH_DIR = "/var/lib/dockerlab/rollback"
_MANIFEST = "pending.json"


def text_sha256(text):
    """The sha256 of ``text`` as docker_host_facts reports a file's (hex), or
    None for no text (no file)."""
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_text(path):
    """Return the text of ``path``, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def owner_names(st):
    """(user, group) names owning a stat result; the ids as text where the
    host has no name for them."""
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return user, group


def write_atomic(path, content, mode=0o644, uid=None, gid=None):
    """Write ``content`` to ``path`` through a temporary file in the same
    directory and a rename, so that the file is either the old or the new
    version, never half of one. The parent directory must exist."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".dockerlab-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if uid is not None or gid is not None:
            os.chown(tmp, -1 if uid is None else uid, -1 if gid is None else gid)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def text_diff(path, before, after):
    """Ansible's diff of a text file: ``before`` and ``after`` its text (None
    where it does not or would not exist)."""
    return {"before_header": path, "after_header": path, "before": before or "", "after": after or ""}


def replace_unit_file(path, text, stash_dir):
    """Make the unit file or drop-in ``path`` hold ``text``, or remove it
    when ``text`` is None, after saving its current version in the rollback
    stash; a missing directory is made (0755), the file written atomically
    (0644). Raises OSError."""
    Stash(stash_dir).save(path)
    if text is None:
        os.unlink(path)
    else:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        write_atomic(path, text, 0o644)


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Stash:
    """The last known-good versions of the files changed since the daemon's
    last successful (re)start."""

    def __init__(self, directory=DEFAULT_STASH_DIR):
        self.directory = directory
        self.manifest = os.path.join(directory, _MANIFEST)

    def entries(self):
        """Map of path -> saved state ({"existed": bool, "content": b64, "mode": int})."""
        text = read_text(self.manifest)
        if not text:
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def pending(self):
        """Paths saved and not yet confirmed by a successful restart."""
        return sorted(self.entries())

    def saved_text(self, path):
        """The saved version of ``path`` as text: (True, text) when it was
        saved, text None where the file did not exist then; (False, None)
        when it was not saved or the saved copy cannot be decoded."""
        entry = self.entries().get(path)
        if not isinstance(entry, dict):
            return False, None
        if not entry.get("existed"):
            return True, None
        try:
            return True, base64.b64decode(entry["content"]).decode("utf-8")
        except (KeyError, ValueError, TypeError):
            return False, None

    def save(self, path):
        """Remember the current version of ``path`` unless one is already saved."""
        entries = self.entries()
        if path in entries:
            return False
        if os.path.exists(path):
            with open(path, "rb") as handle:
                raw = handle.read()
            entry = {
                "existed": True,
                "content": base64.b64encode(raw).decode("ascii"),
                "mode": os.stat(path).st_mode & 0o7777,
            }
        else:
            entry = {"existed": False}
        entries[path] = entry
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        write_atomic(self.manifest, json.dumps(entries, indent=2, sort_keys=True) + "\n", 0o600)
        return True

    def restore(self):
        """Put every saved file back as it was (or remove it if it did not
        exist). Returns the restored paths. The stash itself is kept until
        ``clear()``, so an interrupted restore can be done again."""
        restored = []
        for path, entry in sorted(self.entries().items()):
            if entry.get("existed"):
                raw = base64.b64decode(entry["content"])
                write_atomic(path, raw.decode("utf-8"), entry.get("mode", 0o644))
            elif os.path.exists(path):
                os.unlink(path)
            restored.append(path)
        return restored

    def clear(self):
        """Forget the saved versions: the current files are now known-good."""
        if os.path.exists(self.manifest):
            os.unlink(self.manifest)

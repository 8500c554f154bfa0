# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the docker_engine role."""

DOCUMENTATION = r"""
name: dockerlab_loose_files
short_description: The files that exist with another mode or owner than wanted
description:
  - Takes a mapping of paths to wanted modes (C({"/etc/docker": "0755"}))
    and the C(files) of M(docker_host_facts), and returns the paths that exist
    but are not root:root with that mode. Missing paths are not returned (the
    role creates them as wanted).
positional: files
options:
  _input:
    description: Path to wanted mode (an octal string).
    type: dict
    required: true
  files:
    description: The C(files) of docker_host_facts' fact.
    type: dict
    required: true
"""


def _octal(mode):
    """0o644 from "0644", "644" or 420 (YAML's unquoted 0644); None if not a mode."""
    if isinstance(mode, int):
        return mode
    try:
        return int(str(mode), 8)
    except (TypeError, ValueError):
        return None


def dockerlab_loose_files(modes, files):
    loose = []
    for path, mode in sorted((modes or {}).items()):
        now = (files or {}).get(path) or {}
        state = (_octal(now.get("mode")), now.get("uid"), now.get("gid"))
        if now.get("exists") and state != (_octal(mode), 0, 0):
            loose.append(path)
    return loose


class FilterModule:
    def filters(self):
        return {"dockerlab_loose_files": dockerlab_loose_files}

# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the docker_engine role.

``dockerlab_loose_files`` names the files whose mode or owner differs.
``dockerlab_engine_input_errors`` says what is wrong with the role's
variables before the host is asked anything. Both run on the controller, in
the process that evaluates the role's gates: a Python call costs a fraction
of the Jinja it replaces, which Ansible compiles again for every host.
"""

from collections.abc import Mapping

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


def _seconds(value):
    """An integer from an int or a string of digits (as -e gives it); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def dockerlab_engine_input_errors(variables):
    """What is wrong with docker_engine's variables (a mapping of their names
    to values), one message per variable that names it and the fix; [] when
    nothing is."""
    errors = []
    options = variables.get("docker_engine_daemon_options")
    if not isinstance(options, Mapping):
        errors.append(
            f"docker_engine_daemon_options must be a dict of daemon.json keys (got {type(options).__name__}),"
            ' e.g. {"debug": true}.'
        )
    mirrors = variables.get("docker_engine_registry_mirrors")
    if not isinstance(mirrors, (list, tuple)):
        errors.append(
            f"docker_engine_registry_mirrors must be a list of URLs (got {type(mirrors).__name__}),"
            " e.g. [http://mirror.example:5000]."
        )
    timeout = _seconds(variables.get("docker_engine_restart_timeout"))
    if timeout is None or timeout < 1:
        errors.append(
            "docker_engine_restart_timeout is"
            f" '{variables.get('docker_engine_restart_timeout')}': use a number of seconds, at least 1."
        )
    log_opts = variables.get("docker_engine_log_opts")
    if not isinstance(log_opts, Mapping):
        errors.append(f"docker_engine_log_opts must be a dict of strings (got {type(log_opts).__name__}).")
    else:
        odd = sorted(f"{key} ({value!r})" for key, value in log_opts.items() if not isinstance(value, str))
        if odd:
            errors.append(
                "docker_engine_log_opts must be a dict of strings, as dockerd wants them: quote "
                + ", ".join(odd)
                + ', e.g. max-file: "3".'
            )
    return errors


class FilterModule:
    def filters(self):
        return {
            "dockerlab_loose_files": dockerlab_loose_files,
            "dockerlab_engine_input_errors": dockerlab_engine_input_errors,
        }

# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the docker_engine role.

``dockerlab_loose_files`` names the files whose mode or owner differs.
``dockerlab_engine_plan`` decides everything the role refuses and does,
from the role's variables and docker_host_facts' read. Both run on the
controller, in the process that evaluates the role's gates: a Python call
costs a fraction of the Jinja it replaces, which Ansible compiles again for
every host.

Each filter's documentation is in <filter name>.yml beside this file, for
ansible-doc: a DOCUMENTATION string here would hide those files and be shown
for every filter of the file.
"""

from collections.abc import Mapping

from ansible.module_utils.parsing.convert_bool import boolean


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


def _truthy(value):
    """Ansible's bool filter, lenient: "yes", "true", "1", True..."""
    try:
        return boolean(value, strict=False)
    except TypeError:
        return False


def deep_merge(base, overlay):
    """``overlay`` merged into a copy of ``base``: objects key by key,
    everything else replaced (docker_daemon_config's merge, which is also
    Ansible's combine(recursive=true))."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def dockerlab_engine_plan(facts, variables):
    """What docker_engine has to refuse and to do on a host.

    ``facts``: docker_host_facts' fact ({} before the host was read).
    ``variables``: the role's docker_engine_* variables by name, and host
    (its inventory name) and file_modes (path to wanted mode). Returns
    input_errors; options (daemon.json settings: the role's, then
    docker_engine_daemon_options over them) and removed_keys (what the merge
    takes out); config_suspect (daemon.json does not parse, or "hosts" is in
    it or in the options), host_errors, preflight_errors and preflight_ok;
    and the differences engine.yml's tasks act on: missing_packages,
    enabled_differs, daemon_config (daemon.json after docker_daemon_config's
    merge) and config_differs, loose_files, and todo, their union."""
    v = variables
    input_errors = dockerlab_engine_input_errors(v)
    plan = {"input_errors": input_errors, "options": {}, "removed_keys": []}
    if not input_errors:
        managed = {
            "live-restore": _truthy(v["docker_engine_live_restore"]),
            "icc": _truthy(v["docker_engine_icc"]),
            "no-new-privileges": _truthy(v["docker_engine_no_new_privileges"]),
            "userland-proxy": _truthy(v["docker_engine_userland_proxy"]),
            "log-driver": v["docker_engine_log_driver"],
            "log-opts": v["docker_engine_log_opts"],
        }
        if v["docker_engine_registry_mirrors"]:
            managed["registry-mirrors"] = v["docker_engine_registry_mirrors"]
        if v["docker_engine_userns_remap"]:
            managed["userns-remap"] = v["docker_engine_userns_remap"]
        plan["options"] = deep_merge(managed, v["docker_engine_daemon_options"])
        if not v["docker_engine_userns_remap"] and "userns-remap" not in v["docker_engine_daemon_options"]:
            plan["removed_keys"] = ["userns-remap"]
    daemon_json = facts.get("daemon_json") or {}
    current = daemon_json.get("config") or {}
    options = v["docker_engine_daemon_options"]
    plan["config_suspect"] = bool(facts) and (
        not daemon_json.get("valid")
        or "hosts" in current
        or (isinstance(options, Mapping) and "hosts" in options)
    )
    host_errors = []
    if (
        plan["options"]
        and not _truthy(plan["options"].get("userland-proxy"))
        and facts.get("proc_sys_writable") is False
    ):
        host_errors.append(
            "docker_engine_userland_proxy is false, but /proc/sys is read-only on"
            f" {v['host']} (Docker inside an unprivileged container?): dockerd must set"
            " route_localnet there to publish ports without docker-proxy, and without it starts with no"
            " bridge, losing the published ports of running containers (or refuses to start). Set"
            " docker_engine_userland_proxy: true for this host, or make /proc/sys writable (mount -o"
            " remount,rw /proc/sys where the host is allowed to)."
        )
    plan["host_errors"] = host_errors
    plan["preflight_errors"] = input_errors or host_errors
    plan["preflight_ok"] = not input_errors and not plan["config_suspect"] and not host_errors
    service = facts.get("service") or {}
    plan["missing_packages"] = [
        name for name, version in (facts.get("packages") or {}).items() if version is None
    ]
    plan["enabled_differs"] = service.get("enabled") != _truthy(v["docker_engine_service_enabled"])
    kept = {key: value for key, value in current.items() if key not in plan["removed_keys"]}
    plan["daemon_config"] = deep_merge(kept, plan["options"])
    plan["config_differs"] = plan["daemon_config"] != current
    plan["loose_files"] = dockerlab_loose_files(v["file_modes"], facts.get("files"))
    plan["todo"] = bool(
        v["docker_engine_source"] == "upstream"
        or plan["missing_packages"]
        or not service.get("active")
        or plan["enabled_differs"]
        or facts.get("stash_pending")
        or plan["config_differs"]
        or plan["loose_files"]
    )
    return plan


class FilterModule:
    def filters(self):
        return {
            "dockerlab_loose_files": dockerlab_loose_files,
            "dockerlab_engine_plan": dockerlab_engine_plan,
        }

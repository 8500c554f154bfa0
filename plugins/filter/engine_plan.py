# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: engine_plan
short_description: What docker_engine has to refuse and to do on a host
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
description:
  - Takes the fact of M(dockerlab.docker.docker_host_facts) and the role's variables, and
    returns in one dict what docker_engine decides. The role's tasks use
    its fields (C(_docker_engine_plan.FIELD)).
  - Before the host was read the fact is an empty dict, and only the checks
    of the inputs mean anything.
  - The role's argument spec checks the variables' types first; this checks
    what a spec cannot say. C(docker_engine_restart_timeout) must be at
    least 1 second, and the values of C(docker_engine_log_opts) strings, as
    dockerd wants them.
  - C(docker_engine_http_proxy) and C(docker_engine_https_proxy) must be
    http:// or https:// URLs with a host (a user and password are fine),
    and they and C(docker_engine_no_proxy)'s entries strings a drop-in line
    can hold (no newline).
  - Booleans are read leniently, as Ansible's C(bool) filter reads them
    (C(yes), C(true), C(1), ...); anything else is false.
  - It runs on the controller. One Python call costs less than the chain of
    Jinja variables it replaces, which ansible-core compiles again for every
    host.
positional: variables
options:
  _input:
    description: The fact of docker_host_facts, or an empty dict before the host was read.
    type: dict
    required: true
  variables:
    description:
      - The variables, by name. The role passes all of them.
      - C(host) (the inventory name, for messages), C(file_modes) (path to
        wanted mode), C(request) (what the role needs read, its
        C(docker_engine_host_read_request)) and C(proxy_dropin) (the path of
        the proxy drop-in, one of the request's C(files)).
      - The role's C(docker_engine_source), C(docker_engine_service_enabled),
        C(docker_engine_live_restore), C(docker_engine_icc),
        C(docker_engine_no_new_privileges), C(docker_engine_userland_proxy),
        C(docker_engine_log_driver), C(docker_engine_log_opts),
        C(docker_engine_registry_mirrors), C(docker_engine_userns_remap),
        C(docker_engine_daemon_options), C(docker_engine_restart_timeout),
        C(docker_engine_http_proxy), C(docker_engine_https_proxy) and
        C(docker_engine_no_proxy).
    type: dict
    required: true
"""

EXAMPLES = r"""
# roles/docker_engine/vars/main.yml
_docker_engine_plan: >-
  {{ ansible_facts.dockerlab | default({}) | dockerlab.docker.engine_plan({
       'host': inventory_hostname, 'file_modes': _docker_engine_file_modes,
       'request': docker_engine_host_read_request,
       'docker_engine_source': docker_engine_source,
       'docker_engine_service_enabled': docker_engine_service_enabled,
       'docker_engine_live_restore': docker_engine_live_restore, 'docker_engine_icc': docker_engine_icc,
       'docker_engine_no_new_privileges': docker_engine_no_new_privileges,
       'docker_engine_userland_proxy': docker_engine_userland_proxy,
       'docker_engine_log_driver': docker_engine_log_driver, 'docker_engine_log_opts': docker_engine_log_opts,
       'docker_engine_registry_mirrors': docker_engine_registry_mirrors,
       'docker_engine_userns_remap': docker_engine_userns_remap,
       'docker_engine_daemon_options': docker_engine_daemon_options,
       'docker_engine_restart_timeout': docker_engine_restart_timeout,
       'proxy_dropin': _docker_engine_proxy_dropin,
       'docker_engine_http_proxy': docker_engine_http_proxy,
       'docker_engine_https_proxy': docker_engine_https_proxy,
       'docker_engine_no_proxy': docker_engine_no_proxy}) }}
# The tasks use its fields.
# when: not _docker_engine_plan.todo
"""

RETURN = r"""
_value:
  description: What docker_engine has to refuse and to do on the host.
  type: dict
  contains:
    covered:
      description:
        - True when the fact was read with everything C(request) asks for
          (its C(requested)); the role reads the host itself otherwise.
      type: bool
    read_needed:
      description: True when the read does not cover C(request) and the inputs are fine (the read's when).
      type: bool
    input_errors:
      description: One message per wrong variable, naming it and the fix; empty when there is none.
      type: list
      elements: str
    options:
      description:
        - The daemon.json settings the role wants. C(live-restore), C(icc),
          C(no-new-privileges) and C(userland-proxy) as booleans,
          C(log-driver), C(log-opts) when there are options,
          C(registry-mirrors) when there are mirrors and C(userns-remap) when
          it is set; then
          C(docker_engine_daemon_options) merged over them (dicts key by key,
          an explicit key wins).
        - Empty when there are input errors.
      type: dict
    removed_keys:
      description:
        - What the merge takes out of daemon.json. C(userns-remap) when
          neither C(docker_engine_userns_remap) nor
          C(docker_engine_daemon_options) sets it; C(log-opts) when neither
          C(docker_engine_log_opts) nor C(docker_engine_daemon_options) sets
          any (another driver's options would make dockerd refuse to start).
        - Empty otherwise, and when there are input errors.
      type: list
      elements: str
    replaced_keys:
      description:
        - What replaces daemon.json's value instead of merging into it, that
          is C(log-opts) when the role sets any. They are the driver's own (a
          json-file C(max-size) left under journald makes dockerd refuse to
          start).
      type: list
      elements: str
    config_suspect:
      description:
        - True when the host was read and daemon.json does not parse as a
          JSON object (its C(valid) is false), or C(hosts) is in daemon.json
          or in C(docker_engine_daemon_options).
        - M(docker_daemon_config) explains it in preflight.
      type: bool
    host_errors:
      description:
        - A message when the wanted C(userland-proxy) is false and /proc/sys
          is read-only on the host (C(proc_sys_writable) is false). Without
          docker-proxy, dockerd must set route_localnet there to publish ports.
        - Empty otherwise.
      type: list
      elements: str
    preflight_errors:
      description: C(input_errors) when there are any, else C(host_errors).
      type: list
      elements: str
    preflight_ok:
      description:
        - True when there are no input errors, no host errors and C(config_suspect) is false
          (preflight's gate).
      type: bool
    missing_packages:
      description: The packages of C(request) the read reports as not installed.
      type: list
      elements: str
    enabled_differs:
      description: True when the service's enablement is not C(docker_engine_service_enabled).
      type: bool
    daemon_config:
      description:
        - daemon.json as M(docker_daemon_config) would write it. The current
          settings with C(options) merged over them (C(replaced_keys)
          replaced), without C(removed_keys); keys set by hand stay.
      type: dict
    config_differs:
      description: True when C(daemon_config) is not the current daemon.json.
      type: bool
    loose_files:
      description: The paths of C(file_modes) that exist with another mode or owner in the read's C(files).
      type: list
      elements: str
    proxy_environment:
      description:
        - The environment of dockerd's proxy drop-in, for M(dockerlab.docker.docker_daemon_environment).
          C(HTTP_PROXY), C(HTTPS_PROXY) and C(NO_PROXY) (the entries of
          C(docker_engine_no_proxy) joined with commas) where they are set,
          each also in lower case.
        - Empty when none is set (the drop-in is removed), and when there are input errors.
      type: dict
    proxy_sha256:
      description:
        - The sha256 of the drop-in's text as the module writes it for
          C(proxy_environment) (the same function, C(_proxy.render)); empty
          when there is to be no drop-in.
      type: str
    proxy_differs:
      description:
        - True when the read's C(files) entry of C(proxy_dropin) is not that
          text (another sha256), or the drop-in exists and none is wanted, or
          it is wanted and does not exist.
      type: bool
    todo:
      description:
        - True when engine.yml has anything to do (converge's gate).
        - That is when C(docker_engine_source) is C(upstream), a package is
          missing, the service is not active, C(enabled_differs), the
          rollback stash holds files, C(config_differs), C(loose_files) or
          C(proxy_differs).
      type: bool
"""


from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import apply, merge
from ansible_collections.dockerlab.docker.plugins.module_utils._files import text_sha256 as sha256
from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import covers
from ansible_collections.dockerlab.docker.plugins.module_utils._proxy import (
    proxy_environment,
    render,
    value_error,
)
from ansible_collections.dockerlab.docker.plugins.plugin_utils._values import (
    as_dict,
    as_list,
    truthy,
    url_error,
    whole_number,
)


def _octal(mode):
    """0o644 from "0644", "644" or 420 (YAML's unquoted 0644); None if not a mode."""
    if isinstance(mode, int):
        return mode
    try:
        return int(str(mode), 8)
    except (TypeError, ValueError):
        return None


def loose_files(modes, files):
    """The paths of ``modes`` (path: wanted mode) that exist with another
    mode, or not root's, in docker_host_facts' ``files``."""
    loose = []
    for path, mode in sorted((modes or {}).items()):
        now = (files or {}).get(path) or {}
        state = (_octal(now.get("mode")), now.get("uid"), now.get("gid"))
        if now.get("exists") and state != (_octal(mode), 0, 0):
            loose.append(path)
    return loose


def input_errors(variables):
    """What is wrong with docker_engine's variables (a mapping of their names
    to values) that the role's argument spec cannot say (it checks their
    types first), one message per variable that names it and the fix; []
    when nothing is."""
    errors = []
    timeout = whole_number(variables.get("docker_engine_restart_timeout"))
    if timeout is not None and timeout < 1:
        errors.append(f"docker_engine_restart_timeout is '{timeout}': use a number of seconds, at least 1.")
    odd = sorted(
        f"{key} ({value!r})"
        for key, value in (variables.get("docker_engine_log_opts") or {}).items()
        if not isinstance(value, str)
    )
    if odd:
        errors.append(
            "docker_engine_log_opts must be a dict of strings, as dockerd wants them: quote "
            + ", ".join(odd)
            + ', e.g. max-file: "3".'
        )
    # dockerd refuses the whole daemon.json (and a reload of it) for one bad mirror.
    mirrors = variables.get("docker_engine_registry_mirrors")
    bad = [why for why in map(url_error, mirrors) if why] if isinstance(mirrors, list) else []
    if bad:
        errors.append(
            f"docker_engine_registry_mirrors: {'; '.join(bad)}. Give each mirror as http:// or "
            "https:// and a host, e.g. http://registry.lab:5000."
        )
    errors += proxy_errors(variables)
    return errors


def proxy_errors(variables):
    """What is wrong with the proxy variables, one message per variable:
    a proxy that is no http:// or https:// URL with a host (Go would guess
    http:// for "proxy.lab:3128"; the role asks for it), or a value the
    drop-in cannot hold (a newline: urlsplit drops it silently)."""
    errors = []
    for name in ("docker_engine_http_proxy", "docker_engine_https_proxy"):
        value = variables.get(name)
        if value is None or value == "":
            continue
        why = value_error(value) if isinstance(value, str) else None
        if why:
            errors.append(f"{name} {why}.")
            continue
        why = url_error(value, user=True)
        if not why and any(c.isspace() for c in value):
            # urlsplit takes "http://proxy lab:3128"; Go's url.Parse does not.
            why = f"{value!r} has a space, which a URL cannot have"
        if why:
            errors.append(
                f"{name}: {why}. Give the proxy as http:// or https://, a host and a port, "
                "e.g. http://proxy.lab:3128."
            )
    entries = variables.get("docker_engine_no_proxy")
    if isinstance(entries, list):
        bad = [f"the entry {entry!r} {value_error(entry)}" for entry in entries if value_error(entry)]
        if bad:
            errors.append(
                f"docker_engine_no_proxy: {'; '.join(bad)}. List host names, domains (.lab) and "
                "addresses or networks (10.0.0.0/8), e.g. [localhost, 127.0.0.1, .lab]."
            )
    return errors


def engine_plan(facts, variables):
    """What docker_engine has to refuse and to do on a host.

    ``facts``: docker_host_facts' fact ({} before the host was read).
    ``variables``: the role's docker_engine_* variables by name, and host
    (its inventory name), file_modes (path to wanted mode), request (what
    the role needs read: its docker_engine_host_read_request) and
    proxy_dropin (the proxy drop-in's path, in the request). Returns
    covered (the read has what the role decides on); input_errors; options
    (daemon.json settings: the role's, then docker_engine_daemon_options over
    them) and removed_keys (what the merge
    takes out); config_suspect (daemon.json does not parse, or "hosts" is in
    it or in the options), host_errors, preflight_errors and preflight_ok;
    and the differences engine.yml's tasks act on: missing_packages,
    enabled_differs, daemon_config (daemon.json after docker_daemon_config's
    merge) and config_differs, loose_files, proxy_environment, proxy_sha256
    (the proxy drop-in's, docker_daemon_environment's text) and
    proxy_differs, and todo, their union."""
    # The lists and dicts as the argument spec read them (it checked them):
    # from -e they may be strings it converts.
    v = {
        **variables,
        "docker_engine_daemon_options": as_dict(
            "docker_engine_daemon_options", variables["docker_engine_daemon_options"]
        ),
        "docker_engine_log_opts": as_dict("docker_engine_log_opts", variables["docker_engine_log_opts"]),
        "docker_engine_registry_mirrors": as_list(
            "docker_engine_registry_mirrors", variables["docker_engine_registry_mirrors"]
        ),
        "docker_engine_no_proxy": as_list("docker_engine_no_proxy", variables["docker_engine_no_proxy"]),
    }
    wrong = input_errors(v)
    covered = covers(facts, v["request"])
    plan = {
        "covered": covered,
        "read_needed": not covered and not wrong,
        "input_errors": wrong,
        "options": {},
        "removed_keys": [],
        "replaced_keys": [],
    }
    if not wrong:
        managed = {
            "live-restore": truthy(v["docker_engine_live_restore"]),
            "icc": truthy(v["docker_engine_icc"]),
            "no-new-privileges": truthy(v["docker_engine_no_new_privileges"]),
            "userland-proxy": truthy(v["docker_engine_userland_proxy"]),
            "log-driver": v["docker_engine_log_driver"],
        }
        if v["docker_engine_log_opts"]:
            managed["log-opts"] = v["docker_engine_log_opts"]
        if v["docker_engine_registry_mirrors"]:
            managed["registry-mirrors"] = v["docker_engine_registry_mirrors"]
        if v["docker_engine_userns_remap"]:
            managed["userns-remap"] = v["docker_engine_userns_remap"]
        plan["options"] = merge(managed, v["docker_engine_daemon_options"])
        if not v["docker_engine_userns_remap"] and "userns-remap" not in v["docker_engine_daemon_options"]:
            plan["removed_keys"].append("userns-remap")
        if "log-opts" in plan["options"]:
            plan["replaced_keys"] = ["log-opts"]
        else:
            plan["removed_keys"].append("log-opts")
    daemon_json = facts.get("daemon_json") or {}
    current = daemon_json.get("config") or {}
    plan["config_suspect"] = bool(facts) and (
        not daemon_json.get("valid") or "hosts" in current or "hosts" in v["docker_engine_daemon_options"]
    )
    host_errors = []
    if (
        plan["options"]
        and not truthy(plan["options"].get("userland-proxy"))
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
    plan["preflight_errors"] = wrong or host_errors
    plan["preflight_ok"] = not wrong and not plan["config_suspect"] and not host_errors
    service = facts.get("service") or {}
    installed = facts.get("packages") or {}
    plan["missing_packages"] = [name for name in v["request"]["packages"] if installed.get(name) is None]
    plan["enabled_differs"] = service.get("enabled") != truthy(v["docker_engine_service_enabled"])
    plan["daemon_config"] = apply(current, plan["options"], plan["removed_keys"], plan["replaced_keys"])
    plan["config_differs"] = plan["daemon_config"] != current
    plan["loose_files"] = loose_files(v["file_modes"], facts.get("files"))
    # The drop-in's text is docker_daemon_environment's own (_proxy.render);
    # the read's sha256 of the file tells whether the module would change it.
    plan["proxy_environment"] = (
        {}
        if wrong
        else proxy_environment(
            v["docker_engine_http_proxy"], v["docker_engine_https_proxy"], v["docker_engine_no_proxy"]
        )
    )
    plan["proxy_sha256"] = sha256(render(plan["proxy_environment"])) or ""
    dropin = (facts.get("files") or {}).get(v["proxy_dropin"]) or {}
    plan["proxy_differs"] = (
        dropin.get("sha256") != plan["proxy_sha256"] if dropin.get("exists") else bool(plan["proxy_sha256"])
    )
    plan["todo"] = bool(
        v["docker_engine_source"] == "upstream"
        or plan["missing_packages"]
        or not service.get("active")
        or plan["enabled_differs"]
        or facts.get("stash_pending")
        or plan["config_differs"]
        or plan["loose_files"]
        or plan["proxy_differs"]
    )
    return plan


class FilterModule:
    def filters(self):
        return {
            "engine_plan": engine_plan,
        }

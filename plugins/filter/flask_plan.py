# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: flask_plan
short_description: What flask_app has to read, refuse and do on a host
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
description:
  - Takes the host's facts and the role's variables, and returns in one
    dict what flask_app decides. The role's tasks use its fields
    (C(_flask_app_plan.FIELD)).
  - The role's argument spec checks the variables' types first; this checks
    what a spec cannot say. C(flask_app_host_port) and
    C(flask_app_container_port) must be TCP ports from 1 to 65535,
    C(flask_app_bind_address) an IPv4 or IPv6 address, and
    C(flask_app_wait_timeout) at least 1 second.
  - It decides on the host read (the fact C(dockerlab) of
    M(dockerlab.docker.docker_host_facts)) when that covers C(request), the
    daemon answered it and has not restarted since (the fact
    C(dockerlab_daemon_restarted)); the role reads the host again otherwise.
  - It says what is in the way (C(host_errors)) and why the container is not
    as wanted (C(drift)).
  - It runs on the controller. One Python call costs less than the chain of
    Jinja variables it replaces, which ansible-core compiles again for every
    host.
positional: variables
options:
  _input:
    description:
      - The host's C(ansible_facts). C(dockerlab) (the host read) and
        C(dockerlab_daemon_restarted) are used.
    type: dict
    required: true
  variables:
    description:
      - The variables, by name. The role passes all of them.
      - C(request) (what the role needs read, its
        C(flask_app_host_read_request)).
      - The role's C(flask_app_image), C(flask_app_name),
        C(flask_app_restart_policy), C(flask_app_bind_address),
        C(flask_app_host_port), C(flask_app_container_port),
        C(flask_app_wait_timeout), C(flask_app_memory),
        C(flask_app_cpu_shares), C(flask_app_pids_limit), C(flask_app_user),
        C(flask_app_cap_drop), C(flask_app_read_only), C(flask_app_tmpfs),
        C(flask_app_no_new_privileges) and C(flask_app_healthcheck).
    type: dict
    required: true
"""

EXAMPLES = r"""
# roles/flask_app/vars/main.yml
_flask_app_plan: >-
  {{ ansible_facts | dockerlab.docker.flask_plan({
       'request': flask_app_host_read_request,
       'flask_app_image': flask_app_image, 'flask_app_name': flask_app_name,
       'flask_app_restart_policy': flask_app_restart_policy, 'flask_app_bind_address': flask_app_bind_address,
       'flask_app_host_port': flask_app_host_port, 'flask_app_container_port': flask_app_container_port,
       'flask_app_wait_timeout': flask_app_wait_timeout, 'flask_app_memory': flask_app_memory,
       'flask_app_cpu_shares': flask_app_cpu_shares, 'flask_app_pids_limit': flask_app_pids_limit,
       'flask_app_user': flask_app_user, 'flask_app_cap_drop': flask_app_cap_drop,
       'flask_app_read_only': flask_app_read_only, 'flask_app_tmpfs': flask_app_tmpfs,
       'flask_app_no_new_privileges': flask_app_no_new_privileges,
       'flask_app_healthcheck': flask_app_healthcheck}) }}
# The tasks use its fields.
# when: _flask_app_plan.current
"""

RETURN = r"""
_value:
  description: What flask_app has to read, refuse and do on the host.
  type: dict
  contains:
    input_errors:
      description: One message per wrong variable, naming it and the fix; empty when there is none.
      type: list
      elements: str
    covered:
      description:
        - True when the host read was made with everything C(request) asks
          for (the image, the container, the host port and the containers),
          the daemon answered it, and the daemon has not restarted since
          (C(dockerlab_daemon_restarted)); the role reads the host again
          otherwise.
      type: bool
    host_errors:
      description:
        - What would make the deployment fail half-way, from the read, such as
          the host port held by another program or container, or an image found nowhere.
        - Where the daemon did not answer the read (C(daemon_answered)), the
          port's listeners that are Docker's own (docker-proxy, dockerd) are
          not counted, as they may be the role's container's, and only the
          daemon can tell.
        - Empty when there are input errors.
      type: list
      elements: str
    preflight_errors:
      description: C(input_errors) when there are any, else C(host_errors).
      type: list
      elements: str
    preflight_ok:
      description:
        - True when there are no input errors, C(covered) is true and there are no host errors
          (preflight's gate).
      type: bool
    drift:
      description:
        - Why the container is not as wanted, from the read, with the
          settings label, memory limit, CPU shares and PIDs limit.
        - An empty string when the container is as wanted, and when there
          are input errors.
      type: str
    current:
      description: True when C(covered), there are no input errors and no C(drift) (converge's gate).
      type: bool
    read_needed:
      description: True when not C(covered) and there are no input errors (the read tasks' condition).
      type: bool
    daemon_answered:
      description:
        - Whether the Docker daemon answered the read (its images and containers are in it).
        - False where Docker is not running, or not installed yet, as in a check run on a new host,
          which then says what it would deploy instead of asking the daemon.
      type: bool
    settings_hash:
      description:
        - The label that hashes the container's settings beyond image,
          ports and restart policy. The first 16 hex digits of the sha256 of
          the JSON list of C(flask_app_user), C(flask_app_cap_drop),
          C(flask_app_memory), C(flask_app_cpu_shares),
          C(flask_app_read_only), C(flask_app_tmpfs),
          C(flask_app_no_new_privileges), C(flask_app_healthcheck) and
          C(flask_app_pids_limit) (the numbers as integers, the flags as
          booleans), with sorted keys, as Ansible's C(to_json) with
          C(sort_keys=true) and C(hash) with C(sha256) give it. Running
          containers carry it, so it must not change.
        - An empty string when there are input errors.
      type: str
"""

import hashlib
import ipaddress
import json
from collections.abc import Mapping

from ansible.module_utils.common.text.formatters import human_to_bytes
from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import FACT, RESTARTED_FACT, covers
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import WILDCARDS, overlaps
from ansible_collections.dockerlab.docker.plugins.module_utils._proc import describe
from ansible_collections.dockerlab.docker.plugins.plugin_utils._values import truthy, whole_number

# The processes that listen on a host port a container publishes.
DOCKER_LISTENERS = ("docker-proxy", "dockerd")


def _digest(repo_digest):
    return repo_digest.rpartition("@")[2]


def _bytes(size):
    """A memory size in bytes as docker_container reads it (Ansible's
    human_to_bytes: "128m", "128MB", "1g", "512"); 0 for none, -1 for a size
    it would refuse."""
    if size in (None, "", 0):
        return 0
    try:
        return int(human_to_bytes(str(size).strip()))
    except (ValueError, TypeError, OverflowError):
        return -1


def _settings_drift(container, wanted):
    """What differs in the settings beyond image, state, policy and ports."""
    labels = container.get("labels") or {}
    for key, value in (wanted.get("labels") or {}).items():
        if labels.get(key) != value:
            return "the container was made with other settings"
    if "memory" in wanted and (container.get("memory") or 0) != _bytes(wanted["memory"]):
        return "the memory limit differs"
    if "cpu_shares" in wanted and (container.get("cpu_shares") or 0) != int(wanted["cpu_shares"] or 0):
        return "the CPU shares differ"
    if "pids_limit" in wanted:
        now = container.get("pids_limit") or 0
        if max(now, 0) != max(int(wanted["pids_limit"] or 0), 0):
            return "the PIDs limit differs"
    return ""


def drift(facts, image, name, restart_policy, bind_address, host_port, container_port, wanted=None):
    images = (facts or {}).get("images")
    inspected = (facts or {}).get("inspected")
    if not isinstance(images, dict) or not isinstance(inspected, dict):
        return "the daemon did not answer"
    if image not in images or name not in inspected:
        return "not read yet"
    state = images[image] or {}
    if not state.get("id"):
        return "the image is not pulled"
    if not state.get("registry_digest"):
        # Unknown is not "current": the pull says what is wrong.
        why = state.get("registry_error") or "no answer"
        return f"the registry did not say which image the tag names ({why})"
    if state["registry_digest"] not in [_digest(d) for d in state.get("repo_digests") or []]:
        return "the registry has a new image behind the tag"
    container = inspected[name]
    if not container:
        return "there is no container " + name
    if container.get("image_id") != state["id"]:
        return "the container runs another image"
    if container.get("status") != "running":
        return f"the container is {container.get('status') or 'not running'}"
    if container.get("restart_policy") != restart_policy:
        return f"the restart policy is '{container.get('restart_policy')}'"
    ports = {f"{container_port}/tcp": [{"HostIp": str(bind_address), "HostPort": str(host_port)}]}
    if container.get("port_bindings") != ports:
        return "the published ports differ"
    return _settings_drift(container, wanted or {})


def _our_addresses(facts, name, host_port):
    """The host addresses where the role's own running container publishes
    host_port (its docker-proxy listens there): those sockets are not in the way."""
    container = ((facts or {}).get("inspected") or {}).get(name) or {}
    if container.get("status") != "running":
        return set()
    bindings = container.get("port_bindings") or {}
    return {
        b.get("HostIp") or "0.0.0.0"  # noqa: S104 - Docker's empty HostIp means every address
        for key, items in bindings.items()
        if str(key).endswith("/tcp")
        for b in items or []
        if str(b.get("HostPort")) == str(host_port)
    }


def _ours(item, addresses):
    """A listener of the role's own container: docker-proxy (or dockerd) on
    one of its addresses (an IPv4 wildcard binding also listens on ::)."""
    if item.get("process") not in DOCKER_LISTENERS:
        return False
    address = item.get("address", "")
    return address in addresses or (address == "::" and WILDCARDS[0] in addresses)


def host_errors(facts, image, name, bind_address, host_port):
    """Messages (empty when none) naming the variable and the fix."""
    facts = facts or {}
    errors = []
    port = str(host_port)
    holders = [
        f"container {c['name']}"
        for c in facts.get("containers") or []
        if c.get("name") != name
        and c.get("state") == "running"
        and any(
            str(p.get("port")) == port
            and p.get("type", "tcp") == "tcp"
            and overlaps(p.get("ip", ""), bind_address)
            for p in c.get("published") or []
        )
    ]
    if not holders:
        ours = _our_addresses(facts, name, host_port)
        answered = daemon_answered(facts)
        holders = [
            describe(item)
            for item in (facts.get("listening") or {}).get(port) or []
            if overlaps(item.get("address", ""), bind_address)
            and not _ours(item, ours)
            # Docker's own listener, the daemon silent: perhaps the role's own container's.
            and (answered or item.get("process") not in DOCKER_LISTENERS)
        ]
    if holders:
        errors.append(
            f"flask_app_host_port {port} is already in use on this host by {', '.join(holders)}. "
            f"Choose a free port for flask_app_host_port, or stop what holds it."
        )
    state = (facts.get("images") or {}).get(image)
    if state and not state.get("id") and not state.get("registry_digest"):
        errors.append(
            f"flask_app_image '{image}' is neither on this host nor in the registry it pulls from "
            f"(the registry says: {state.get('registry_error') or 'nothing'}). Check the name and tag "
            f"(e.g. digitalocean/flask-helloworld:latest), or push the image to that registry or mirror."
        )
    return errors


def daemon_answered(read):
    """Whether the daemon answered the read: what this role decides on is
    the daemon's (its images, containers and the ports it publishes)."""
    return isinstance(read.get("images"), Mapping) and read.get("containers") is not None


def input_errors(variables):
    """What is wrong with flask_app's variables (a mapping of their names to
    values) that the role's argument spec cannot say (it checks their types
    first), one message per variable that names it and the fix; [] when
    nothing is."""
    errors = []
    for name in ("flask_app_host_port", "flask_app_container_port"):
        port = whole_number(variables.get(name))
        if port is not None and not 1 <= port <= 65535:
            errors.append(f"{name} is '{variables.get(name)}': use a TCP port from 1 to 65535.")
    address = str(variables.get("flask_app_bind_address"))
    try:
        ipaddress.ip_address(address)
    except ValueError:
        errors.append(
            f"flask_app_bind_address is '{address}', which is not an IPv4 or IPv6 address: use e.g. 0.0.0.0"
            " (every interface) or 127.0.0.1 (this host only)."
        )
    timeout = whole_number(variables.get("flask_app_wait_timeout"))
    if timeout is not None and timeout < 1:
        errors.append(
            f"flask_app_wait_timeout is '{variables.get('flask_app_wait_timeout')}': use a number of"
            " seconds, at least 1."
        )
    return errors


def settings_hash(variables):
    """The label that hashes the container's settings beyond image, ports and
    restart policy: the first 16 hex digits of the sha256 of their JSON
    list, sorted keys, as Ansible's to_json(sort_keys=true) | hash('sha256')
    gave it (running containers carry it: it must not change)."""
    v = variables
    settings = [
        v["flask_app_user"],
        v["flask_app_cap_drop"],
        v["flask_app_memory"],
        int(v["flask_app_cpu_shares"]),
        truthy(v["flask_app_read_only"]),
        v["flask_app_tmpfs"],
        truthy(v["flask_app_no_new_privileges"]),
        v["flask_app_healthcheck"],
        int(v["flask_app_pids_limit"]),
    ]
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def flask_plan(ansible_facts, variables):
    """What flask_app has to read, refuse and do on a host, in one call.

    ``ansible_facts``: the host's facts: the host read ("dockerlab") and
    whether the daemon restarted since ("dockerlab_daemon_restarted").
    ``variables``: the role's flask_app_* variables by name, and request
    (what the role needs read: its flask_app_host_read_request). Returns
    input_errors; settings_hash (the label that hashes the container's other
    settings); covered (the read has the image, the container, the port and
    the containers, from a daemon that answered and has not restarted
    since); host_errors, preflight_errors and preflight_ok; drift (why the
    container is not as wanted, "" when it is); and current (covered and no
    drift: converge's gate)."""
    v = variables
    image, name, host_port = v["flask_app_image"], v["flask_app_name"], v["flask_app_host_port"]
    read = ansible_facts.get(FACT) or {}
    read_covers = covers(read, v["request"], ansible_facts.get(RESTARTED_FACT)) and daemon_answered(read)
    plan = {
        "input_errors": input_errors(v),
        "covered": read_covers,
        "host_errors": [],
        "drift": "",
        "settings_hash": "",
        "daemon_answered": daemon_answered(read),
    }
    if not plan["input_errors"]:
        bind_address = v["flask_app_bind_address"]
        plan["host_errors"] = host_errors(read, image, name, bind_address, host_port)
        plan["settings_hash"] = settings_hash(v)
        wanted = {
            "labels": {"org.dockerlab.flask-settings": plan["settings_hash"]},
            "memory": v["flask_app_memory"],
            "cpu_shares": int(v["flask_app_cpu_shares"]),
            "pids_limit": int(v["flask_app_pids_limit"]),
        }
        plan["drift"] = drift(
            read,
            image,
            name,
            v["flask_app_restart_policy"],
            bind_address,
            host_port,
            v["flask_app_container_port"],
            wanted,
        )
    plan["preflight_errors"] = plan["input_errors"] or plan["host_errors"]
    plan["preflight_ok"] = not plan["input_errors"] and read_covers and not plan["host_errors"]
    plan["current"] = read_covers and not plan["input_errors"] and not plan["drift"]
    plan["read_needed"] = not read_covers and not plan["input_errors"]
    return plan


class FilterModule:
    def filters(self):
        return {
            "flask_plan": flask_plan,
        }

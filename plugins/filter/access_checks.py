# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: access_checks
short_description: What docker_access's preflight has to read or refuse on a host
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
description:
  - Takes the fact of M(dockerlab.docker.docker_host_facts) (an empty dict before the host
    was read, when only the variables are checked) and a mapping of
    variables by name, and returns what is wrong with the variables, what
    stops the role on the host, and whether preflight must read the host
    (see RETURN).
  - The role's argument spec checks the variables' types first; this checks
    what a spec cannot say. docker_engine must be in the same play (in
    C(role_names)); the TCP port must be from 1 to 65535; unless
    C(docker_access_tcp) is C(off), C(docker_access_tcp_address) must be an
    IPv4 or IPv6 address (also in brackets) or a host name, and an IP address
    where C(docker_access_tcp_held_by) is C(systemd); C(insecure)
    needs C(docker_access_insecure_acknowledged) true.
  - "C(docker_access_restricted_users) need C(docker_access_tcp) C(tls) and
    C(docker_access_authz) true, must be user names other than root, and
    must not be in C(docker_access_users) as well."
  - The host is checked only when it was read and the variables are fine.
  - It runs on the controller, which is where it looks for the CA key.
positional: variables
options:
  _input:
    description: The fact of docker_host_facts, or an empty dict.
    type: dict
    required: true
  variables:
    description:
      - The variables, by name.
      - C(role_names) (the play's C(ansible_role_names)), C(request) (what
        the role needs read, its C(docker_access_host_read_request)),
        C(host) (the inventory name), C(ca_key) (the CA key's path on the
        controller) and C(reserved_keys) (daemon.json keys the listener's
        flags set).
      - The role's C(docker_access_tcp), C(docker_access_tcp_port),
        C(docker_access_tcp_address), C(docker_access_tcp_held_by),
        C(docker_access_insecure_acknowledged), C(docker_access_tls_dir),
        C(docker_access_ca_regenerate), C(docker_access_users),
        C(docker_access_restricted_users) and C(docker_access_authz).
    type: dict
    required: true
"""

EXAMPLES = r"""
# roles/docker_access/vars/main.yml
_docker_access_checks: >-
  {{ ansible_facts.dockerlab | default({}) | dockerlab.docker.access_checks({
       'role_names': ansible_role_names, 'request': docker_access_host_read_request,
       'host': inventory_hostname, 'ca_key': _docker_access_ca_key,
       'reserved_keys': _docker_access_reserved_keys,
       'docker_access_tcp': docker_access_tcp, 'docker_access_tcp_port': docker_access_tcp_port,
       'docker_access_tcp_address': docker_access_tcp_address,
       'docker_access_tcp_held_by': docker_access_tcp_held_by,
       'docker_access_insecure_acknowledged': docker_access_insecure_acknowledged,
       'docker_access_tls_dir': docker_access_tls_dir,
       'docker_access_ca_regenerate': docker_access_ca_regenerate,
       'docker_access_users': docker_access_users,
       'docker_access_restricted_users': docker_access_restricted_users,
       'docker_access_authz': docker_access_authz}) }}
# The tasks use its fields.
# when: _docker_access_checks.preflight_ok
"""

RETURN = r"""
_value:
  description: What docker_access's preflight has to read or refuse on the host.
  type: dict
  contains:
    input_errors:
      description: One message per wrong value, naming the variable and the fix; empty when there is none.
      type: list
      elements: str
    port:
      description:
        - The TCP port. C(docker_access_tcp_port), or Docker's convention for
          C(docker_access_tcp) where it is empty.
        - As given, an integer or a string.
      type: raw
    reread_needed:
      description:
        - True when the read does not cover C(request), or there is no read;
          preflight reads the host then.
        - False when there are input errors.
      type: bool
    host_errors:
      description:
        - One message per problem on the host. Users of
          C(docker_access_users) or C(docker_access_restricted_users) the
          read did not find there; with TLS, a CA
          the host trusts (C(docker_access_tls_dir)/ca.pem) whose key
          C(ca_key) is not on the controller, unless
          C(docker_access_ca_regenerate) is true.
        - Empty before the host was read and when there are input errors.
      type: list
      elements: str
    reserved_conflict:
      description:
        - True when C(docker_access_tcp) is not C(off) and daemon.json sets
          one of C(reserved_keys). M(docker_daemon_config) explains it.
        - False before the host was read and when there are input errors.
      type: bool
    preflight_errors:
      description: C(input_errors) when there are any, else C(host_errors).
      type: list
      elements: str
    preflight_ok:
      description:
        - True when there are no input errors, no host errors, no reread needed and no reserved
          conflict (preflight's gate).
      type: bool
"""

import os

from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import covers
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import (
    address_error,
    holder_error,
    port_error,
    tcp_port,
)
from ansible_collections.dockerlab.docker.plugins.plugin_utils._values import as_list, truthy


def engine_in_play(role_names):
    """Whether the role docker_engine is in the play (ansible_role_names):
    by its full name, or a copy of it by its plain name."""
    return any(str(name).rpartition(".")[2] == "docker_engine" for name in role_names or [])


def restricted_errors(variables):
    """What is wrong with docker_access_restricted_users and
    docker_access_authz: one message per problem; [] when none is."""
    restricted = as_list(
        "docker_access_restricted_users", variables.get("docker_access_restricted_users") or []
    )
    if not restricted:
        return []
    errors = []
    if variables.get("docker_access_tcp") != "tls":
        errors.append(
            f"docker_access_restricted_users lists {', '.join(restricted)}, but docker_access_tcp is"
            f" '{variables.get('docker_access_tcp')}': restricted users reach Docker only over TLS,"
            " where their certificate says who they are. Set docker_access_tcp: tls."
        )
    if not truthy(variables.get("docker_access_authz", True)):
        errors.append(
            "docker_access_authz is false while docker_access_restricted_users lists"
            f" {', '.join(restricted)}: without the policy a certificate is root on the host. Empty the"
            " list (or move the users to docker_access_users, who are root-equivalent), or set"
            " docker_access_authz: true."
        )
    users = as_list("docker_access_users", variables.get("docker_access_users") or [])
    both = sorted(set(users) & set(restricted))
    if both:
        errors.append(
            f"{', '.join(both)} {'is' if len(both) == 1 else 'are'} in both docker_access_users"
            " (root-equivalent) and docker_access_restricted_users. Keep each user in one of them."
        )
    # Imported here: it brings the plugin's program, which a play without
    # restricted users does not need (about 40 ms in each process).
    from ansible_collections.dockerlab.docker.plugins.module_utils._authz_install import policy_errors

    errors += [
        f"docker_access_restricted_users: {error} Fix the list." for error in policy_errors(restricted, [])
    ]
    return errors


def input_errors(variables):
    """What is wrong with docker_access's variables, and the play, that the
    role's argument spec cannot say (it checks their types first): one
    message per problem, naming the variable and the fix; [] when none is."""
    errors = []
    if not engine_in_play(variables.get("role_names")):
        errors.append(
            "docker_access needs the docker_engine role earlier in the same play: it installs Docker"
            " and owns the restart handler this role notifies. Use roles: [dockerlab.docker.docker_engine,"
            " dockerlab.docker.docker_access] (as the playbook dockerlab.docker.site does)."
        )
    mode = variables.get("docker_access_tcp")
    port = tcp_port(mode, variables.get("docker_access_tcp_port"))
    if port_error(port):
        errors.append(
            f"docker_access_tcp_port is '{variables.get('docker_access_tcp_port')}': use a TCP port from 1 to"
            " 65535, or leave it empty for Docker's convention (2376 with TLS, 2375 without)."
        )
    address = str(variables.get("docker_access_tcp_address"))
    if mode != "off" and address_error(address):
        errors.append(
            f"docker_access_tcp_address is '{address}', which is neither an IPv4 or IPv6 address nor"
            " a host name. Use e.g. 0.0.0.0 (every interface), 127.0.0.1 (this host only) or one"
            " interface's address."
        )
    held_by = str(variables.get("docker_access_tcp_held_by", "auto"))
    if mode != "off" and not address_error(address) and holder_error(held_by, address):
        errors.append(
            f"docker_access_tcp_held_by is '{held_by}' and docker_access_tcp_address is '{address}', a host"
            " name, which systemd's ListenStream= cannot take. Set docker_access_tcp_address to the IP"
            " address it resolves to, or docker_access_tcp_held_by to auto or dockerd (dockerd resolves it,"
            " and its listener refuses connections while it restarts)."
        )
    errors += restricted_errors(variables)
    if mode == "insecure" and not truthy(variables.get("docker_access_insecure_acknowledged")):
        errors.append(
            "docker_access_tcp is 'insecure': the Docker API would listen on"
            f" {address}:{port} with NO authentication, and anyone who can reach it"
            " is root on this host. This is only for deliberately vulnerable breakout labs: set"
            " docker_access_insecure_acknowledged: true to confirm, or use docker_access_tcp: tls."
        )
    return errors


def host_errors(facts, variables):
    """What stops docker_access on the host that docker_host_facts read
    (``facts``), one message per problem; [] when none does. ``variables``:
    host (its inventory name), ca_key (the CA key's path on the controller),
    docker_access_tcp, docker_access_tls_dir and docker_access_ca_regenerate."""
    errors = []
    host = variables.get("host")
    found = facts.get("users") or {}
    for name in ("docker_access_users", "docker_access_restricted_users"):
        listed = as_list(name, variables.get(name) or [])
        missing = sorted(user for user in listed if user in found and found[user] is None)
        if missing:
            errors.append(
                f"{name} lists {', '.join(missing)}, who {'does' if len(missing) == 1 else 'do'} not"
                f" exist on {host}. Create the user(s) first or remove them from the list."
            )
    ca_key = variables.get("ca_key")
    host_ca = f"{variables.get('docker_access_tls_dir')}/ca.pem"
    if (
        variables.get("docker_access_tcp") == "tls"
        and not os.path.isfile(ca_key)
        and not truthy(variables.get("docker_access_ca_regenerate"))
        and ((facts.get("files") or {}).get(host_ca) or {}).get("exists")
    ):
        errors.append(
            f"The CA key {ca_key} is missing on the controller, but {host} trusts a CA ({host_ca}). A new CA"
            " would break every client bundle issued so far. Restore the PKI directory from your backup, or"
            " set docker_access_ca_regenerate: true to issue a new CA and new bundles."
        )
    return errors


def access_checks(facts, variables):
    """What docker_access's preflight has to read or refuse on a host.

    ``facts``: docker_host_facts' fact ({} before the host was read).
    ``variables``: what input_errors and host_errors take, request (what the
    role needs read: its docker_access_host_read_request) and reserved_keys
    (daemon.json keys the listener's flags set). Returns input_errors; port
    (the TCP port: docker_access_tcp_port or Docker's convention for the
    mode); reread_needed (the read does not cover the role's request);
    host_errors; reserved_conflict (daemon.json sets a reserved key and the
    role manages a listener); preflight_errors (the inputs' first) and
    preflight_ok."""
    wrong = input_errors(variables)
    checks = {
        "input_errors": wrong,
        "port": tcp_port(variables["docker_access_tcp"], variables.get("docker_access_tcp_port")),
        "reread_needed": False,
        "host_errors": [],
        "reserved_conflict": False,
    }
    if not wrong:
        checks["reread_needed"] = not covers(facts, variables["request"])
    if facts and not wrong:
        checks["host_errors"] = host_errors(facts, variables)
        config = (facts.get("daemon_json") or {}).get("config") or {}
        checks["reserved_conflict"] = variables["docker_access_tcp"] != "off" and any(
            key in config for key in variables["reserved_keys"]
        )
    checks["preflight_errors"] = wrong or checks["host_errors"]
    checks["preflight_ok"] = not (
        wrong or checks["reread_needed"] or checks["host_errors"] or checks["reserved_conflict"]
    )
    return checks


class FilterModule:
    def filters(self):
        return {
            "access_checks": access_checks,
        }

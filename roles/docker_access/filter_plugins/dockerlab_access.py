# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the docker_access role (the PKI's are in dockerlab_pki.py).

``dockerlab_access_checks`` says what preflight has to read or refuse: what
is wrong with the role's variables before the host is asked anything, and
what stops the role on the host as docker_host_facts read it. It runs on the
controller, in the process that evaluates the role's gates: a Python call
costs a fraction of the Jinja it replaces, which Ansible compiles again for
every host.

Each filter's documentation is in <filter name>.yml beside this file, for
ansible-doc: a DOCUMENTATION string here would hide those files and be shown
for every filter of the file.
"""

import ipaddress
import os
import re

from ansible.module_utils.parsing.convert_bool import boolean

# RFC 1123 host name (labels of letters, digits and inner hyphens).
_HOSTNAME = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


def _is_ip(value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def tcp_port(variables):
    """docker_access_tcp_port, or Docker's convention for the mode
    (default_ports) where it is empty."""
    port = variables.get("docker_access_tcp_port")
    if port is None or str(port) == "":
        return variables["default_ports"].get(variables.get("docker_access_tcp"))
    return port


def _port_ok(port):
    text = str(port).strip()
    return not isinstance(port, bool) and text.isdigit() and 1 <= int(text) <= 65535


def _truthy(value):
    try:
        return boolean(value, strict=False)
    except TypeError:
        return False


def dockerlab_access_input_errors(variables):
    """One message per wrong docker_access variable; [] when none is."""
    errors = []
    if not variables.get("engine_in_play"):
        errors.append(
            "docker_access needs the docker_engine role earlier in the same play: it installs Docker"
            " and owns the restart handler this role notifies. Use roles: [docker_engine,"
            " docker_access] (as playbooks/site.yml does)."
        )
    mode = variables.get("docker_access_tcp")
    port = tcp_port(variables)
    if not _port_ok(port):
        errors.append(
            f"docker_access_tcp_port is '{variables.get('docker_access_tcp_port')}': use a TCP port from 1 to"
            " 65535, or leave it empty for Docker's convention (2376 with TLS, 2375 without)."
        )
    address = str(variables.get("docker_access_tcp_address"))
    if mode != "off" and not (
        _is_ip(address) or (_HOSTNAME.match(address) and not re.fullmatch(r"[0-9.]+", address))
    ):
        errors.append(
            f"docker_access_tcp_address is '{address}', which is neither an IPv4 or IPv6 address nor"
            " a host name. Use e.g. 0.0.0.0 (every interface), 127.0.0.1 (this host only) or one"
            " interface's address."
        )
    if mode == "insecure" and not _truthy(variables.get("docker_access_insecure_acknowledged")):
        errors.append(
            "docker_access_tcp is 'insecure': the Docker API would listen on"
            f" {address}:{port} with NO authentication, and anyone who can reach it"
            " is root on this host. This is only for deliberately vulnerable breakout labs: set"
            " docker_access_insecure_acknowledged: true to confirm, or use docker_access_tcp: tls."
        )
    users = variables.get("docker_access_users")
    if not isinstance(users, (list, tuple)) or not all(isinstance(user, str) for user in users):
        errors.append("docker_access_users must be a list of user names, e.g. [student].")
    return errors


def dockerlab_access_host_errors(facts, variables):
    """What stops docker_access on the host that docker_host_facts read
    (``facts``), one message per problem; [] when none does. ``variables``:
    host (its inventory name), ca_key (the CA key's path on the controller),
    docker_access_tcp, docker_access_tls_dir and docker_access_ca_regenerate."""
    errors = []
    host = variables.get("host")
    missing = sorted(user for user, found in (facts.get("users") or {}).items() if found is None)
    if missing:
        errors.append(
            f"docker_access_users lists {', '.join(missing)}, who {'does' if len(missing) == 1 else 'do'} not"
            f" exist on {host}. Create the user(s) first or remove them from the list."
        )
    ca_key = variables.get("ca_key")
    host_ca = f"{variables.get('docker_access_tls_dir')}/ca.pem"
    if (
        variables.get("docker_access_tcp") == "tls"
        and not os.path.isfile(ca_key)
        and not _truthy(variables.get("docker_access_ca_regenerate"))
        and ((facts.get("files") or {}).get(host_ca) or {}).get("exists")
    ):
        errors.append(
            f"The CA key {ca_key} is missing on the controller, but {host} trusts a CA ({host_ca}). A new CA"
            " would break every client bundle issued so far. Restore the PKI directory from your backup, or"
            " set docker_access_ca_regenerate: true to issue a new CA and new bundles."
        )
    return errors


def dockerlab_access_checks(facts, variables):
    """What docker_access's preflight has to read or refuse on a host.

    ``facts``: docker_host_facts' fact ({} before the host was read).
    ``variables``: what dockerlab_access_input_errors and
    dockerlab_access_host_errors take, and bundle_users and host_files (what
    the role needs read) and reserved_keys (daemon.json keys the listener's
    flags set). Returns input_errors; port (the TCP port: docker_access_tcp_port
    or Docker's convention for the mode); reread_needed (the read did not cover
    this role's users and files); host_errors; reserved_conflict
    (daemon.json sets a reserved key and the role manages a listener);
    preflight_errors (the inputs' first) and preflight_ok."""
    input_errors = dockerlab_access_input_errors(variables)
    checks = {
        "input_errors": input_errors,
        "port": tcp_port(variables),
        "reread_needed": False,
        "host_errors": [],
        "reserved_conflict": False,
    }
    if facts and not input_errors:
        users, files = facts.get("users") or {}, facts.get("files") or {}
        checks["reread_needed"] = any(user not in users for user in variables["bundle_users"]) or any(
            path not in files for path in variables["host_files"]
        )
        checks["host_errors"] = dockerlab_access_host_errors(facts, variables)
        config = (facts.get("daemon_json") or {}).get("config") or {}
        checks["reserved_conflict"] = variables["docker_access_tcp"] != "off" and any(
            key in config for key in variables["reserved_keys"]
        )
    checks["preflight_errors"] = input_errors or checks["host_errors"]
    checks["preflight_ok"] = not (
        input_errors or checks["reread_needed"] or checks["host_errors"] or checks["reserved_conflict"]
    )
    return checks


class FilterModule:
    def filters(self):
        return {
            "dockerlab_access_checks": dockerlab_access_checks,
        }

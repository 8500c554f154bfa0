# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: access_plan
short_description: What docker_access has to do on a host
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
description:
  - Takes the fact of M(dockerlab.docker.docker_host_facts) and a mapping of variables by
    name, and returns every difference access.yml's tasks act on, and
    C(todo), their union (converge's gate).
  - It runs on the controller. It reads the controller's PKI directory
    (C(docker_access_pki_dir)) to compare certificates and files; it issues
    and copies nothing.
  - The certificates and TLS files are compared only with
    C(docker_access_tcp) C(tls) and once there is a CA. The role evaluates
    the plan again at each use, so a task after the certificates were issued
    sees them.
positional: variables
options:
  _input:
    description:
      - The fact of docker_host_facts, read with this role's users and files
        (C(users), C(files), C(group), C(unit), C(units), C(daemon_json),
        C(fqdn), C(ipv4) and C(ipv6) are used).
    type: dict
    required: true
  variables:
    description:
      - The variables, by name. The role passes all of them.
      - C(host) (the inventory name), C(dropin) (the listener drop-in's
        path), C(socket_unit) (the listener socket unit's path),
        C(bundle_users) (the users who get a client bundle on this
        host), C(bundle_files) (the bundle's files, a list of C(name) and
        C(mode)), C(profile) (the restricted users' login script),
        C(revoked) (the users whose certificates the policy refuses, as
        M(dockerlab.docker.certs_revoked) says), C(authz_plugin) (the
        authorization plugin's name), C(authz_files) (its service unit
        and policy file) and C(authz_socket) (its socket unit's name, whose
        state the read has in C(units)). An empty C(docker_access_tcp_port) is Docker's
        convention for the mode.
      - The role's C(docker_access_tcp), C(docker_access_tcp_port),
        C(docker_access_tcp_address), C(docker_access_tcp_held_by),
        C(docker_access_tls_dir),
        C(docker_access_pki_dir), C(docker_access_users),
        C(docker_access_exclusive), C(docker_access_extra_sans),
        C(docker_access_cert_renew_days),
        C(docker_access_restricted_users) and C(docker_access_authz).
    type: dict
    required: true
"""

EXAMPLES = r"""
# roles/docker_access/vars/main.yml
_docker_access_plan: >-
  {{ ansible_facts.dockerlab | dockerlab.docker.access_plan({
       'host': inventory_hostname, 'dropin': _docker_access_dropin,
       'socket_unit': _docker_access_socket_unit,
       'docker_access_tcp_held_by': docker_access_tcp_held_by,
       'bundle_users': _docker_access_bundle_users, 'bundle_files': _docker_access_bundle_files,
       'docker_access_tcp_port': docker_access_tcp_port,
       'docker_access_tcp': docker_access_tcp, 'docker_access_tcp_address': docker_access_tcp_address,
       'docker_access_tls_dir': docker_access_tls_dir, 'docker_access_pki_dir': docker_access_pki_dir,
       'docker_access_users': docker_access_users, 'docker_access_exclusive': docker_access_exclusive,
       'docker_access_extra_sans': docker_access_extra_sans,
       'docker_access_cert_renew_days': docker_access_cert_renew_days}) }}
# The tasks use its fields.
# when: not _docker_access_plan.todo
"""

RETURN = r"""
_value:
  description: What docker_access has to do on the host.
  type: dict
  contains:
    group_differs:
      description:
        - True when the docker group does not exist, lacks one of
          C(docker_access_users), or, with C(docker_access_exclusive), has
          a member that is not one of them, or has a member of
          C(group_remove).
      type: bool
    ca_missing:
      description:
        - True when the CA certificate (ca.pem) or its key (ca-key.pem) is not in
          C(docker_access_pki_dir).
      type: bool
    sans:
      description:
        - The subjectAltNames the server certificate must have, each once,
          in this order. C(DNS:HOST), C(DNS:localhost), C(IP:127.0.0.1),
          C(IP:::1), C(DNS:FQDN) when the read has one, C(IP:) with each of
          the host's IPv4 and IPv6 addresses, then
          C(docker_access_extra_sans).
      type: list
      elements: str
    own_clients_to_issue:
      description:
        - The C(bundle_users) whose client certificate must be issued, as
          the filter M(dockerlab.docker.certs_to_issue) says.
        - Empty without TLS. Without a CA (C(ca_missing)), every one of
          them, because a new CA issues every certificate again.
      type: list
      elements: str
    server_status:
      description:
        - Why the server certificate (hosts/HOST/server-cert.pem in the PKI
          directory) must be (re)issued for C(sans) (C(missing),
          C(unreadable), C(issuer), C(key), C(names) or C(expiring)), or C(ok).
        - C(missing) without TLS or a CA.
      type: str
    tls_stale:
      description:
        - The files the host does not have as wanted, as
          they are compared by checksum, mode and owner. C(docker_access_tls_dir)
          (0755), its ca.pem, server-cert.pem (0444) and server-key.pem
          (0400), owned by root, and each bundle user's ~/.docker as
          each user's C(~/.docker) and its files.
        - Empty without TLS. Without a CA (C(ca_missing)), every file and
          the directories that differ, which is what a new CA installs
          again (and what a check run on a new controller reports).
      type: list
      elements: dict
    listener_current:
      description:
        - Whether the listener drop-in and socket unit are as wanted.
        - With C(off), when there is neither. With C(tls), when the
          drop-in records the hash of the inputs M(docker_daemon_listener)
          would write it from, and it alone sets the service's ExecStart;
          where systemd holds the listener, the socket unit records the
          same hash, else there is no socket unit.
        - Always false with C(insecure), so that the module runs, and shows
          its warning, on every run.
      type: bool
    restricted:
      description: C(docker_access_restricted_users), sorted.
      type: list
      elements: str
    revoked:
      description: C(revoked), sorted; empty without TLS.
      type: list
      elements: str
    authz_wanted:
      description:
        - Whether the authorization policy must be on. With TLS, when
          C(docker_access_authz) is true and there is a restricted or a
          revoked user.
      type: bool
    authz_current:
      description:
        - Wanted, when the service unit records the plugin's inputs hash,
          the policy file is the one for C(restricted) and C(revoked) (by
          sha256), the socket unit is active and enabled, and daemon.json
          names the plugin; not wanted, when
          neither file exists and daemon.json does not name it.
      type: bool
    authz_plugins:
      description: What daemon.json's C(authorization-plugins) must be (other plugins kept, in their order).
      type: list
      elements: str
    authz_named:
      description: Whether daemon.json names the plugin now.
      type: bool
    group_remove:
      description: Members of the docker group who are restricted or revoked (they leave it).
      type: list
      elements: str
    profile_text:
      description: The login script's text, or null where no user is restricted (no script).
      type: str
    profile_current:
      description:
        - Whether the login script is as wanted (by sha256, mode 0644,
          root), or absent where none is wanted.
      type: bool
    revoked_bundles:
      description:
        - The files of revoked users' bundles on the host that are the PKI's
          (their cert.pem is the controller's), to remove.
      type: list
      elements: str
    todo:
      description:
        - True when access.yml has anything to do (converge's gate).
        - That is when C(group_differs), with TLS when C(ca_missing),
          C(own_clients_to_issue), a C(server_status) other than C(ok) or
          C(tls_stale), when the listener, the policy or the login script
          is not current, or when there are revoked bundles to remove.
      type: bool
"""

import os

from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import configured_plugins
from ansible_collections.dockerlab.docker.plugins.module_utils._files import text_sha256
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import (
    holder,
    inputs_hash,
    listen_url,
    local_address,
    tcp_port,
    tls_paths,
)
from ansible_collections.dockerlab.docker.plugins.plugin_utils._pki import (
    bundle_files,
    cert_status,
    certs_to_issue,
    file_sha256,
    stale_files,
)
from ansible_collections.dockerlab.docker.plugins.plugin_utils._values import as_list, truthy


def _unique(items):
    """The items in their order, each once (Jinja's unique)."""
    return list(dict.fromkeys(items))


def profile_text(users, url):
    """The login script that points restricted users' docker CLI at the TLS
    listener (their client bundle is in ~/.docker, the CLI's default)."""
    return (
        "# Written by dockerlab.docker (role docker_access): restricted Docker users reach\n"
        "# dockerd over TLS, with their client bundle in ~/.docker, never its Unix socket.\n"
        'case "$(id -un 2>/dev/null)" in\n'
        f"{'|'.join(sorted(users))})\n"
        f"    export DOCKER_HOST={url} DOCKER_TLS_VERIFY=1\n"
        "    ;;\n"
        "esac\n"
    )


def authz_plan(facts, v, members, url):
    """The authorization policy's part of the plan (see RETURN)."""
    files = facts.get("files") or {}
    restricted = sorted(
        as_list("docker_access_restricted_users", v.get("docker_access_restricted_users") or [])
    )
    revoked = sorted(v.get("revoked") or []) if v["docker_access_tcp"] == "tls" else []
    wanted = (
        v["docker_access_tcp"] == "tls" and truthy(v["docker_access_authz"]) and bool(restricted or revoked)
    )
    named = configured_plugins([], (facts.get("daemon_json") or {}).get("config"))
    # The plugin's name, service unit, policy file and socket unit as the
    # role names them (its tests hold them equal to _authz_install's).
    plugin_name = v["authz_plugin"]
    service_path, policy_path = v["authz_files"]
    service = files.get(service_path) or {}
    policy = files.get(policy_path) or {}
    socket_unit = (facts.get("units") or {}).get(v["authz_socket"]) or {}
    if wanted:
        # Imported here: it brings the plugin's program, which a host without
        # the policy does not need (about 40 ms in each process).
        from ansible_collections.dockerlab.docker.plugins.module_utils import _authz_install

        # A socket unit stopped (or disabled) by hand while daemon.json names
        # the plugin makes every API call wait on it: started again.
        installed_current = (
            service.get("inputs") == _authz_install.inputs_hash()
            and policy.get("sha256") == _authz_install.policy_sha256(restricted, revoked)
            and bool(socket_unit.get("active") and socket_unit.get("enabled"))
        )
        plugins = named if plugin_name in named else [*named, plugin_name]
        current = installed_current and plugin_name in named
    else:
        plugins = [name for name in named if name != plugin_name]
        current = not service.get("exists") and not policy.get("exists") and plugin_name not in named
    profile = files.get(v["profile"]) or {}
    text = profile_text(restricted, url) if restricted and url else None
    if text is None:
        profile_current = not profile.get("exists")
    else:
        profile_current = profile.get("sha256") == text_sha256(text) and (
            profile.get("mode"),
            profile.get("uid"),
            profile.get("gid"),
        ) == ("0644", 0, 0)
    users = facts.get("users") or {}
    revoked_bundles = []
    for user in revoked:
        who = users.get(user) or {}
        bundle = who.get("files") or {}
        cert = bundle.get(".docker/cert.pem") or {}
        try:
            mine = file_sha256(os.path.join(v["docker_access_pki_dir"], "users", user, "cert.pem"))
        except OSError:
            continue
        if cert.get("exists") and mine == cert.get("sha256"):
            revoked_bundles += [
                f"{who['home']}/.docker/{item['name']}"
                for item in v["bundle_files"]
                if (bundle.get(f".docker/{item['name']}") or {}).get("exists")
            ]
    return {
        "restricted": restricted,
        "revoked": revoked,
        "authz_wanted": wanted,
        "authz_current": current,
        "authz_plugins": plugins,
        "authz_named": plugin_name in named,
        "group_remove": sorted(set(members) & (set(restricted) | set(revoked))),
        "profile_text": text,
        "profile_current": profile_current,
        "revoked_bundles": revoked_bundles,
    }


def access_plan(facts, variables):
    """What docker_access has to do on a host: every difference access.yml's
    tasks act on, and ``todo``, their union (converge.yml's gate).

    ``facts``: docker_host_facts' fact (users, files, group, unit, fqdn, ipv4,
    ipv6). ``variables``: host (inventory name), dropin (the listener
    drop-in's path), bundle_users (users who get a bundle on this host),
    bundle_files ([{"name", "mode"}]), and the role's docker_access_tcp,
    docker_access_tcp_port, docker_access_tcp_address, docker_access_tls_dir,
    docker_access_pki_dir, docker_access_users, docker_access_exclusive,
    docker_access_extra_sans and docker_access_cert_renew_days."""
    v = variables
    mode, pki_dir, tls_dir = v["docker_access_tcp"], v["docker_access_pki_dir"], v["docker_access_tls_dir"]
    renew_days = v["docker_access_cert_renew_days"]
    # As the argument spec read them (it checked them; -e gives strings).
    users = as_list("docker_access_users", v["docker_access_users"])
    group = facts.get("group") or {}
    members = list(group.get("members") or [])
    group_differs = (
        not group.get("exists")
        or bool(set(users) - set(members))
        or (truthy(v["docker_access_exclusive"]) and bool(set(members) - set(users)))
    )
    ca_cert, ca_key = os.path.join(pki_dir, "ca.pem"), os.path.join(pki_dir, "ca-key.pem")
    ca_missing = not (os.path.isfile(ca_key) and os.path.isfile(ca_cert))
    host_dir = os.path.join(pki_dir, "hosts", v["host"])
    sans = _unique(
        ["DNS:" + v["host"], "DNS:localhost", "IP:127.0.0.1", "IP:::1"]
        + (["DNS:" + facts["fqdn"]] if facts.get("fqdn") else [])
        + ["IP:" + address for address in facts.get("ipv4") or []]
        + ["IP:" + address for address in facts.get("ipv6") or []]
        + as_list("docker_access_extra_sans", v["docker_access_extra_sans"] or [])
    )
    plan = {
        "group_differs": group_differs,
        "ca_missing": ca_missing,
        "sans": sans,
        "own_clients_to_issue": [],
        "server_status": "missing",
        "tls_stale": [],
    }
    if mode == "tls":
        if ca_missing:
            # A new CA: every certificate is issued again, every file installed again.
            plan["own_clients_to_issue"] = list(v["bundle_users"])
        else:
            plan["own_clients_to_issue"] = certs_to_issue(v["bundle_users"], pki_dir, renew_days)
            plan["server_status"] = cert_status(
                os.path.join(host_dir, "server-cert.pem"),
                ca_cert,
                os.path.join(host_dir, "server-key.pem"),
                sans,
                renew_days,
            )
        root = {"uid": 0, "gid": 0}
        wanted = [
            {"dest": tls_dir, "state": "directory", "mode": "0755", **root},
            {"src": ca_cert, "dest": f"{tls_dir}/ca.pem", "mode": "0444", **root},
            {
                "src": f"{host_dir}/server-cert.pem",
                "dest": f"{tls_dir}/server-cert.pem",
                "mode": "0444",
                **root,
            },
            {
                "src": f"{host_dir}/server-key.pem",
                "dest": f"{tls_dir}/server-key.pem",
                "mode": "0400",
                **root,
            },
        ]
        wanted += bundle_files(v["bundle_users"], facts.get("users") or {}, pki_dir, v["bundle_files"])
        stale = stale_files(wanted, facts)
        if ca_missing:
            stale = [item for item in wanted if item.get("state") != "directory" or item in stale]
        plan["tls_stale"] = stale
    files = facts.get("files") or {}
    dropin = files.get(v["dropin"]) or {}
    socket_unit = files.get(v["socket_unit"]) or {}
    unit = facts.get("unit") or {}
    if mode == "off":
        listener_current = not dropin.get("exists") and not socket_unit.get("exists")
    elif mode == "tls":
        port = tcp_port("tls", v["docker_access_tcp_port"])
        held = holder(v["docker_access_tcp_held_by"], v["docker_access_tcp_address"])
        inputs = inputs_hash(
            "tls",
            v["docker_access_tcp_address"],
            port,
            *tls_paths(tls_dir),
            unit.get("file"),
            unit.get("exec_start"),
            held,
        )
        socket_current = (
            socket_unit.get("inputs") == inputs if held == "systemd" else not socket_unit.get("exists")
        )
        listener_current = (
            dropin.get("inputs") == inputs
            and socket_current
            and unit.get("dropins_setting_exec_start") == [v["dropin"]]
        )
    else:
        # Insecure: the module runs every time, so that its warning shows.
        listener_current = False
    plan["listener_current"] = listener_current
    port = tcp_port("tls", v["docker_access_tcp_port"]) if mode == "tls" else None
    url = listen_url(local_address(v["docker_access_tcp_address"]), port) if port else None
    plan.update(authz_plan(facts, v, members, url))
    plan["group_differs"] = group_differs = group_differs or bool(plan["group_remove"])
    plan["todo"] = (
        not plan["authz_current"]
        or not plan["profile_current"]
        or bool(plan["revoked_bundles"])
        or group_differs
        or (
            mode == "tls"
            and (
                ca_missing
                or bool(plan["own_clients_to_issue"])
                or plan["server_status"] != "ok"
                or bool(plan["tls_stale"])
            )
        )
        or not listener_current
    )
    return plan


class FilterModule:
    def filters(self):
        return {"access_plan": access_plan}

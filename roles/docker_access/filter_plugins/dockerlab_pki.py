# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that decide, on the controller and in-process, what the
docker_access role must do: dockerlab_cert_status (is a certificate still
what it should be), dockerlab_certs_to_issue (which users' client bundles
are not), dockerlab_bundle_files (what a user's ~/.docker should hold) and
dockerlab_stale_files (which of the host's files differ from the
controller's, by the host's docker_host_facts).

They only decide; community.crypto's modules issue, Ansible's copy copies. On a
converged host this saves the module runs per certificate and per file that
would otherwise find out that nothing has to change. cryptography is a
dependency of ansible-core, so it is always there on the controller.

cryptography is imported on first use, not with the file: Ansible loads
every filter file of a role in each task's worker process as soon as the
task uses any filter, and importing cryptography.x509 costs ~40 ms of CPU
each time (about 0.5 CPU seconds of a converged re-run over 8 hosts).

Each filter's documentation is in <filter name>.yml beside this file, for
ansible-doc: a DOCUMENTATION string here would hide those files and be shown
for every filter of the file.
"""

import datetime
import hashlib
import ipaddress
import json
import os

from ansible.module_utils.parsing.convert_bool import boolean


def _crypto():
    """cryptography's x509, serialization, ec, padding and InvalidSignature."""
    # Deferred on purpose (see the module docstring).
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    return x509, serialization, ec, padding, InvalidSignature


REASONS = ("missing", "unreadable", "issuer", "key", "names", "expiring", "ok")


def _load_cert(path):
    x509 = _crypto()[0]
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def _public_der(public_key):
    serialization = _crypto()[1]
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def normalize_name(name):
    """'DNS:x' or 'IP:addr' in one spelling (IPv6 compressed)."""
    kind, _, value = name.partition(":")
    kind = kind.strip().upper()
    if kind in ("IP", "IP ADDRESS"):
        return "IP:" + str(ipaddress.ip_address(value.strip()))
    return f"{kind}:{value.strip()}"


def cert_names(cert):
    x509 = _crypto()[0]
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {f"DNS:{n}" for n in ext.get_values_for_type(x509.DNSName)}
    names |= {f"IP:{a}" for a in ext.get_values_for_type(x509.IPAddress)}
    return names


def signed_by(cert, ca):
    _, _, ec, padding, invalid_signature = _crypto()
    key = ca.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            key.verify(
                cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm
            )
    except (invalid_signature, TypeError, ValueError):
        return False
    return True


def cert_status(cert_path, ca_path, key_path, names=None, renew_days=30, now=None):
    """Why the certificate at ``cert_path`` must be (re)issued, or "ok".

    missing (certificate, CA or key absent), unreadable, issuer (not signed by
    the CA), key (not for this key), names (subjectAltNames differ from
    ``names``; not checked when names is None), expiring (within
    ``renew_days``), ok."""
    if not all(os.path.isfile(p) for p in (cert_path, ca_path, key_path)):
        return "missing"
    serialization = _crypto()[1]
    try:
        cert = _load_cert(cert_path)
        ca = _load_cert(ca_path)
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except (OSError, ValueError, TypeError):
        return "unreadable"
    if cert.issuer != ca.subject or not signed_by(cert, ca):
        return "issuer"
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        return "key"
    if names is not None and cert_names(cert) != {normalize_name(n) for n in names}:
        return "names"
    now = now or datetime.datetime.now(datetime.UTC)
    if cert.not_valid_after_utc - now < datetime.timedelta(days=int(renew_days)):
        return "expiring"
    return "ok"


def certs_to_issue(users, pki_dir, renew_days=30):
    """The users whose client bundle on the controller is not complete and
    current: certificate missing, expiring, not from the CA or not for the
    key, or no copy of the CA beside it."""
    ca = os.path.join(pki_dir, "ca.pem")
    out = []
    for user in users:
        directory = os.path.join(pki_dir, "users", user)
        status = cert_status(
            os.path.join(directory, "cert.pem"), ca, os.path.join(directory, "key.pem"), [], renew_days
        )
        if status != "ok" or not _same_file(ca, os.path.join(directory, "ca.pem")):
            out.append(user)
    return out


def _same_file(a, b):
    try:
        with open(a, "rb") as first, open(b, "rb") as second:
            return first.read() == second.read()
    except OSError:
        return False


def _sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def bundle_files(users, host_users, pki_dir, names):
    """What each user's client bundle on the host should be: ~/.docker (0700)
    and the files ``names`` ([{"name", "mode"}]) from the controller's
    pki_dir/users/USER/, owned by the user. ``host_users`` is docker_host_facts'
    users (uid, gid, home)."""
    out = []
    for user in users:
        who = host_users.get(user) or {}
        if not who:
            continue
        base = {"user": user, "uid": who["uid"], "gid": who["gid"]}
        out.append(
            {**base, "dest": f"{who['home']}/.docker", "rel": ".docker", "state": "directory", "mode": "0700"}
        )
        for item in names:
            out.append(
                {
                    **base,
                    "src": os.path.join(pki_dir, "users", user, item["name"]),
                    "dest": f"{who['home']}/.docker/{item['name']}",
                    "rel": f".docker/{item['name']}",
                    "mode": item["mode"],
                }
            )
    return out


def stale_files(wanted, facts):
    """The entries of ``wanted`` that the host does not have as wanted.

    ``wanted``: [{"dest", "mode", "uid", "gid", and "src" (a controller file)
    or "state": "directory"; with "user" and "rel", the entry is looked up in
    that user's files}]; ``facts``: docker_host_facts' result. A file differs
    by checksum, mode or owner; a directory by mode or owner."""
    out = []
    for item in wanted:
        if "user" in item:
            now = ((facts.get("users") or {}).get(item["user"]) or {}).get("files", {}).get(item["rel"]) or {}
        else:
            now = (facts.get("files") or {}).get(item["dest"]) or {}
        if _differs(item, now):
            out.append(item)
    return out


def _differs(item, now):
    if not now.get("exists"):
        return True
    if (now.get("mode"), now.get("uid"), now.get("gid")) != (item["mode"], item["uid"], item["gid"]):
        return True
    if item.get("state") == "directory":
        return False
    try:
        return now.get("sha256") != _sha256(item["src"])
    except OSError:
        # Not on the controller (yet): a check run only pretended to issue it.
        return True


def _truthy(value):
    """Ansible's bool filter, lenient: "yes", "true", "1", True..."""
    try:
        return boolean(value, strict=False)
    except TypeError:
        return False


def _unique(items):
    """The items in their order, each once (Jinja's unique)."""
    return list(dict.fromkeys(items))


def listener_inputs(mode, address, port, tls_dir, unit):
    """The hash docker_daemon_listener writes into its drop-in (its
    inputs_hash: sha256 of the JSON list of what the drop-in is derived
    from), for the TLS listener the role wants."""
    data = [
        mode,
        address,
        int(port),
        f"{tls_dir}/ca.pem",
        f"{tls_dir}/server-cert.pem",
        f"{tls_dir}/server-key.pem",
        unit.get("file"),
        unit.get("exec_start"),
    ]
    return hashlib.sha256(json.dumps(data).encode("utf-8")).hexdigest()


def access_plan(facts, variables):
    """What docker_access has to do on a host: every difference access.yml's
    tasks act on, and ``todo``, their union (converge.yml's gate).

    ``facts``: docker_host_facts' fact (users, files, group, unit, fqdn, ipv4,
    ipv6). ``variables``: host (inventory name), dropin (the listener
    drop-in's path), bundle_users (users who get a bundle on this host),
    bundle_files ([{"name", "mode"}]), default_ports (Docker's convention
    for each mode, for an empty docker_access_tcp_port), and the role's
    docker_access_tcp, docker_access_tcp_port, docker_access_tcp_address, docker_access_tls_dir,
    docker_access_pki_dir, docker_access_users, docker_access_exclusive,
    docker_access_extra_sans and docker_access_cert_renew_days."""
    v = variables
    mode, pki_dir, tls_dir = v["docker_access_tcp"], v["docker_access_pki_dir"], v["docker_access_tls_dir"]
    renew_days = v["docker_access_cert_renew_days"]
    users = list(v["docker_access_users"])
    group = facts.get("group") or {}
    members = list(group.get("members") or [])
    group_differs = (
        not group.get("exists")
        or bool(set(users) - set(members))
        or (_truthy(v["docker_access_exclusive"]) and bool(set(members) - set(users)))
    )
    ca_cert, ca_key = os.path.join(pki_dir, "ca.pem"), os.path.join(pki_dir, "ca-key.pem")
    ca_missing = not (os.path.isfile(ca_key) and os.path.isfile(ca_cert))
    host_dir = os.path.join(pki_dir, "hosts", v["host"])
    sans = _unique(
        ["DNS:" + v["host"], "DNS:localhost", "IP:127.0.0.1", "IP:::1"]
        + (["DNS:" + facts["fqdn"]] if facts.get("fqdn") else [])
        + ["IP:" + address for address in facts.get("ipv4") or []]
        + ["IP:" + address for address in facts.get("ipv6") or []]
        + list(v["docker_access_extra_sans"] or [])
    )
    plan = {
        "group_differs": group_differs,
        "ca_missing": ca_missing,
        "sans": sans,
        "own_clients_to_issue": [],
        "server_status": "missing",
        "tls_stale": [],
    }
    # Only with TLS, and once there is a CA: nothing else can be compared.
    if mode == "tls" and not ca_missing:
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
        plan["tls_stale"] = stale_files(wanted, facts)
    dropin = ((facts.get("files") or {}).get(v["dropin"])) or {}
    unit = facts.get("unit") or {}
    if mode == "off":
        listener_current = not dropin.get("exists")
    elif mode == "tls":
        port = v["docker_access_tcp_port"]
        if port is None or str(port) == "":
            port = v["default_ports"]["tls"]
        inputs = listener_inputs("tls", v["docker_access_tcp_address"], port, tls_dir, unit)
        listener_current = dropin.get("inputs") == inputs and unit.get("dropins_setting_exec_start") == [
            v["dropin"]
        ]
    else:
        # Insecure: the module runs every time, so that its warning shows.
        listener_current = False
    plan["listener_current"] = listener_current
    plan["todo"] = (
        group_differs
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
        return {
            "dockerlab_cert_status": cert_status,
            "dockerlab_certs_to_issue": certs_to_issue,
            "dockerlab_bundle_files": bundle_files,
            "dockerlab_stale_files": stale_files,
            "dockerlab_access_plan": access_plan,
        }

# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's PKI, compared without issuing anything: is a
certificate still what it should be (cert_status), whose client bundles
are not (certs_to_issue), what a user's ~/.docker should hold
(bundle_files), and which of a host's files differ from the controller's
(stale_files, from docker_host_facts' read).

Private to this collection; controller only. The filters access_plan and
certs_to_issue decide with these; community.crypto's modules issue and
Ansible's copy copies. cryptography (a dependency of ansible-core) is
imported on first use, not with the file: Ansible loads a collection's
filter files in each task's worker that uses a filter, and importing
cryptography.x509 costs about 40 ms of CPU each time.
"""

import datetime
import hashlib
import ipaddress
import os


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
    kind, _colon, value = name.partition(":")
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
    ec, padding, invalid_signature = _crypto()[2:]
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


def certs_revoked(allowed, pki_dir, now=None):
    """The users with a client certificate in ``pki_dir``/users/ that the
    CA signed and that has not expired, who are not among ``allowed``;
    sorted. Their certificates still open dockerd's TLS listener: the
    authorization policy refuses them."""
    users_dir = os.path.join(pki_dir, "users")
    try:
        names = [name for name in sorted(os.listdir(users_dir)) if name not in allowed]
    except OSError:
        return []
    if not names:
        # The usual case: nobody to revoke, and cryptography not imported.
        return []
    try:
        ca = _load_cert(os.path.join(pki_dir, "ca.pem"))
    except (OSError, ValueError):
        return []
    now = now or datetime.datetime.now(datetime.UTC)
    out = []
    for name in names:
        try:
            cert = _load_cert(os.path.join(users_dir, name, "cert.pem"))
        except (OSError, ValueError):
            continue
        if cert.issuer == ca.subject and signed_by(cert, ca) and cert.not_valid_after_utc > now:
            out.append(name)
    return out


def _same_file(a, b):
    try:
        with open(a, "rb") as first, open(b, "rb") as second:
            return first.read() == second.read()
    except OSError:
        return False


def file_sha256(path):
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
        return now.get("sha256") != file_sha256(item["src"])
    except OSError:
        # Not on the controller (yet): a check run only pretended to issue it.
        return True

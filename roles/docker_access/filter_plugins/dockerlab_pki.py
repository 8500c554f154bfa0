# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockerlab_cert_status: decide, on the controller and in-process, whether
a certificate the docker_access role issued is still what it should be.

It only decides; community.crypto's modules issue. On a converged host this
saves the several module runs per certificate that would otherwise be needed
to find out that nothing has to change. cryptography is a dependency of
ansible-core, so it is always there on the controller.
"""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

REASONS = ("missing", "unreadable", "issuer", "key", "names", "expiring", "ok")


def _load_cert(path):
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def _public_der(public_key):
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
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {f"DNS:{n}" for n in ext.get_values_for_type(x509.DNSName)}
    names |= {f"IP:{a}" for a in ext.get_values_for_type(x509.IPAddress)}
    return names


def signed_by(cert, ca):
    key = ca.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            key.verify(
                cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm
            )
    except (InvalidSignature, TypeError, ValueError):
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


class FilterModule:
    def filters(self):
        return {"dockerlab_cert_status": cert_status}

"""Certificates for the unit tests, generated at test time with cryptography
(nothing committed): the one builder the PKI's and the access plan's
tests and conftest's TLS servers share. They carry what OpenSSL checks in a
real handshake: key usages on a CA, key identifiers, and an extended key
usage for a server or a client."""

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_EXTENDED_USAGES = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def certificate(subject, key, issuer_name, issuer_key, *, now, ca=False, usage=None, sans=(), days=365):
    """A certificate for ``key``, valid from a day before ``now`` for
    ``days`` after it, with subjectAltNames ("DNS:x", "IP:addr") if any, and
    ``usage`` ("server" or "client") as its extended key usage if given."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if sans:
        entries = []
        for entry in sans:
            kind, _sep, value = entry.partition(":")
            entries.append(
                x509.IPAddress(ipaddress.ip_address(value)) if kind == "IP" else x509.DNSName(value)
            )
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([_EXTENDED_USAGES[usage]]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key, encryption=None):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    )

"""plugins/plugin_utils/_pki: every reason to reissue a certificate, on
certificates and keys generated for this session with cryptography (nothing
committed); whose client bundles are not current, what a user's ~/.docker
should hold and which of a host's files differ; and that the filters built
on it load without cryptography. certs_to_issue through Ansible's templar:
plugins/filter/test_certs_to_issue.py."""

import datetime
import hashlib
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from ansible_collections.dockerlab.docker.plugins.plugin_utils import _pki
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli, x509_certs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

cert_status, cert_names = _pki.cert_status, _pki.cert_names
normalize_name, signed_by = _pki.normalize_name, _pki.signed_by

# Every validity period starts from this instant, and it is handed to the
# filter as ``now``: whole seconds, as certificates store them.
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
SANS = ("DNS:host1", "DNS:localhost", "IP:127.0.0.1", "IP:::1")


_name, _ec_key = x509_certs.name, x509_certs.ec_key


def _cert(subject, key, issuer_name, issuer_key, *, ca=False, sans=(), days=365):
    return x509_certs.certificate(subject, key, issuer_name, issuer_key, now=NOW, ca=ca, sans=sans, days=days)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Paths of the PEM files: ``pki.ca``, ``pki.key``, one certificate per case."""
    directory = tmp_path_factory.mktemp("pki")
    paths = {}

    def write_cert(name, cert):
        path = directory / f"{name}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[name] = str(path)
        return cert

    def write_key(name, key, encryption=None):
        path = directory / f"{name}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                encryption or serialization.NoEncryption(),
            )
        )
        path.chmod(0o400)
        paths[name] = str(path)

    ca_key, other_ca_key, key, other_key = _ec_key(), _ec_key(), _ec_key(), _ec_key()
    ca = write_cert("ca", _cert("dockerlab CA", ca_key, _name("dockerlab CA"), ca_key, ca=True))
    write_cert("other_ca", _cert("other CA", other_ca_key, _name("other CA"), other_ca_key, ca=True))
    write_key("key", key)
    write_key("other_key", other_key)
    write_key("encrypted_key", key, serialization.BestAvailableEncryption(b"secret"))

    write_cert("cert", _cert("host1", key, ca.subject, ca_key, sans=SANS))
    write_cert("from_other_ca", _cert("host1", key, _name("other CA"), other_ca_key, sans=SANS))
    # The right issuer name, the wrong signature: signed by the other CA's key.
    write_cert("impostor", _cert("host1", key, ca.subject, other_ca_key, sans=SANS))
    write_cert("expiring", _cert("host1", key, ca.subject, ca_key, sans=SANS, days=10))
    write_cert("client", _cert("student", key, ca.subject, ca_key))  # no subjectAltName at all

    # An RSA CA (PKCS#1 v1.5 signatures) issuing the same EC key.
    rsa_ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_ca = write_cert("rsa_ca", _cert("RSA CA", rsa_ca_key, _name("RSA CA"), rsa_ca_key, ca=True))
    write_cert("from_rsa_ca", _cert("host1", key, rsa_ca.subject, rsa_ca_key, sans=SANS))
    # An RSA impostor of the EC CA, and an EC impostor of the RSA CA.
    write_cert("rsa_impostor", _cert("host1", key, ca.subject, rsa_ca_key, sans=SANS))
    write_cert("impostor_of_rsa_ca", _cert("host1", key, rsa_ca.subject, other_ca_key, sans=SANS))

    garbage = directory / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    paths["garbage"] = str(garbage)
    paths["absent"] = str(directory / "absent.pem")
    paths["directory"] = str(directory)
    return SimpleNamespace(**paths)


def status(pki, cert="cert", ca="ca", key="key", names=SANS, renew_days=30, now=NOW):
    return cert_status(getattr(pki, cert), getattr(pki, ca), getattr(pki, key), names, renew_days, now=now)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "ok"),
        ({"cert": "from_rsa_ca", "ca": "rsa_ca"}, "ok"),
        ({"cert": "absent"}, "missing"),
        ({"ca": "absent"}, "missing"),
        ({"key": "absent"}, "missing"),
        ({"cert": "directory"}, "missing"),
        ({"cert": "garbage"}, "unreadable"),
        ({"ca": "garbage"}, "unreadable"),
        ({"key": "garbage"}, "unreadable"),
        ({"key": "encrypted_key"}, "unreadable"),
        ({"cert": "from_other_ca"}, "issuer"),
        ({"ca": "other_ca"}, "issuer"),
        ({"cert": "impostor"}, "issuer"),
        ({"cert": "rsa_impostor"}, "issuer"),
        ({"cert": "from_rsa_ca"}, "issuer"),
        ({"cert": "impostor_of_rsa_ca", "ca": "rsa_ca"}, "issuer"),
        ({"key": "other_key"}, "key"),
    ],
    ids=[
        "ok",
        "ok-rsa-ca",
        "missing-cert",
        "missing-ca",
        "missing-key",
        "cert-is-a-directory",
        "garbage-cert",
        "garbage-ca",
        "garbage-key",
        "encrypted-key",
        "other-ca",
        "checked-against-other-ca",
        "same-name-other-signature",
        "same-name-rsa-signature",
        "rsa-ca-cert-against-ec-ca",
        "same-name-as-rsa-ca-ec-signature",
        "other-key",
    ],
)
def test_files(pki, files, expected):
    assert status(pki, **files) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (SANS, "ok"),
        (list(reversed(SANS)), "ok"),
        ([*SANS, "DNS:host1"], "ok"),
        ([*SANS, "DNS:host1.example.org"], "names"),
        ([*SANS, "IP:172.18.0.3"], "names"),
        (SANS[:-1], "names"),
        (SANS[1:], "names"),
        (["DNS:host1", "DNS:localhost", "IP:127.0.0.1", "IP:0:0:0:0:0:0:0:1"], "ok"),
        (["DNS:host1", "DNS:localhost", "ip:127.0.0.1", "IP:::1"], "ok"),
        (["dns:host1", "DNS:localhost", " IP: 127.0.0.1 ", "IP Address:::1"], "ok"),
        (["DNS:host2", "DNS:localhost", "IP:127.0.0.1", "IP:::1"], "names"),
        (["DNS:host1", "DNS:localhost", "IP:127.0.0.2", "IP:::1"], "names"),
        ([], "names"),
        (None, "ok"),
    ],
    ids=[
        "same",
        "other-order",
        "duplicate",
        "one-dns-more",
        "one-ip-more",
        "one-less",
        "another-one-less",
        "ipv6-uncompressed",
        "ip-lower-case",
        "kinds-spelled-otherwise",
        "other-dns",
        "other-ip",
        "none-wanted",
        "not-checked",
    ],
)
def test_names(pki, names, expected):
    assert status(pki, names=names) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [([], "ok"), (["DNS:student"], "names"), (None, "ok")],
    ids=["no-names", "a-name-it-lacks", "not-checked"],
)
def test_names_of_a_certificate_without_subject_alt_name(pki, names, expected):
    assert status(pki, cert="client", names=names) == expected


def test_names_are_checked_before_expiry(pki):
    assert status(pki, cert="expiring", names=SANS[:1]) == "names"


@pytest.mark.parametrize(
    ("cert", "renew_days", "now", "expected"),
    [
        ("expiring", 30, NOW, "expiring"),
        ("expiring", "30", NOW, "expiring"),  # as a template may hand it over
        ("expiring", 5, NOW, "ok"),
        ("expiring", 10, NOW, "ok"),  # exactly 10 days left: not yet
        ("expiring", 10, NOW + datetime.timedelta(seconds=1), "expiring"),
        ("expiring", 0, NOW + datetime.timedelta(days=11), "expiring"),  # expired
        ("cert", 30, NOW, "ok"),
        ("cert", 30, NOW + datetime.timedelta(days=336), "expiring"),
        ("cert", 30, NOW + datetime.timedelta(days=335), "ok"),
    ],
    ids=[
        "within-30-days",
        "renew-days-as-text",
        "not-within-5-days",
        "boundary",
        "one-second-past-boundary",
        "expired",
        "a-year-left",
        "a-year-later",
        "a-day-earlier",
    ],
)
def test_expiry(pki, cert, renew_days, now, expected):
    assert status(pki, cert=cert, renew_days=renew_days, now=now) == expected


def test_now_defaults_to_the_current_time(pki):
    assert cert_status(pki.expiring, pki.ca, pki.key, SANS, 30) == "expiring"
    assert cert_status(pki.expiring, pki.ca, pki.key, SANS, 5) == "ok"
    assert cert_status(pki.cert, pki.ca, pki.key) == "ok"  # names unchecked, 30 days


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("DNS:host1", "DNS:host1"),
        ("dns:host1", "DNS:host1"),
        (" DNS : host1 ", "DNS:host1"),
        ("IP:127.0.0.1", "IP:127.0.0.1"),
        ("ip:127.0.0.1", "IP:127.0.0.1"),
        ("IP:::1", "IP:::1"),
        ("IP:0:0:0:0:0:0:0:1", "IP:::1"),
        ("IP:FD00:DEAD:BEEF:0:0:0:0:3", "IP:fd00:dead:beef::3"),
        ("IP Address:::1", "IP:::1"),
    ],
)
def test_normalize_name(name, expected):
    assert normalize_name(name) == expected


def test_normalize_name_rejects_an_ip_that_is_not_one():
    with pytest.raises(ValueError, match="'host1' does not appear to be an IPv4 or IPv6 address"):
        normalize_name("IP:host1")


def _load(path):
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def test_cert_names_in_one_spelling(pki):
    assert cert_names(_load(pki.cert)) == {"DNS:host1", "DNS:localhost", "IP:127.0.0.1", "IP:::1"}
    assert cert_names(_load(pki.client)) == set()


@pytest.mark.parametrize(
    ("cert", "ca", "expected"),
    [
        ("cert", "ca", True),
        ("ca", "ca", True),  # self-signed
        ("impostor", "ca", False),
        ("impostor", "other_ca", True),
        ("rsa_impostor", "ca", False),
        ("from_rsa_ca", "rsa_ca", True),
        ("rsa_ca", "rsa_ca", True),
        ("cert", "rsa_ca", False),
        ("impostor_of_rsa_ca", "rsa_ca", False),
    ],
)
def test_signed_by_checks_the_signature(pki, cert, ca, expected):
    assert signed_by(_load(getattr(pki, cert)), _load(getattr(pki, ca))) is expected


def test_reasons_are_the_documented_ones():
    assert _pki.REASONS == ("missing", "unreadable", "issuer", "key", "names", "expiring", "ok")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["DNS:localhost", "IP:0:0:0:0:0:0:0:1", "DNS:host1", "ip:127.0.0.1"], "ok"),
        (["DNS:host1"], "names"),
    ],
    ids=["ok", "names"],
)
def test_names_in_any_spelling(pki, names, expected):
    # As the role's variables give them (cert_status was a filter before).
    assert cert_status(pki.cert, pki.ca, pki.key, names, 30) == expected


# --- certs_to_issue, bundle_files, stale_files ---


def _bundle_pki(pki, tmp_path, users):
    """A controller PKI directory with complete bundles for ``users``."""
    root = tmp_path / "pki"
    (root / "users").mkdir(parents=True)
    Path(root / "ca.pem").write_bytes(Path(pki.ca).read_bytes())
    for user in users:
        directory = root / "users" / user
        directory.mkdir()
        (directory / "cert.pem").write_bytes(Path(pki.client).read_bytes())
        (directory / "key.pem").write_bytes(Path(pki.key).read_bytes())
        (directory / "ca.pem").write_bytes(Path(pki.ca).read_bytes())
    return root


def test_certs_to_issue_lists_users_whose_bundle_is_incomplete_or_stale(pki, tmp_path):
    root = _bundle_pki(pki, tmp_path, ["alice", "bob", "carol", "dave"])
    (root / "users" / "bob" / "ca.pem").unlink()  # no CA beside the certificate
    (root / "users" / "carol" / "cert.pem").write_bytes(Path(pki.from_other_ca).read_bytes())
    (root / "users" / "dave" / "key.pem").write_bytes(Path(pki.other_key).read_bytes())
    users = ["alice", "bob", "carol", "dave", "erin"]  # erin has nothing yet
    assert _pki.certs_to_issue(users, str(root), 30) == ["bob", "carol", "dave", "erin"]


def test_certs_to_issue_is_empty_when_every_bundle_is_current(pki, tmp_path):
    root = _bundle_pki(pki, tmp_path, ["alice", "root"])
    assert _pki.certs_to_issue(["alice", "root"], str(root), 30) == []


HOST_USERS = {
    "student": {"uid": 1000, "gid": 1000, "home": "/home/student"},
    "root": {"uid": 0, "gid": 0, "home": "/root"},
    "ghost": None,
}
NAMES = [{"name": "ca.pem", "mode": "0444"}, {"name": "key.pem", "mode": "0400"}]


def test_bundle_files_are_the_users_docker_directory_and_files():
    wanted = _pki.bundle_files(["student", "ghost"], HOST_USERS, "/pki", NAMES)
    assert wanted == [
        {"user": "student", "uid": 1000, "gid": 1000, "dest": "/home/student/.docker", "rel": ".docker",
         "state": "directory", "mode": "0700"},
        {"user": "student", "uid": 1000, "gid": 1000, "src": "/pki/users/student/ca.pem",
         "dest": "/home/student/.docker/ca.pem", "rel": ".docker/ca.pem", "mode": "0444"},
        {"user": "student", "uid": 1000, "gid": 1000, "src": "/pki/users/student/key.pem",
         "dest": "/home/student/.docker/key.pem", "rel": ".docker/key.pem", "mode": "0400"},
    ]  # fmt: skip


def _facts_of(src, mode="0444", uid=0, gid=0, exists=True):
    state = {"exists": exists, "mode": mode, "uid": uid, "gid": gid}
    if exists and src:
        state["sha256"] = hashlib.sha256(Path(src).read_bytes()).hexdigest()
    return state


@pytest.mark.parametrize(
    ("change", "stale"),
    [
        ({}, False),
        ({"exists": False}, True),
        ({"mode": "0644"}, True),
        ({"uid": 1000}, True),
        ({"gid": 1000}, True),
        ({"sha256": "0" * 64}, True),
    ],
    ids=["same", "missing", "mode", "owner", "group", "content"],
)
def test_stale_files_compares_checksum_mode_and_owner(pki, change, stale):
    wanted = [{"src": pki.ca, "dest": "/etc/docker/tls/ca.pem", "mode": "0444", "uid": 0, "gid": 0}]
    facts = {"files": {"/etc/docker/tls/ca.pem": {**_facts_of(pki.ca), **change}}}
    assert _pki.stale_files(wanted, facts) == (wanted if stale else [])


def test_stale_files_checks_directories_by_mode_and_owner_and_user_files_by_user():
    wanted = [
        {"dest": "/etc/docker/tls", "state": "directory", "mode": "0755", "uid": 0, "gid": 0},
        {"user": "student", "rel": ".docker", "dest": "/home/student/.docker", "state": "directory",
         "mode": "0700", "uid": 1000, "gid": 1000},
    ]  # fmt: skip
    facts = {
        "files": {"/etc/docker/tls": {"exists": True, "directory": True, "mode": "0755", "uid": 0, "gid": 0}},
        "users": {
            "student": {"files": {".docker": {"exists": True, "mode": "0755", "uid": 1000, "gid": 1000}}}
        },
    }
    assert _pki.stale_files(wanted, facts) == [wanted[1]]


@pytest.mark.parametrize("name", ["access_plan", "certs_to_issue"])
def test_loading_the_filters_does_not_import_cryptography(name):
    """Ansible loads a collection's filter file in each task's worker that
    uses one of its filters: the filters built on _pki must not import
    cryptography (~40 ms of CPU) until a filter needs it."""
    code = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(ansible_cli.collections_path())!r})\n"
        f"module = importlib.import_module('ansible_collections.dockerlab.docker.plugins.filter.{name}')\n"
        "print(sorted(module.FilterModule().filters()))\n"
        "print('cryptography' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    names, imported = out.splitlines()
    assert name in names
    assert imported == "False"

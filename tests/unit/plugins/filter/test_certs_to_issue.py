"""plugins/filter/certs_to_issue: the filter the role calls for its client
bundles, exposed under its own name and through Ansible's templar by its
FQCN, on a controller PKI generated for the session with cryptography
(nothing committed). Every reason to reissue: plugins/plugin_utils/test_pki.py."""

import datetime

import pytest
from ansible_collections.dockerlab.docker.plugins.filter import certs_to_issue
from ansible_collections.dockerlab.docker.plugins.plugin_utils import _pki
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli, x509_certs

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory):
    """The controller's PKI directory: the CA, and the bundle of alice, whose
    certificate is a client's, and of bob, whose certificate has names (a
    server's: no client bundle has any)."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key = x509_certs.ec_key()
    ca = x509_certs.certificate(
        "dockerlab CA", ca_key, x509_certs.name("dockerlab CA"), ca_key, now=NOW, ca=True
    )
    ca_pem = x509_certs.pem(ca)
    (directory / "ca.pem").write_bytes(ca_pem)
    for user, sans in (("alice", ()), ("bob", ("DNS:bob", "IP:127.0.0.1"))):
        key = x509_certs.ec_key()
        cert = x509_certs.certificate(user, key, ca.subject, ca_key, now=NOW, sans=sans, usage="client")
        bundle = directory / "users" / user
        bundle.mkdir(parents=True)
        (bundle / "cert.pem").write_bytes(x509_certs.pem(cert))
        (bundle / "key.pem").write_bytes(x509_certs.key_pem(key))
        (bundle / "ca.pem").write_bytes(ca_pem)
    return directory


def test_the_filter_is_exposed():
    assert certs_to_issue.FilterModule().filters() == {"certs_to_issue": _pki.certs_to_issue}


@pytest.mark.parametrize(
    ("users", "expected"),
    [(["alice"], []), (["bob", "alice", "carol"], ["bob", "carol"])],
    ids=["ok", "names-and-missing"],
)
def test_the_filter_through_ansible(pki_dir, tmp_path, users, expected):
    assert _pki.certs_to_issue(users, str(pki_dir), 30) == expected
    expression = f"{users} | dockerlab.docker.certs_to_issue('{pki_dir}', 30) | to_json"
    stdout = ansible_cli.debug(expression, temp=tmp_path)
    assert f"msg: <{expected}>\n".replace("'", '"') in stdout, stdout

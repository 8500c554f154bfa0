"""plugins/module_utils/_api: the client against real servers, a Unix
socket and HTTPS with mutual TLS (certificates generated at test time)."""

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._api import (
    UnixHTTPConnection,
    ping_tls,
    ping_unix,
    request,
)


def test_ping_unix_answers_ok_when_the_daemon_serves_the_socket(short_tmp, unix_ping_server):
    unix_ping_server(short_tmp / "docker.sock")
    assert ping_unix(str(short_tmp / "docker.sock"), timeout=2) == (True, "OK")


def test_ping_unix_fails_when_the_socket_does_not_exist(short_tmp):
    ok, why = ping_unix(str(short_tmp / "docker.sock"), timeout=2)
    assert ok is False
    assert why == "FileNotFoundError: [Errno 2] No such file or directory"


def test_ping_unix_fails_when_nobody_listens_on_the_socket(short_tmp):
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(short_tmp / "docker.sock"))  # bound, never listening
        ok, why = ping_unix(str(short_tmp / "docker.sock"), timeout=2)
    assert ok is False
    assert why == "ConnectionRefusedError: [Errno 111] Connection refused"


def test_ping_unix_fails_when_the_daemon_drops_the_connection(short_tmp, unix_ping_server):
    unix_ping_server(short_tmp / "docker.sock", available=lambda: False)
    ok, why = ping_unix(str(short_tmp / "docker.sock"), timeout=2)
    assert ok is False
    # Closed before the request was read (reset) or after (no response).
    assert why.split(":", maxsplit=1)[0] in {"RemoteDisconnected", "ConnectionResetError", "BrokenPipeError"}


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (500, "Internal Server Error\n", "HTTP 500: Internal Server Error"),
        (503, "x" * 300, "HTTP 503: " + "x" * 200),
    ],
)
def test_ping_unix_reports_an_error_status_with_the_body(short_tmp, unix_ping_server, status, body, why):
    unix_ping_server(short_tmp / "docker.sock", status=status, body=body)
    assert ping_unix(str(short_tmp / "docker.sock"), timeout=2) == (False, why)


def test_request_returns_the_status_and_the_text(short_tmp, unix_ping_server):
    unix_ping_server(short_tmp / "docker.sock")
    conn = UnixHTTPConnection(str(short_tmp / "docker.sock"), timeout=2)
    assert request(conn, "GET", "/version") == (404, '{"message":"page not found"}')


def test_ping_tls_with_a_client_certificate_from_the_ca_succeeds(tls_files, tls_ping_server):
    assert ping_tls(
        "127.0.0.1", tls_ping_server(), tls_files.ca, tls_files.client_cert, tls_files.client_key, timeout=5
    ) == (True, "OK")


def test_ping_tls_by_host_name_in_the_certificate_succeeds(tls_files, tls_ping_server):
    assert ping_tls(
        "localhost", tls_ping_server(), tls_files.ca, tls_files.client_cert, tls_files.client_key, timeout=5
    ) == (True, "OK")


def test_ping_tls_with_a_client_certificate_from_another_ca_fails(tls_files, tls_ping_server):
    ok, why = ping_tls(
        "127.0.0.1",
        tls_ping_server(),
        tls_files.ca,
        tls_files.foreign_client_cert,
        tls_files.foreign_client_key,
        timeout=5,
    )
    assert ok is False
    # TLS 1.3 reports the server's refusal after the handshake: an alert or a reset.
    refusals = {"SSLError", "ConnectionResetError", "BrokenPipeError", "SSLEOFError"}
    assert why.split(":", maxsplit=1)[0] in refusals


def test_ping_tls_that_does_not_trust_the_server_fails_verification(tls_files, tls_ping_server):
    ok, why = ping_tls(
        "127.0.0.1",
        tls_ping_server(),
        tls_files.other_ca,
        tls_files.client_cert,
        tls_files.client_key,
        timeout=5,
    )
    assert ok is False
    assert why.startswith("SSLCertVerificationError: ")
    assert "certificate verify failed" in why


def test_ping_tls_to_an_address_not_in_the_server_certificate_fails(tls_files, tls_ping_server):
    port = tls_ping_server("127.0.0.2")
    ok, why = ping_tls(
        "127.0.0.2", port, tls_files.ca, tls_files.client_cert, tls_files.client_key, timeout=5
    )
    assert ok is False
    assert why.startswith("SSLCertVerificationError: ")
    assert "IP address mismatch, certificate is not valid for '127.0.0.2'" in why


@pytest.mark.parametrize("missing", ["ca", "cert", "key"])
def test_ping_tls_with_a_missing_client_file_says_it_cannot_load_it(tls_files, tmp_path, missing):
    files = {"ca": tls_files.ca, "cert": tls_files.client_cert, "key": tls_files.client_key}
    files[missing] = str(tmp_path / f"missing-{missing}.pem")
    ok, why = ping_tls("127.0.0.1", 2376, files["ca"], files["cert"], files["key"], timeout=1)
    assert ok is False
    assert why.startswith("cannot load the client TLS files: ")


def test_ping_tls_without_a_listener_fails(tls_files, free_port):
    ok, why = ping_tls(
        "127.0.0.1", free_port, tls_files.ca, tls_files.client_cert, tls_files.client_key, timeout=2
    )
    assert ok is False
    assert why == "ConnectionRefusedError: [Errno 111] Connection refused"

# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Docker Engine API client over the Unix socket or TCP with TLS.

Standard library only (http.client, socket, ssl): the managed host needs no
Docker SDK, as community.docker carries its own client for the same reason.
"""

import http.client
import json
import socket
import ssl

DEFAULT_SOCKET = "/var/run/docker.sock"


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a Unix domain socket."""

    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def tls_connection(host, port, ca_path, cert_path, key_path, timeout=10):
    """HTTPS connection that verifies the daemon against ``ca_path`` and
    presents the client certificate (mutual TLS, as dockerd --tlsverify wants)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_path)
    context.load_cert_chain(cert_path, key_path)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)


def request(conn, method, path, body=None):
    """Send one request; return (status, parsed JSON or text). Closes conn."""
    headers = {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    text = raw.decode("utf-8", "replace")
    if response.getheader("Content-Type", "").startswith("application/json"):
        try:
            return response.status, json.loads(text)
        except ValueError:
            pass
    return response.status, text


def ping(conn):
    """(True, "OK") when GET /_ping answers 200, else (False, why)."""
    try:
        status, body = request(conn, "GET", "/_ping")
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if status == 200:
        return True, str(body).strip()
    return False, f"HTTP {status}: {str(body).strip()[:200]}"


def ping_unix(path=DEFAULT_SOCKET, timeout=5):
    return ping(UnixHTTPConnection(path, timeout=timeout))


def ping_tls(host, port, ca_path, cert_path, key_path, timeout=5):
    try:
        conn = tls_connection(host, port, ca_path, cert_path, key_path, timeout=timeout)
    except (OSError, ssl.SSLError) as exc:
        return False, f"cannot load the client TLS files: {exc}"
    return ping(conn)


def authz_plugin_answers(socket_path, timeout=5):
    """(True, "") when an authorization plugin answers dockerd's
    ``POST /Plugin.Activate`` on ``socket_path`` with ``authz`` among what it
    implements, else (False, why)."""
    try:
        # As dockerd asks: no body.
        status, body = request(UnixHTTPConnection(socket_path, timeout=timeout), "POST", "/Plugin.Activate")
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{socket_path}: {exc or type(exc).__name__}"
    if isinstance(body, str):
        # Plugins answer with their own media type, which request() leaves as text.
        try:
            body = json.loads(body)
        except ValueError:
            body = None
    if status != 200 or not isinstance(body, dict) or "authz" not in (body.get("Implements") or []):
        return False, f"{socket_path} answered {status}, not an authorization plugin's activation"
    return True, ""

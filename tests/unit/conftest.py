"""Shared fixtures of the unit tier.

The tests import this collection as Ansible runs it, by its name:
``ansible_collections.dockerlab.docker.plugins.modules.docker_daemon_config``
and so on. Under ``ansible-test units`` its collection loader provides that
name; under plain pytest from the checkout, the checkout is linked as the
collection at ``.ansible/collections/ansible_collections/dockerlab/docker``
(``tests/lab/lab.sh collection``), and that directory goes first on
sys.path here unless the name is importable already.

``run_module`` runs a module's ``main()`` in this process with the given
arguments (and check/diff flags) and returns the JSON it printed, as the
controller would receive it. Servers that the API client and the restart
module talk to are real: HTTP over a temporary Unix socket, and HTTPS with
mutual TLS using certificates generated at test time (nothing committed).
"""

import datetime
import http.server
import json
import os
import shutil
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils import basic
from ansible.module_utils.common import warnings as ansible_warnings

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".ansible" / "collections"


def _collection_importable():
    try:
        import ansible_collections.dockerlab.docker.plugins  # noqa: F401
    except ImportError:
        return False
    return True


if not _collection_importable():
    sys.path.insert(0, str(COLLECTIONS))
    if not _collection_importable():
        raise ImportError(
            f"ansible_collections.dockerlab.docker is not importable, not even from {COLLECTIONS}: "
            "link the checkout as the collection with `tests/lab/lab.sh collection`."
        )

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19: set the arguments AnsibleModule reads
    import contextlib

    @contextlib.contextmanager
    def patch_module_args(args=None):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


def _messages(items):
    """Warnings as plain strings (ansible-core 2.19 returns them as objects)."""
    return [item["event"]["msg"] if isinstance(item, dict) else item for item in items]


@pytest.fixture
def run_module(capsys, monkeypatch):
    """Run ``module.main()`` with ``args``; return the result it printed.

    A failed run returns the fail_json result (``failed`` is True); warnings
    are returned as a list of strings under ``warnings`` (always present).
    """

    def run(module, args, *, check_mode=False, diff=False):
        # Warnings are process-global in module_utils; each run starts clean.
        monkeypatch.setattr(ansible_warnings, "_global_warnings", {})
        monkeypatch.setattr(ansible_warnings, "_global_deprecations", {})
        # A module runs on the target, where its warnings go into its result.
        # Once a test of this process imported controller code (a filter,
        # ansible.errors), module_utils would send them to the controller's
        # display instead.
        monkeypatch.setattr(module_utils_internal, "is_controller", False)
        capsys.readouterr()
        full_args = {**args, "_ansible_check_mode": check_mode, "_ansible_diff": diff}
        with patch_module_args(full_args), pytest.raises(SystemExit) as exited:
            module.main()
        result = json.loads(capsys.readouterr().out)
        assert (exited.value.code != 0) == bool(result.get("failed")), result
        result["warnings"] = _messages(result.get("warnings", []))
        return result

    return run


@pytest.fixture
def fake_commands(tmp_path, monkeypatch):
    """Stand-ins for the host's commands: ``install({name: script})`` writes
    each script (``{python}`` in it: this interpreter) into a directory put
    first on PATH, so that a test never reaches the machine's own systemctl,
    firewall or dockerd, and returns the directory the scripts keep their
    state and call logs in (DOCKERLAB_FAKE in their environment)."""
    bin_dir, fake = tmp_path / "bin", tmp_path / "fake"

    def install(scripts):
        bin_dir.mkdir(exist_ok=True)
        fake.mkdir(exist_ok=True)
        for name, text in scripts.items():
            (bin_dir / name).write_text(text.format(python=sys.executable))
            (bin_dir / name).chmod(0o755)
        if not os.environ["PATH"].startswith(f"{bin_dir}{os.pathsep}"):
            monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("DOCKERLAB_FAKE", str(fake))
        for name in scripts:
            assert shutil.which(name) == str(bin_dir / name)
        return fake

    return install


@pytest.fixture
def short_tmp():
    """A temporary directory with a short path: a Unix socket path must fit
    in 108 bytes, which pytest's tmp_path does not promise."""
    path = Path(tempfile.mkdtemp(prefix="dl-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class _PingHandler(http.server.BaseHTTPRequestHandler):
    """Answers GET /_ping like dockerd, GET /networks/bridge (200 while
    the server's ``bridge()`` says the default bridge exists), and GET
    /version and /info with what the server's ``documents()`` holds under
    those paths; everything else is 404."""

    def do_GET(self):
        documents = getattr(self.server, "documents", dict)()
        kind = "text/plain; charset=utf-8"
        if self.path == "/_ping":
            status, body = self.server.ping_status, self.server.ping_body
        elif self.path == "/networks/bridge":
            found = self.server.bridge()
            status, body = (
                (200, '{"Name":"bridge"}') if found else (404, '{"message":"network bridge not found"}')
            )
        elif self.path in documents:
            status, body, kind = 200, json.dumps(documents[self.path]), "application/json"
        else:
            status, body = 404, '{"message":"page not found"}'
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        pass  # keep the test output clean (and AF_UNIX has no client address)


class _UnixPingServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def verify_request(self, request, client_address):
        # A daemon that is down accepts nobody: the connection is closed
        # before any answer, as when dockerd is not serving the socket.
        return self.available()


class _TLSPingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server


@pytest.fixture
def unix_ping_server():
    """Start a real HTTP server on a Unix socket:
    ``start(path, status=200, body="OK", available=lambda: True, bridge=lambda: False,
    documents=dict)``, where ``documents()`` maps API paths (/version, /info)
    to the JSON they answer."""
    servers = []

    def start(path, *, status=200, body="OK", available=lambda: True, bridge=lambda: False, documents=dict):
        server = _UnixPingServer(str(path), _PingHandler)
        server.ping_status, server.ping_body, server.available = status, body, available
        server.bridge, server.documents = bridge, documents
        servers.append(_serve(server))
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A CA with a server and a client certificate, and a second, unrelated
    CA with its own client certificate; all generated for this session."""
    from ansible_collections.dockerlab.docker.tests.unit import x509_certs

    directory = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)

    def write(name, cert, private_key):
        cert_path, key_path = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
        cert_path.write_bytes(x509_certs.pem(cert))
        key_path.write_bytes(x509_certs.key_pem(private_key))
        key_path.chmod(0o400)
        return str(cert_path), str(key_path)

    def issue(subject, issuer, issuer_key, **kwargs):
        key = x509_certs.ec_key()
        return x509_certs.certificate(
            subject, key, issuer.subject, issuer_key, now=now, days=1, **kwargs
        ), key

    files = {}
    for ca_name in ("ca", "other-ca"):
        ca_key = x509_certs.ec_key()
        ca_cert = x509_certs.certificate(
            ca_name, ca_key, x509_certs.name(ca_name), ca_key, now=now, days=1, ca=True
        )
        files[ca_name] = write(ca_name, ca_cert, ca_key)[0]
        files[f"{ca_name}-client"] = write(
            f"{ca_name}-client", *issue(f"{ca_name} client", ca_cert, ca_key, usage="client")
        )
        if ca_name == "ca":
            files["server"] = write(
                "server",
                *issue("localhost", ca_cert, ca_key, usage="server", sans=("DNS:localhost", "IP:127.0.0.1")),
            )
    return SimpleNamespace(
        ca=files["ca"],
        other_ca=files["other-ca"],
        client_cert=files["ca-client"][0],
        client_key=files["ca-client"][1],
        server_cert=files["server"][0],
        server_key=files["server"][1],
        foreign_client_cert=files["other-ca-client"][0],
        foreign_client_key=files["other-ca-client"][1],
    )


@pytest.fixture
def tls_ping_server(tls_files):
    """Start a real HTTPS server answering /_ping that requires a client
    certificate from ``tls_files.ca`` (dockerd --tlsverify):
    ``start(host="127.0.0.1")`` returns its port. The server certificate
    names localhost and 127.0.0.1 only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls_files.server_cert, tls_files.server_key)
    context.load_verify_locations(tls_files.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    servers = []

    def start(host="127.0.0.1"):
        server = _TLSPingServer((host, 0), _PingHandler)
        server.ping_status, server.ping_body = 200, "OK"
        server.socket = context.wrap_socket(server.socket, server_side=True)
        servers.append(_serve(server))
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

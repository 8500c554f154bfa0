# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The authorization plugin dockerd asks about every API call: an HTTP
server on a Unix socket that answers moby's plugin protocol with the policy
of _authz. Standard library only; it runs on the managed host, started by
systemd on the first connection to its socket (LISTEN_FDS), or on a path.

- ``POST /Plugin.Activate``: ``{"Implements": ["authz"]}``.
- ``POST /AuthZPlugin.AuthZReq``: _authz.decide for the request, with the
  policy file (who is restricted, who is revoked; read again when it
  changes) and the owner file (which restricted user created which
  container and exec). A container named in a request is resolved to its id
  through dockerd's Unix socket (as root, whom the policy allows), so a name
  and an id prefix are judged alike.
- ``POST /AuthZPlugin.AuthZRes``: always allows; after a restricted user's
  successful create of a container or an exec, it records them as its owner.

When the policy file cannot be read, only callers without a certificate
(root and the docker group on the Unix socket) are allowed: the way back in
is always open to root, and nobody with a certificate gets more than the
policy would give.
"""

import http.client
import json
import os
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import quote

from ansible_collections.dockerlab.docker.plugins.module_utils._api import (
    DEFAULT_SOCKET,
    UnixHTTPConnection,
    request,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._authz import (
    created_id,
    decide,
    deny,
    split_uri,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._files import write_atomic

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
# systemd passes sockets from file descriptor 3 on (sd_listen_fds(3)).
SD_LISTEN_FDS_START = 3


class Policy:
    """The policy file ({"restricted": [...], "revoked": [...]}), read again
    when its modification time changes; None when it cannot be read."""

    def __init__(self, path):
        self.path = path
        self.stamp = None
        self.value = None
        self.lock = threading.Lock()

    def current(self):
        with self.lock:
            try:
                stamp = os.stat(self.path).st_mtime_ns
            except OSError:
                self.stamp, self.value = None, None
                return None
            if stamp != self.stamp:
                try:
                    with open(self.path, encoding="utf-8") as handle:
                        data = json.load(handle)
                    self.value = {
                        "restricted": frozenset(str(u) for u in data.get("restricted") or []),
                        "revoked": frozenset(str(u) for u in data.get("revoked") or []),
                    }
                except (OSError, ValueError, AttributeError):
                    self.value = None
                self.stamp = stamp
            return self.value


class Owners:
    """Who created which container and exec: {"containers": {id: user},
    "execs": {id: user}}, kept in a file (written atomically) so that it
    outlives the plugin and the daemon."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def load(self):
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            data = {}
        data = data if isinstance(data, dict) else {}
        return {kind: dict(data.get(kind) or {}) for kind in ("containers", "execs")}

    def owner(self, kind, id_):
        return self.load()[kind].get(id_)

    def record(self, kind, id_, user):
        with self.lock:
            data = self.load()
            data[kind][id_] = user
            os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
            write_atomic(self.path, json.dumps(data, sort_keys=True), 0o600)


def docker_resolver(socket_path=DEFAULT_SOCKET):
    """resolve(ref): the full id of container ``ref`` (id, id prefix or
    name) as dockerd resolves it, or None."""

    def resolve(ref):
        try:
            status, body = request(
                UnixHTTPConnection(socket_path, timeout=5), "GET", f"/containers/{quote(ref, safe='')}/json"
            )
        except (OSError, http.client.HTTPException):
            return None
        return body.get("Id") if status == 200 and isinstance(body, dict) else None

    return resolve


class Plugin:
    """The plugin's decisions, apart from the HTTP server (tests call it directly)."""

    def __init__(self, policy_path, owners_path, resolve):
        self.policy = Policy(policy_path)
        self.owners = Owners(owners_path)
        self.resolve = resolve

    def authz_request(self, request):
        policy = self.policy.current()
        if policy is None:
            if request.get("User"):
                return deny(
                    "policy-unreadable", f"{self.policy.path} cannot be read; only root is allowed"
                ).answer()
            return {"Allow": True}
        user = str(request.get("User") or "")

        def owns_container(ref):
            id_ = self.resolve(ref)
            return id_ is not None and self.owners.owner("containers", id_) == user

        def owns_exec(id_):
            return self.owners.owner("execs", id_) == user

        try:
            decision = decide(request, policy["restricted"], policy["revoked"], owns_container, owns_exec)
        # A body of an unexpected shape (a number where a list belongs) must
        # refuse the call, not end the plugin's answer with a traceback.
        except Exception as exc:
            decision = deny("error", f"the policy could not judge the request ({type(exc).__name__})")
        return decision.answer()

    def authz_response(self, request):
        policy = self.policy.current()
        user = str(request.get("User") or "")
        if policy is not None and user in policy["restricted"]:
            method = str(request.get("RequestMethod") or "").upper()
            path = split_uri(request.get("RequestUri"))[0]
            id_ = created_id(request) if method == "POST" else None
            if id_ and path == "/containers/create":
                self.owners.record("containers", id_, user)
            elif id_ and path.startswith("/containers/") and path.endswith("/exec"):
                self.owners.record("execs", id_, user)
        return {"Allow": True}


class Handler(BaseHTTPRequestHandler):
    plugin = None

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            request = None
        if self.path == "/Plugin.Activate":
            answer = {"Implements": ["authz"]}
        elif not isinstance(request, dict):
            answer = deny("unreadable", "the plugin could not read dockerd's request").answer()
        elif self.path == "/AuthZPlugin.AuthZReq":
            answer = self.plugin.authz_request(request)
        elif self.path == "/AuthZPlugin.AuthZRes":
            answer = self.plugin.authz_response(request)
        else:
            self.send_error(404)
            return
        data = json.dumps(answer).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args):
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, address, handler, sock=None):
        if sock is None:
            super().__init__(address, handler)
            return
        super().__init__(address, handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock

    def get_request(self):
        request, _address = super().get_request()
        return request, ("local", 0)


def systemd_socket():
    """The listening socket systemd passed this process, or None."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        return None
    return socket.socket(fileno=SD_LISTEN_FDS_START)


def serve(socket_path, policy_path, owners_path, docker_socket=DEFAULT_SOCKET):
    """Answer dockerd on the socket systemd passed, else on ``socket_path``."""
    Handler.plugin = Plugin(policy_path, owners_path, docker_resolver(docker_socket))
    sock = systemd_socket()
    if sock is None and os.path.exists(socket_path):
        os.unlink(socket_path)
    with UnixServer(socket_path, Handler, sock) as server:
        server.serve_forever()

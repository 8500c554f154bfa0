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

import argparse
import fcntl
import http.client
import json
import os
import re
import signal
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
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import PLUGIN_SOCKET, read_policy
from ansible_collections.dockerlab.docker.plugins.module_utils._files import write_atomic

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
# A container's full id, as dockerd gives it.
FULL_ID = re.compile(r"[0-9a-f]{64}")
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
                        policy = read_policy(handle.read())
                except (OSError, UnicodeDecodeError):
                    policy = None
                self.value = (
                    None
                    if policy is None
                    else {"restricted": frozenset(policy[0]), "revoked": frozenset(policy[1])}
                )
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
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
        # Threads of this process, and the other worker processes.
        with self.lock, open(self.path + ".lock", "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.load()
            data[kind][id_] = user
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
            # A full id is what the docker CLI sends after a create: it owns
            # it or not without asking dockerd (a name or a prefix needs it).
            id_ = ref if FULL_ID.fullmatch(ref) else self.resolve(ref)
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
        if self.path == "/Plugin.Activate":
            # Read what was sent (dockerd sends nothing): an answer before the
            # body is read makes the client's send fail.
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = {"Implements": ["authz"]}
        elif self.path in ("/AuthZPlugin.AuthZReq", "/AuthZPlugin.AuthZRes"):
            answer = self.judge()
        else:
            self.send_error(404)
            return
        data = json.dumps(answer).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def judge(self):
        """The answer to an AuthZReq or AuthZRes. Whatever goes wrong, an
        answer: a connection closed without one makes dockerd send the call
        again without its body."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(request, dict):
                raise ValueError("not a JSON object")
            if self.path == "/AuthZPlugin.AuthZReq":
                return self.plugin.authz_request(request)
            return self.plugin.authz_response(request)
        except Exception as exc:
            return deny(
                "unreadable", f"the plugin could not read dockerd's request ({type(exc).__name__})"
            ).answer()

    def log_message(self, *_args):
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    # server_close() waits for the answers under way: a call cut off makes
    # dockerd send it again without its body.
    daemon_threads = False
    block_on_close = True

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


def _work(sock, parent_gone):
    """A worker: answer calls accepted on the shared listening socket until
    the main process goes (``parent_gone``, a pipe, reads EOF) or SIGTERM
    comes; then take no new call, answer those taken, and exit."""
    server = UnixServer(None, Handler, sock)

    def stop(*_args):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=lambda: (os.read(parent_gone, 1), stop()), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    os._exit(0)


def serve(socket_path, policy_path, owners_path, docker_socket=DEFAULT_SOCKET, workers=2):
    """Answer dockerd on the socket systemd passed, else on ``socket_path``.

    The main process only forks ``workers`` worker processes, which accept
    on the listening socket themselves, and starts a new one when one dies.
    A SIGKILL of the main process (systemd's MainPID) cuts no call: the
    workers answer what they accepted, see the main process gone, and exit,
    while systemd starts the plugin again on the same socket (its unit's
    KillMode=process leaves them that time). SIGTERM ends the workers the
    same way, then the main process."""
    Handler.plugin = Plugin(policy_path, owners_path, docker_resolver(docker_socket))
    sock = systemd_socket()
    if sock is None:
        if os.path.exists(socket_path):
            os.unlink(socket_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(socket_path)
        sock.listen(128)
    # Workers poll and accept without blocking: a call another worker took
    # must not leave one waiting in accept() when it is told to stop.
    sock.setblocking(False)
    parent_gone, alive = os.pipe()
    stopping = []

    def fork():
        pid = os.fork()
        if pid == 0:
            os.close(alive)
            _work(sock, parent_gone)
        return pid

    def stop(*_args):
        if not stopping:
            stopping.append(True)
            os.close(alive)

    children = {fork() for _worker in range(workers)}
    signal.signal(signal.SIGTERM, stop)
    while children:
        try:
            pid, _status = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)
        if not stopping:
            children.add(fork())


def main(argv=None):
    """The plugin's command line (the program systemd runs)."""
    parser = argparse.ArgumentParser(description="dockerlab's authorization plugin for dockerd")
    parser.add_argument("--socket", default=PLUGIN_SOCKET)
    parser.add_argument("--policy", required=True)
    parser.add_argument("--owners", required=True)
    parser.add_argument("--docker-socket", default=DEFAULT_SOCKET)
    args = parser.parse_args(argv)
    serve(args.socket, args.policy, args.owners, args.docker_socket)

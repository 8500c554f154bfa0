"""plugins/modules/docker_host_facts: the pure parsers on realistic dpkg and iproute2
output, file states of real temporary files, and the module run read-only
against temporary paths and a real Engine API served over a Unix socket."""

import functools
import grp
import hashlib
import http.server
import json
import os
import pwd
import re
import shutil
import socket
import socketserver
import subprocess
import threading
from types import SimpleNamespace

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils import _systemd
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import silent_plugins
from ansible_collections.dockerlab.docker.plugins.module_utils._files import Stash
from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import covers
from ansible_collections.dockerlab.docker.plugins.module_utils._proc import proc_net_listeners, socket_owners
from ansible_collections.dockerlab.docker.plugins.modules import docker_host_facts
from ansible_collections.dockerlab.docker.plugins.modules.docker_host_facts import (
    addresses,
    file_state,
    inputs_mark,
    installed_packages,
    parse_daemon_json,
    proc_sys_writable,
    unit_state,
    unit_states,
)

# /var/lib/dpkg/status as dpkg writes it: stanzas separated by one blank
# line, continuation lines (Conffiles, Description) indented by one space.
DPKG_STATUS = """\
Package: containerd
Status: install ok installed
Priority: optional
Section: admin
Installed-Size: 93254
Maintainer: Debian Go Packaging Team <team+pkg-go@tracker.debian.org>
Architecture: amd64
Source: containerd (1.6.20~ds1-1)
Version: 1.6.20~ds1-1+b1
Depends: libc6 (>= 2.34), libseccomp2 (>= 2.5.0), runc (>= 1.0.0~rc94~)
Conffiles:
 /etc/containerd/config.toml 4a1f2bd3f2b4a61dbf4d0c9bd6c5c4d8
Description: open and reliable container runtime
 Containerd is an industry-standard container runtime with an emphasis on
 simplicity, robustness and portability.
 .
 Status: this continuation line is not a field
Homepage: https://containerd.io

Package: docker.io
Status: deinstall ok config-files
Priority: optional
Section: admin
Installed-Size: 117283
Maintainer: Debian Go Packaging Team <team+pkg-go@tracker.debian.org>
Architecture: amd64
Version: 20.10.24+dfsg1-1+b3
Conffiles:
 /etc/default/docker 5d4b45dc5ad3d1e25f6d1bd2bf0c0d0b
 /etc/init.d/docker 8d3e2b1a3f0c9b4c7d6e5f4a3b2c1d0e
Description: Linux container runtime
 Docker complements kernel namespacing with a high-level API which operates
 at the process level.

Package: runc
Status: install ok installed
Priority: optional
Section: devel
Installed-Size: 9520
Architecture: amd64
Version: 1.1.5+ds1-1+deb12u1
Depends: libc6 (>= 2.34), libseccomp2 (>= 2.5.0)
Description: Open Container Project - runtime
 runc is a CLI tool for spawning and running containers according to the OCP
 specification.

Package: tini
Status: install ok half-installed
Priority: optional
Section: utils
Architecture: amd64
Version: 0.19.0-1
Description: tiny but valid init for containers
"""

# `ip -json address show` on a lab host: lo, eth0 with an IPv4, a global
# IPv6 and the link-local fe80:: every interface gets.
IP_JSON = json.dumps(
    [
        {
            "ifindex": 1,
            "ifname": "lo",
            "flags": ["LOOPBACK", "UP", "LOWER_UP"],
            "mtu": 65536,
            "qdisc": "noqueue",
            "operstate": "UNKNOWN",
            "group": "default",
            "txqlen": 1000,
            "link_type": "loopback",
            "address": "00:00:00:00:00:00",
            "broadcast": "00:00:00:00:00:00",
            "addr_info": [
                {
                    "family": "inet",
                    "local": "127.0.0.1",
                    "prefixlen": 8,
                    "scope": "host",
                    "label": "lo",
                    "valid_life_time": 4294967295,
                    "preferred_life_time": 4294967295,
                },
                {
                    "family": "inet6",
                    "local": "::1",
                    "prefixlen": 128,
                    "scope": "host",
                    "valid_life_time": 4294967295,
                    "preferred_life_time": 4294967295,
                },
            ],
        },
        {
            "ifindex": 42,
            "link_index": 43,
            "ifname": "eth0",
            "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
            "mtu": 1500,
            "qdisc": "noqueue",
            "operstate": "UP",
            "group": "default",
            "link_type": "ether",
            "address": "02:42:ac:12:00:03",
            "broadcast": "ff:ff:ff:ff:ff:ff",
            "link_netnsid": 0,
            "addr_info": [
                {
                    "family": "inet",
                    "local": "172.18.0.3",
                    "prefixlen": 16,
                    "broadcast": "172.18.255.255",
                    "scope": "global",
                    "label": "eth0",
                    "valid_life_time": 4294967295,
                    "preferred_life_time": 4294967295,
                },
                {
                    "family": "inet6",
                    "local": "fd00:dead:beef::3",
                    "prefixlen": 64,
                    "scope": "global",
                    "nodad": True,
                    "valid_life_time": 4294967295,
                    "preferred_life_time": 4294967295,
                },
                {
                    "family": "inet6",
                    "local": "fe80::42:acff:fe12:3",
                    "prefixlen": 64,
                    "scope": "link",
                    "valid_life_time": 4294967295,
                    "preferred_life_time": 4294967295,
                },
            ],
        },
    ]
)

# parse's words (plugins/module_utils/_daemon_json), which name the JSON type found.
NOT_AN_OBJECT = "must hold a JSON object at the top level, not {}"
ANY_IPV4 = "0.0.0.0"  # noqa: S104 - a published port in API data; nothing binds to it here

# GET /containers/json?all=1 as dockerd answers it (fields trimmed to a
# realistic subset): one running container with labels, one exited.
CONTAINERS = [
    {
        "Id": "8dfafdbc3a40" + "0" * 52,
        "Names": ["/flaskapp"],
        "Image": "digitalocean/flask-helloworld:latest",
        "ImageID": "sha256:" + "a" * 64,
        "Command": "python app.py",
        "Created": 1717243200,
        "Ports": [{"IP": ANY_IPV4, "PrivatePort": 5000, "PublicPort": 8080, "Type": "tcp"}],
        "Labels": {"dockerlab.role": "app", "com.docker.compose.project": "lab"},
        "State": "running",
        "Status": "Up 2 hours",
        "HostConfig": {"NetworkMode": "bridge"},
        "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2"}}},
        "Mounts": [],
    },
    {
        "Id": "9c1e2f3a4b5d" + "0" * 52,
        "Names": ["/dockerlab-registry"],
        "Image": "registry:2",
        "ImageID": "sha256:" + "b" * 64,
        "Command": "/entrypoint.sh /etc/docker/registry/config.yml",
        "Created": 1717243100,
        "Ports": [],
        "Labels": {},
        "State": "exited",
        "Status": "Exited (0) 5 minutes ago",
        "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    },
]

# What dockerd answers about the Flask app's image and container, as the
# Engine API (v1.41+) has them: GET /images/REF/json, /distribution/REF/json
# and /containers/NAME/json. The image was pulled by tag, so its RepoDigests
# hold the digest the registry served then.
FLASK_IMAGE = "digitalocean/flask-helloworld:latest"
FLASK_IMAGE_ID = "sha256:" + "c" * 64
FLASK_DIGEST = "sha256:" + "e" * 64
NEW_DIGEST = "sha256:" + "f" * 64
IMAGE_INSPECT = {
    "Id": FLASK_IMAGE_ID,
    "RepoTags": [FLASK_IMAGE],
    "RepoDigests": ["digitalocean/flask-helloworld@" + FLASK_DIGEST],
    "Parent": "",
    "Created": "2019-06-11T21:19:37.617722935Z",
    "Architecture": "amd64",
    "Os": "linux",
    "Size": 703394963,
    "Config": {"Cmd": ["python", "app.py"], "ExposedPorts": {"5000/tcp": {}}},
    "RootFS": {"Type": "layers", "Layers": ["sha256:" + "1" * 64, "sha256:" + "2" * 64]},
}
NO_SUCH_IMAGE = {"message": f"No such image: {FLASK_IMAGE}"}


def _distribution(digest):
    return {
        "Descriptor": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": digest,
            "size": 3459,
        },
        "Platforms": [{"architecture": "amd64", "os": "linux"}],
    }


CONTAINER_INSPECT = {
    "Id": "8dfafdbc3a40" + "0" * 52,
    "Created": "2024-06-01T12:00:00.000000000Z",
    "Path": "python",
    "Args": ["app.py"],
    "State": {
        "Status": "running",
        "Running": True,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 4242,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": "2024-06-01T12:00:01.000000000Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
    },
    "Image": FLASK_IMAGE_ID,
    "Name": "/flaskapp",
    "RestartCount": 0,
    "HostConfig": {
        "NetworkMode": "default",
        "PortBindings": {"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}]},
        "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
        "AutoRemove": False,
    },
    "Config": {"Hostname": "8dfafdbc3a40", "Image": FLASK_IMAGE, "ExposedPorts": {"5000/tcp": {}}},
    "NetworkSettings": {
        "Ports": {"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}]},
        "Networks": {"bridge": {"IPAddress": "172.17.0.2"}},
    },
}
NO_SUCH_CONTAINER = {"message": "No such container: flaskapp"}

# The routes of a daemon that has the current image and runs the container.
CURRENT = {
    f"/images/{FLASK_IMAGE}/json": (200, IMAGE_INSPECT),
    f"/distribution/{FLASK_IMAGE}/json": (200, _distribution(FLASK_DIGEST)),
    "/containers/flaskapp/json": (200, CONTAINER_INSPECT),
}


# ---------------------------------------------------------------- parsers


def test_installed_packages_reads_versions_of_installed_packages_only():
    names = ["containerd", "docker.io", "runc", "tini", "podman"]
    assert installed_packages(DPKG_STATUS, names) == {
        "containerd": "1.6.20~ds1-1+b1",
        "docker.io": None,  # removed, only its configuration files are left
        "runc": "1.1.5+ds1-1+deb12u1",
        "tini": None,  # half-installed is not installed
        "podman": None,  # not in the file at all
    }


def test_installed_packages_ignores_unwanted_packages_and_empty_input():
    assert installed_packages(DPKG_STATUS, ["runc"]) == {"runc": "1.1.5+ds1-1+deb12u1"}
    assert installed_packages(DPKG_STATUS, []) == {}
    assert installed_packages("", ["runc"]) == {"runc": None}


def test_installed_packages_matches_dpkg_query_on_this_host():
    dpkg_query = shutil.which("dpkg-query")
    if not dpkg_query or not os.path.exists(docker_host_facts.DPKG_STATUS):
        pytest.skip("not a Debian host")
    version = subprocess.run(
        [dpkg_query, "-W", "-f=${Version}", "dpkg"], capture_output=True, text=True, check=True
    ).stdout
    with open(docker_host_facts.DPKG_STATUS, encoding="utf-8") as handle:
        status = handle.read()
    assert installed_packages(status, ["dpkg", "dockerlab-no-such-package"]) == {
        "dpkg": version,
        "dockerlab-no-such-package": None,
    }


def test_addresses_keeps_global_addresses_only():
    assert addresses(IP_JSON) == (["172.18.0.3"], ["fd00:dead:beef::3"])


@pytest.mark.parametrize("text", [None, "", "[]", "not json", '[{"ifname": "lo"}]'])
def test_addresses_of_no_or_bad_output_are_empty(text):
    assert addresses(text) == ([], [])


def test_addresses_are_sorted_and_unique():
    interfaces = [
        {"ifname": "eth1", "addr_info": [{"family": "inet", "local": "10.0.0.9", "scope": "global"}]},
        {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "10.0.0.10", "scope": "global"}]},
        {"ifname": "eth0.1", "addr_info": [{"family": "inet", "local": "10.0.0.9", "scope": "global"}]},
    ]
    assert addresses(json.dumps(interfaces)) == (["10.0.0.10", "10.0.0.9"], [])


# /proc/net/tcp as the kernel prints it (lines padded with trailing blanks):
# addresses as 32-bit words in host (little-endian) order, ports in hex
# (0539 = 1337, 1F90 = 8080), state 0A = LISTEN, 01 = ESTABLISHED, the
# inode in the tenth column. The last two rows are malformed.
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0539 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4730252 1 00000000d893970c 100 0 0 10 0
   1: 0100007F:0539 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4730311 1 0000000041b2c7e3 100 0 0 10 0
   2: 0300A8C0:0539 6400A8C0:D431 01 00000000:00000000 02:000AFC5A 00000000     0        0 4731877 2 00000000a1f0e36b 20 4 30 10 -1
   3: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1680 1 00000000935b9749 100 0 0 10 0
   4: 0100007F:0539 0100007F:CA82 06 00000000:00000000 03:00000756 00000000     0        0 0 3 000000006503522d
   5: 0100007F:0539 00000000:0000 0A 00000000:00000000
   6: ZZ00007F:0539 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4730999 1 0000000000000000 100 0 0 10 0
"""  # noqa: E501 - rows as the kernel prints them

# /proc/net/tcp6: each address four 32-bit words, each in host order, so
# ::1 is 00000000000000000000000001000000 and ::ffff:127.0.0.1 ends in
# FFFF0000 0100007F. The last row is malformed (a 6-byte address).
PROC_NET_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0539 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4730253 1 000000003c8d1f2a 100 0 0 10 0
   1: 00000000000000000000000001000000:0539 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4730312 1 00000000f0a1b2c3 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:0539 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4730313 1 00000000f0a1b2c4 100 0 0 10 0
   3: 00000000000000000000000001000000:0539 00000000000000000000000001000000:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 4730400 1 00000000f0a1b2c5 20 4 30 10 -1
   4: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1681 1 00000000935b974a 100 0 0 10 0
   5: 000000000000000000000000:0539 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4730500 1 0000000000000000 100 0 0 10 0
"""  # noqa: E501 - rows as the kernel prints them


def _comm():
    """This process's name as /proc has it (what the module reports)."""
    with open("/proc/self/comm", encoding="utf-8") as handle:
        return handle.read().strip()


def test_proc_net_listeners_keeps_the_listening_sockets_on_the_ports_asked():
    assert proc_net_listeners(PROC_NET_TCP, {1337}) == [
        (1337, ANY_IPV4, "4730252"),
        (1337, "127.0.0.1", "4730311"),
    ]
    assert proc_net_listeners(PROC_NET_TCP, [8080]) == [(8080, ANY_IPV4, "1680")]
    assert proc_net_listeners(PROC_NET_TCP, {1337, 8080}) == [
        (1337, ANY_IPV4, "4730252"),
        (1337, "127.0.0.1", "4730311"),
        (8080, ANY_IPV4, "1680"),
    ]


def test_proc_net_listeners_reads_ipv6_addresses():
    assert proc_net_listeners(PROC_NET_TCP6, {1337}, ipv6=True) == [
        (1337, "::", "4730253"),
        (1337, "::1", "4730312"),
        (1337, "::ffff:127.0.0.1", "4730313"),
    ]
    assert proc_net_listeners(PROC_NET_TCP6, {8080}, ipv6=True) == [(8080, "::", "1681")]


@pytest.mark.parametrize(
    ("text", "ports", "ipv6"),
    [
        (PROC_NET_TCP, {5000}, False),  # nothing on that port
        (PROC_NET_TCP, set(), False),  # no port asked
        (PROC_NET_TCP.splitlines()[0], {1337}, False),  # the header only
        ("", {1337}, False),
        (PROC_NET_TCP6, {5000}, True),
    ],
    ids=["other-port", "no-port", "header-only", "empty", "ipv6-other-port"],
)
def test_proc_net_listeners_finds_nothing(text, ports, ipv6):
    assert proc_net_listeners(text, ports, ipv6=ipv6) == []


def test_proc_net_listeners_of_this_hosts_tables_has_a_socket_listening_here():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with open("/proc/net/tcp", encoding="utf-8") as handle:
            found = proc_net_listeners(handle.read(), {port})
        assert found == [(port, "127.0.0.1", str(os.fstat(sock.fileno()).st_ino))]


def test_socket_owners_finds_this_process_by_its_socket_inode():
    comm = _comm()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        inode = str(os.fstat(sock.fileno()).st_ino)
        assert socket_owners({inode}) == {inode: (comm, os.getpid())}
        assert socket_owners([inode, "999999999"]) == {inode: (comm, os.getpid())}


def test_socket_owners_of_no_or_unknown_inodes_is_empty(tmp_path):
    assert socket_owners(set()) == {}
    assert socket_owners({"999999999"}) == {}  # no process has such a socket
    assert socket_owners({"1"}, proc=str(tmp_path)) == {}  # an empty /proc


def test_socket_owners_reads_a_proc_tree(tmp_path):
    # A /proc-like tree: pid 4242 (docker-proxy) holds socket 4730252 among
    # other files, pid 7 one the test does not ask about; "self" and
    # "net" are no process, pid 99 has vanished (no fd directory).
    for pid, comm, targets in [
        ("4242", "docker-proxy\n", ["/dev/null", "socket:[4730252]", "pipe:[123]"]),
        ("7", "sshd\n", ["socket:[1680]"]),
    ]:
        (tmp_path / pid / "fd").mkdir(parents=True)
        (tmp_path / pid / "comm").write_text(comm)
        for fd, target in enumerate(targets):
            (tmp_path / pid / "fd" / str(fd)).symlink_to(target)
    (tmp_path / "net").mkdir()
    (tmp_path / "self").symlink_to("4242")
    (tmp_path / "99").mkdir()
    assert socket_owners({"4730252", "4730311"}, proc=str(tmp_path)) == {"4730252": ("docker-proxy", 4242)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, {"exists": False, "valid": True, "error": "", "config": {}}),
        ("", {"exists": True, "valid": True, "error": "", "config": {}}),
        (" \n\t", {"exists": True, "valid": True, "error": "", "config": {}}),
        (
            '{"live-restore": true, "log-opts": {"max-size": "10m"}}\n',
            {
                "exists": True,
                "valid": True,
                "error": "",
                "config": {"live-restore": True, "log-opts": {"max-size": "10m"}},
            },
        ),
        (
            '{"live-restore": tru}',
            {
                "exists": True,
                "valid": False,
                "error": "is not valid JSON: Expecting value: line 1 column 18 (char 17)",
                "config": {},
            },
        ),
        (
            '["live-restore"]',
            {"exists": True, "valid": False, "error": NOT_AN_OBJECT.format("list"), "config": {}},
        ),
        ("null", {"exists": True, "valid": False, "error": NOT_AN_OBJECT.format("NoneType"), "config": {}}),
    ],
    ids=["missing", "empty", "blank", "valid", "invalid", "list", "null"],
)
def test_parse_daemon_json(text, expected):
    assert parse_daemon_json(text) == expected


def _owner(path):
    st = os.stat(path)
    return {
        "owner": pwd.getpwuid(st.st_uid).pw_name,
        "group": grp.getgrgid(st.st_gid).gr_name,
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def test_file_state_of_a_regular_file(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    path.chmod(0o444)
    assert file_state(str(path)) == {
        "exists": True,
        "directory": False,
        "sha256": hashlib.sha256(b"-----BEGIN CERTIFICATE-----\n").hexdigest(),
        "inputs": None,
        "mode": "0444",
        **_owner(path),
    }


def test_file_state_of_a_directory_has_no_checksum(tmp_path):
    path = tmp_path / "tls"
    path.mkdir()
    path.chmod(0o750)
    assert file_state(str(path)) == {"exists": True, "directory": True, "mode": "0750", **_owner(path)}


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_file_state_reports_special_bits_and_numeric_owners(tmp_path):
    path = tmp_path / "key.pem"
    path.write_bytes(b"")
    os.chown(path, 54321, 54321)  # ids without a passwd or group entry
    path.chmod(0o2400)
    assert file_state(str(path)) == {
        "exists": True,
        "directory": False,
        "sha256": hashlib.sha256(b"").hexdigest(),
        "inputs": None,
        "mode": "2400",
        "owner": "54321",
        "group": "54321",
        "uid": 54321,
        "gid": 54321,
    }


@pytest.mark.parametrize("name", ["absent.pem", "absent/cert.pem", "dangling-link"])
def test_file_state_of_a_missing_path(tmp_path, name):
    (tmp_path / "dangling-link").symlink_to(tmp_path / "nowhere")
    assert file_state(str(tmp_path / name)) == {"exists": False}


# ------------------------------------------------------------ the module


class _EngineHandler(http.server.BaseHTTPRequestHandler):
    """Answers GET /containers/json?all=1 and the server's routes (the raw
    request path -> (status, body)) like dockerd; everything else is 404."""

    def do_GET(self):
        self.server.paths.append(self.path)
        if self.path in self.server.routes:
            status, body = self.server.routes[self.path]
        elif self.path == "/containers/json?all=1":
            status, body = self.server.status, self.server.body
        else:
            status, body = 404, {"message": "page not found"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        pass


class _UnixEngineServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def verify_request(self, request, client_address):
        return self.available  # a daemon that is down closes the connection unanswered


@pytest.fixture
def engine(short_tmp):
    """A real HTTP server on a Unix socket answering the container list and
    the given routes (path -> (status, body)):
    ``start(body=CONTAINERS, status=200, available=True, routes=None)`` returns it."""
    servers = []

    def start(body=None, *, status=200, available=True, routes=None):
        server = _UnixEngineServer(str(short_tmp / "docker.sock"), _EngineHandler)
        body = CONTAINERS if body is None else body
        server.body, server.status, server.available, server.paths = body, status, available, []
        server.routes = dict(routes or {})
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def paths(tmp_path, short_tmp):
    daemon_json = tmp_path / "docker" / "daemon.json"
    daemon_json.parent.mkdir()
    return {
        "daemon_json": daemon_json,
        "stash_dir": tmp_path / "stash",
        "socket": short_tmp / "docker.sock",
    }


@pytest.fixture
def run(run_module, paths):
    def run_facts(*, check_mode=False, **args):
        defaults = {
            "daemon_json": str(paths["daemon_json"]),
            "stash_dir": str(paths["stash_dir"]),
            "socket": str(paths["socket"]),
            "service": "dockerlab-no-such-unit.service",
        }
        return run_module(docker_host_facts, {**defaults, **args}, check_mode=check_mode)

    return run_facts


def _ip_json():
    """This host's `ip -json address show`, as the module reads it ("" without iproute2)."""
    ip = shutil.which("ip")
    if not ip:
        return ""
    return subprocess.run([ip, "-json", "address", "show"], capture_output=True, text=True, check=True).stdout


def facts_of(result, name="dockerlab"):
    """The read's fact, checked to come with dockerlab_daemon_restarted false."""
    assert result["changed"] is False
    assert sorted(result["ansible_facts"]) == sorted([name, "dockerlab_daemon_restarted"])
    assert result["ansible_facts"]["dockerlab_daemon_restarted"] is False
    return result["ansible_facts"][name]


def test_reports_the_host_read_only(run, paths, tmp_path):
    daemon_json, stash_dir = paths["daemon_json"], paths["stash_dir"]
    daemon_json.write_text('{"live-restore": true}\n')
    tls = tmp_path / "tls"
    tls.mkdir(mode=0o755)
    tls.chmod(0o755)
    ca = tls / "ca.pem"
    ca.write_bytes(b"ca\n")
    ca.chmod(0o444)
    Stash(str(stash_dir)).save(str(daemon_json))
    watched = [daemon_json, stash_dir / "pending.json", ca]
    before = {path: (path.read_bytes(), os.stat(path).st_mtime_ns) for path in watched}

    facts = facts_of(
        run(
            packages=["dpkg", "dockerlab-no-such-package"],
            group="root",
            users=["root", "dockerlab-no-such-user"],
            user_files=[".", ".dockerlab-no-such-dir/cert.pem"],
            files=[str(tls), str(ca), str(tls / "cert.pem")],
        )
    )

    assert set(facts) == {
        "packages",
        "service",
        "units",
        "daemon_json",
        "group",
        "users",
        "files",
        "fqdn",
        "ipv4",
        "ipv6",
        "stash_pending",
        "unit",
        "containers",
        "images",
        "inspected",
        "listening",
        "proc_sys_writable",
        "daemon_blocked",
        "requested",
    }
    assert facts["requested"] == {
        "packages": ["dpkg", "dockerlab-no-such-package"],
        "users": ["root", "dockerlab-no-such-user"],
        "user_files": [".", ".dockerlab-no-such-dir/cert.pem"],
        "files": [str(tls), str(ca), str(tls / "cert.pem")],
        "images": [],
        "inspect": [],
        "ports": [],
        "units": [],
        "containers": False,
        "daemon_json": str(daemon_json),
    }
    assert facts["packages"]["dockerlab-no-such-package"] is None
    assert facts["packages"]["dpkg"]  # Debian 12: dpkg is always installed
    assert facts["service"] == {"exists": False, "active": False, "enabled": False}
    assert facts["daemon_json"] == {
        "exists": True,
        "valid": True,
        "error": "",
        "config": {"live-restore": True},
    }
    assert facts["group"] == {"exists": True, "gid": 0, "members": sorted(grp.getgrgid(0).gr_mem)}
    root = pwd.getpwnam("root")
    assert facts["users"] == {
        "root": {
            "uid": 0,
            "gid": 0,
            "home": root.pw_dir,
            "files": {
                ".": file_state(os.path.join(root.pw_dir, ".")),
                ".dockerlab-no-such-dir/cert.pem": {"exists": False},
            },
        },
        "dockerlab-no-such-user": None,
    }
    assert facts["users"]["root"]["files"]["."]["directory"] is True
    assert facts["files"] == {
        str(tls): {"exists": True, "directory": True, "mode": "0755", **_owner(tls)},
        str(ca): {
            "exists": True,
            "directory": False,
            "sha256": hashlib.sha256(b"ca\n").hexdigest(),
            "inputs": None,
            "mode": "0444",
            **_owner(ca),
        },
        str(tls / "cert.pem"): {"exists": False},
    }
    assert facts["fqdn"] == socket.getfqdn()
    assert (facts["ipv4"], facts["ipv6"]) == addresses(_ip_json(), ["docker*", "br-*", "veth*"])
    assert not {"127.0.0.1", "::1"} & set(facts["ipv4"] + facts["ipv6"])
    assert not [address for address in facts["ipv6"] if address.startswith("fe80:")]
    assert facts["stash_pending"] == [str(daemon_json)]
    assert facts["containers"] is None  # not asked for
    assert (facts["images"], facts["inspected"]) == ({}, {})  # not asked for either
    assert facts["listening"] == {}  # no ports asked for
    assert isinstance(facts["proc_sys_writable"], bool)
    assert facts["proc_sys_writable"] is proc_sys_writable()
    assert {path: (path.read_bytes(), os.stat(path).st_mtime_ns) for path in watched} == before


def test_check_mode_returns_the_same_facts(run, paths):
    paths["daemon_json"].write_text('{"debug": true}')
    args = {"packages": ["dpkg"], "users": ["root"], "files": [str(paths["daemon_json"])]}
    assert run(check_mode=True, **args) == run(**args)


@pytest.mark.parametrize("name", ["dockerlab_engine", "dockerlab_access"])
def test_the_fact_is_named_by_the_name_option(run, name):
    assert facts_of(run(name=name), name)["daemon_json"]["exists"] is False


def test_defaults_ask_for_nothing_optional(run, paths):
    facts = facts_of(run())
    assert facts["packages"] == {}
    assert facts["users"] == {}
    assert facts["files"] == {}
    assert facts["stash_pending"] == []
    assert facts["daemon_json"] == {"exists": False, "valid": True, "error": "", "config": {}}
    assert not paths["stash_dir"].exists()


def test_a_missing_group_is_reported_not_failed(run):
    assert facts_of(run(group="dockerlab-no-such-group"))["group"] == {
        "exists": False,
        "gid": None,
        "members": [],
    }


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (
            '{"hosts": ["tcp://0.0.0.0:2375"],}',
            "is not valid JSON: Expecting property name enclosed in double quotes:"
            " line 1 column 34 (char 33)",
        ),
        ("[]", NOT_AN_OBJECT.format("list")),
    ],
)
def test_an_invalid_daemon_json_is_reported_not_failed(run, paths, content, error):
    paths["daemon_json"].write_text(content)
    assert facts_of(run())["daemon_json"] == {"exists": True, "valid": False, "error": error, "config": {}}


def test_an_undecodable_daemon_json_is_reported_not_a_traceback(run, paths):
    paths["daemon_json"].write_bytes(b'{"labels": ["caf\xe9"]}\n')  # latin-1, not UTF-8
    assert facts_of(run())["daemon_json"] == {
        "exists": True,
        "valid": False,
        "error": "cannot read the file: 'utf-8' codec can't decode byte 0xe9 in position 16: "
        "invalid continuation byte",
        "config": {},
    }


def test_a_directory_as_daemon_json_is_reported_not_a_traceback(run, paths):
    paths["daemon_json"].mkdir()
    error = f"cannot read the file: [Errno 21] Is a directory: '{paths['daemon_json']}'"
    assert facts_of(run())["daemon_json"] == {"exists": True, "valid": False, "error": error, "config": {}}


def test_containers_are_listed_from_the_engine_api(run, engine):
    server = engine()
    facts = facts_of(run(containers=True))
    assert facts["containers"] == [
        {
            "name": "flaskapp",
            "state": "running",
            "image": "digitalocean/flask-helloworld:latest",
            "labels": {"dockerlab.role": "app", "com.docker.compose.project": "lab"},
            "published": [{"ip": ANY_IPV4, "port": 8080, "type": "tcp"}],
        },
        {
            "name": "dockerlab-registry",
            "state": "exited",
            "image": "registry:2",
            "labels": {},
            "published": [],
        },
    ]
    assert server.paths == ["/containers/json?all=1"]


def test_published_ports_are_the_bound_ones_sorted_by_port_and_address(run, engine):
    # As dockerd lists them: an exposed port that is not published has no
    # IP and no PublicPort; -p 8081:80 on a dual-stack host gives one entry
    # per address family; -p 127.0.0.1:443:443 one on loopback.
    web = {
        **CONTAINERS[0],
        "Names": ["/web"],
        "Ports": [
            {"IP": "::", "PrivatePort": 80, "PublicPort": 8081, "Type": "tcp"},
            {"PrivatePort": 5000, "Type": "tcp"},
            {"IP": "127.0.0.1", "PrivatePort": 443, "PublicPort": 443, "Type": "tcp"},
            {"IP": ANY_IPV4, "PrivatePort": 80, "PublicPort": 8081, "Type": "tcp"},
            {"IP": ANY_IPV4, "PrivatePort": 53, "PublicPort": 8081, "Type": "udp"},
        ],
    }
    exposed_only = {**CONTAINERS[0], "Names": ["/worker"], "Ports": [{"PrivatePort": 5000, "Type": "tcp"}]}
    no_ports = {**CONTAINERS[1], "Ports": None}
    engine([web, exposed_only, no_ports])
    containers = {c["name"]: c["published"] for c in facts_of(run(containers=True))["containers"]}
    assert containers == {
        "web": [
            {"ip": "127.0.0.1", "port": 443, "type": "tcp"},
            {"ip": ANY_IPV4, "port": 8081, "type": "tcp"},
            {"ip": "::", "port": 8081, "type": "tcp"},
            {"ip": ANY_IPV4, "port": 8081, "type": "udp"},
        ],
        "worker": [],
        "dockerlab-registry": [],
    }


def test_a_daemon_without_containers_gives_an_empty_list(run, engine):
    engine([])
    assert facts_of(run(containers=True))["containers"] == []


def test_containers_are_read_in_check_mode_too(run, engine):
    engine()
    assert facts_of(run(containers=True, check_mode=True))["containers"][0]["name"] == "flaskapp"


def test_containers_are_unknown_when_nothing_listens(run, paths):
    assert not paths["socket"].exists()
    assert facts_of(run(containers=True))["containers"] is None


def test_containers_are_unknown_when_the_socket_file_has_no_listener(run, paths):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(paths["socket"]))  # the file exists; connect() is refused
        assert facts_of(run(containers=True))["containers"] is None


@pytest.mark.parametrize(
    "server",
    [
        {"available": False},
        {"status": 500, "body": {"message": "Cannot connect to the containerd socket"}},
        {"body": {"message": "not a list"}},
    ],
    ids=["closes-unanswered", "http-500", "not-a-list"],
)
def test_containers_are_unknown_when_the_daemon_does_not_answer_a_list(run, engine, server):
    engine(**server)
    assert facts_of(run(containers=True))["containers"] is None


# ------------------------------------------- images and inspected containers


def test_an_up_to_date_image_and_its_container_are_reported(run, engine):
    engine(routes=CURRENT)
    facts = facts_of(run(images=[FLASK_IMAGE], inspect=["flaskapp"]))
    assert facts["images"] == {
        FLASK_IMAGE: {
            "id": FLASK_IMAGE_ID,
            "repo_digests": ["digitalocean/flask-helloworld@" + FLASK_DIGEST],
            "registry_digest": FLASK_DIGEST,
            "registry_error": "",
        }
    }
    assert facts["inspected"] == {
        "flaskapp": {
            "image_id": FLASK_IMAGE_ID,
            "status": "running",
            "restart_policy": "unless-stopped",
            "port_bindings": {"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}]},
            "labels": {},
            "memory": 0,
            "cpu_shares": 0,
            "pids_limit": 0,
        }
    }
    assert facts["containers"] is None  # not asked for


def test_a_new_image_behind_the_tag_shows_as_another_registry_digest(run, engine):
    engine(routes={**CURRENT, f"/distribution/{FLASK_IMAGE}/json": (200, _distribution(NEW_DIGEST))})
    image = facts_of(run(images=[FLASK_IMAGE]))["images"][FLASK_IMAGE]
    assert image["registry_digest"] == NEW_DIGEST
    assert image["registry_error"] == ""
    assert [d.rpartition("@")[2] for d in image["repo_digests"]] == [FLASK_DIGEST]


def test_an_image_not_pulled_has_no_id_but_a_registry_digest(run, engine):
    engine(routes={**CURRENT, f"/images/{FLASK_IMAGE}/json": (404, NO_SUCH_IMAGE)})
    assert facts_of(run(images=[FLASK_IMAGE]))["images"] == {
        FLASK_IMAGE: {
            "id": None,
            "repo_digests": [],
            "registry_digest": FLASK_DIGEST,
            "registry_error": "",
        }
    }


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, "manifest unknown"),
        (
            500,
            'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io '
            "on 127.0.0.53:53: server misbehaving",
        ),
    ],
    ids=["manifest-unknown", "registry-unreachable"],
)
def test_a_registry_error_leaves_the_digest_unknown_with_the_message(run, engine, status, message):
    engine(routes={**CURRENT, f"/distribution/{FLASK_IMAGE}/json": (status, {"message": message})})
    assert facts_of(run(images=[FLASK_IMAGE]))["images"] == {
        FLASK_IMAGE: {
            "id": FLASK_IMAGE_ID,
            "repo_digests": ["digitalocean/flask-helloworld@" + FLASK_DIGEST],
            "registry_digest": None,
            "registry_error": message,
        }
    }


def test_a_stopped_container_with_another_policy_and_ports_is_reported_as_it_is(run, engine):
    stopped = {
        **CONTAINER_INSPECT,
        "Image": "sha256:" + "d" * 64,
        "State": {**CONTAINER_INSPECT["State"], "Status": "exited", "Running": False, "ExitCode": 137},
        "HostConfig": {
            **CONTAINER_INSPECT["HostConfig"],
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "PortBindings": {"5000/tcp": [{"HostIp": "::1", "HostPort": "8080"}]},
        },
    }
    engine(routes={"/containers/flaskapp/json": (200, stopped)})
    assert facts_of(run(inspect=["flaskapp"]))["inspected"] == {
        "flaskapp": {
            "image_id": "sha256:" + "d" * 64,
            "status": "exited",
            "restart_policy": "no",
            "port_bindings": {"5000/tcp": [{"HostIp": "::1", "HostPort": "8080"}]},
            "labels": {},
            "memory": 0,
            "cpu_shares": 0,
            "pids_limit": 0,
        }
    }


def test_a_container_without_published_ports_has_empty_bindings(run, engine):
    bare = {**CONTAINER_INSPECT, "HostConfig": {"NetworkMode": "default", "PortBindings": None}}
    engine(routes={"/containers/flaskapp/json": (200, bare)})
    assert facts_of(run(inspect=["flaskapp"]))["inspected"]["flaskapp"] == {
        "image_id": FLASK_IMAGE_ID,
        "status": "running",
        "restart_policy": "",
        "port_bindings": {},
        "labels": {},
        "memory": 0,
        "cpu_shares": 0,
        "pids_limit": 0,
    }


def test_a_missing_container_is_null(run, engine):
    engine(routes={"/containers/flaskapp/json": (404, NO_SUCH_CONTAINER)})
    assert facts_of(run(inspect=["flaskapp", "dockerlab-absent"]))["inspected"] == {
        "flaskapp": None,
        "dockerlab-absent": None,  # the server's "page not found": also no such container
    }


@pytest.mark.parametrize(
    ("config", "host_config", "expected"),
    [
        (
            {"Labels": {"org.dockerlab.flask-settings": "0123456789abcdef", "maintainer": "x"}},
            {"Memory": 134217728, "CpuShares": 512, "PidsLimit": 64},
            {
                "labels": {"org.dockerlab.flask-settings": "0123456789abcdef", "maintainer": "x"},
                "memory": 134217728,
                "cpu_shares": 512,
                "pids_limit": 64,
            },
        ),
        (
            {"Labels": None},
            {"Memory": None, "CpuShares": None, "PidsLimit": None},
            {"labels": {}, "memory": 0, "cpu_shares": 0, "pids_limit": 0},
        ),
        (
            # What dockerd answers for a container made without limits.
            {"Labels": {}},
            {"Memory": 0, "CpuShares": 0, "PidsLimit": None},
            {"labels": {}, "memory": 0, "cpu_shares": 0, "pids_limit": 0},
        ),
        (
            {"Labels": {}},
            {"Memory": 0, "CpuShares": 0, "PidsLimit": -1},
            {"labels": {}, "memory": 0, "cpu_shares": 0, "pids_limit": -1},
        ),
        (None, {}, {"labels": {}, "memory": 0, "cpu_shares": 0, "pids_limit": 0}),
    ],
    ids=["set", "null", "unlimited", "pids-minus-one", "config-null-and-fields-missing"],
)
def test_inspect_reports_labels_and_limits(run, engine, config, host_config, expected):
    container = {
        **CONTAINER_INSPECT,
        "Config": None if config is None else {**CONTAINER_INSPECT["Config"], **config},
        "HostConfig": {**CONTAINER_INSPECT["HostConfig"], **host_config},
    }
    engine(routes={"/containers/flaskapp/json": (200, container)})
    assert facts_of(run(inspect=["flaskapp"]))["inspected"] == {
        "flaskapp": {
            "image_id": FLASK_IMAGE_ID,
            "status": "running",
            "restart_policy": "unless-stopped",
            "port_bindings": {"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}]},
            **expected,
        }
    }


def test_the_engine_api_paths_requested(run, engine):
    server = engine(routes=CURRENT)
    pinned = f"localhost:5000/dockerlab/flask@{FLASK_DIGEST}"
    # "my app" is no valid container name: it only shows that names are quoted.
    run(images=[FLASK_IMAGE, pinned], inspect=["flaskapp", "my app"])
    assert server.paths == [
        "/images/digitalocean/flask-helloworld:latest/json",
        "/distribution/digitalocean/flask-helloworld:latest/json",
        f"/images/localhost:5000/dockerlab/flask@{FLASK_DIGEST}/json",
        f"/distribution/localhost:5000/dockerlab/flask@{FLASK_DIGEST}/json",
        "/containers/flaskapp/json",
        "/containers/my%20app/json",
    ]


def test_the_daemon_is_not_asked_while_an_authorization_plugin_it_names_is_silent(run, engine, paths):
    # dockerd would hold each call 30 s retrying the plugin, then fail it.
    server = engine(routes=CURRENT)
    paths["daemon_json"].write_text('{"authorization-plugins": ["dockerlab-test-nosuch"]}')
    facts = facts_of(run(images=[FLASK_IMAGE], inspect=["flaskapp"], containers=True))
    assert facts["daemon_blocked"] == [
        "dockerlab-test-nosuch: neither /run/docker/plugins/dockerlab-test-nosuch.sock nor a spec file exists"
    ]
    assert (facts["containers"], facts["images"], facts["inspected"]) == (None, None, None)
    assert server.paths == []


def test_the_daemon_is_asked_when_its_authorization_plugin_answers(
    run, engine, paths, short_tmp, monkeypatch
):
    from ansible_collections.dockerlab.docker.plugins.module_utils._authz_server import Handler, UnixServer

    plugins = short_tmp / "plugins"
    plugins.mkdir()
    monkeypatch.setattr(
        docker_host_facts, "silent_plugins", functools.partial(silent_plugins, plugins_dir=str(plugins))
    )
    plugin = UnixServer(str(plugins / "dockerlab-authz.sock"), Handler)
    threading.Thread(target=plugin.serve_forever, daemon=True).start()
    server = engine(routes=CURRENT)
    paths["daemon_json"].write_text('{"authorization-plugins": ["dockerlab-authz"]}')
    try:
        facts = facts_of(run(inspect=["flaskapp"], containers=True))
    finally:
        plugin.shutdown()
        plugin.server_close()
    assert facts["daemon_blocked"] == []
    assert facts["inspected"]["flaskapp"]["status"] == "running"
    assert server.paths == ["/containers/json?all=1", "/containers/flaskapp/json"]


def test_images_and_inspected_are_empty_when_not_asked(run, engine):
    server = engine(routes=CURRENT)
    facts = facts_of(run())
    assert facts["images"] == {}
    assert facts["inspected"] == {}
    assert server.paths == []  # the daemon is not asked at all


def test_images_and_inspected_are_unknown_when_nothing_listens(run, paths):
    assert not paths["socket"].exists()
    facts = facts_of(run(images=[FLASK_IMAGE], inspect=["flaskapp"]))
    assert facts["images"] is None
    assert facts["inspected"] is None


def test_images_and_inspected_are_unknown_when_the_daemon_closes_unanswered(run, engine):
    server = engine(routes=CURRENT, available=False)
    facts = facts_of(run(images=[FLASK_IMAGE], inspect=["flaskapp"]))
    assert (facts["images"], facts["inspected"]) == (None, None)
    assert server.paths == []


def test_images_and_inspected_are_read_in_check_mode_too(run, engine):
    engine(routes=CURRENT)
    args = {"images": [FLASK_IMAGE], "inspect": ["flaskapp"], "containers": True}
    checked = run(check_mode=True, **args)
    assert checked == run(**args)
    assert facts_of(checked)["images"][FLASK_IMAGE]["registry_digest"] == FLASK_DIGEST
    assert facts_of(checked)["inspected"]["flaskapp"]["status"] == "running"


# ------------------------------------------------- requests: one read for every role


def test_requests_are_read_with_the_options_each_entry_once_in_order(run, engine, paths, tmp_path, free_port):
    server = engine(routes=CURRENT)
    first, second, third = (tmp_path / name for name in ("first", "second", "third"))
    first.write_text("1\n")
    pinned = f"localhost:5000/dockerlab/flask@{FLASK_DIGEST}"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        facts = facts_of(
            run(
                users=["root"],
                files=[str(first)],
                images=[FLASK_IMAGE],
                requests=[
                    # docker_access's and flask_app's, as their vars template them.
                    {
                        "users": ["dockerlab-no-such-user", "root"],
                        "user_files": [".docker"],
                        "files": [str(second), str(first)],
                    },
                    {"images": [FLASK_IMAGE, pinned], "inspect": ["flaskapp"], "ports": [str(port)]},
                    {"files": [str(third)], "ports": [free_port, port], "images": [pinned]},
                ],
            )
        )
    assert facts["requested"] == {
        "packages": [],
        "users": ["root", "dockerlab-no-such-user"],
        "user_files": [".docker"],
        "files": [str(first), str(second), str(third)],
        "images": [FLASK_IMAGE, pinned],
        "inspect": ["flaskapp"],
        "ports": [port, free_port],
        "units": [],
        "containers": False,
        "daemon_json": str(paths["daemon_json"]),
    }
    assert list(facts["users"]) == ["root", "dockerlab-no-such-user"]
    assert facts["users"]["dockerlab-no-such-user"] is None
    # A request's user_files are read for the options' users too.
    assert list(facts["users"]["root"]["files"]) == [".docker"]
    assert list(facts["files"]) == [str(first), str(second), str(third)]
    assert facts["files"][str(first)]["exists"] is True
    assert facts["files"][str(second)] == {"exists": False}
    assert list(facts["images"]) == [FLASK_IMAGE, pinned]
    assert facts["inspected"]["flaskapp"]["status"] == "running"
    assert sorted(facts["listening"]) == sorted([str(port), str(free_port)])
    assert facts["listening"][str(port)][0]["pid"] == os.getpid()
    assert facts["listening"][str(free_port)] == []
    # Each image and container asked for once, though several asked for it.
    assert server.paths == [
        f"/images/{FLASK_IMAGE}/json",
        f"/distribution/{FLASK_IMAGE}/json",
        f"/images/{pinned}/json",
        f"/distribution/{pinned}/json",
        "/containers/flaskapp/json",
    ]


def test_the_read_covers_each_request_it_was_made_with(run, paths):
    requests = [
        {"packages": ["dpkg"], "files": ["/etc/hostname"], "daemon_json": str(paths["daemon_json"])},
        {"users": ["root"], "user_files": [".docker/ca.pem"]},
        {"containers": True, "ports": ["1337"]},
    ]
    facts = facts_of(run(requests=requests))
    for request in requests:
        assert covers(facts, request) is True
    assert covers(facts, {"users": ["nobody"]}) is False


def test_entries_of_the_wrong_type_in_a_request_are_neither_read_nor_requested(run, engine, paths):
    server = engine(routes=CURRENT)
    facts = facts_of(
        run(
            requests=[
                {
                    "users": [7, None, "", "root", ["student"]],
                    "user_files": [True, ".docker"],
                    "files": "/etc/hostname",  # not a list: nothing
                    "packages": [{"name": "dpkg"}, "dpkg"],
                    "images": [None, 1],
                    "inspect": [""],
                    "ports": ["http", 0, 70000, True, "-1", 1.5],
                    "containers": "yes",  # only true asks
                    "volumes": ["/srv"],  # no option of the module
                }
            ]
        )
    )
    assert facts["requested"] == {
        "packages": ["dpkg"],
        "users": ["root"],
        "user_files": [".docker"],
        "files": [],
        "images": [],
        "inspect": [],
        "ports": [],
        "units": [],
        "containers": False,
        "daemon_json": str(paths["daemon_json"]),
    }
    assert list(facts["users"]) == ["root"]
    assert list(facts["packages"]) == ["dpkg"]
    assert (facts["files"], facts["images"], facts["inspected"], facts["listening"]) == ({}, {}, {}, {})
    assert facts["containers"] is None
    assert server.paths == []


def test_containers_asked_for_by_a_request_are_listed(run, engine):
    server = engine()
    facts = facts_of(run(requests=[{"files": []}, {"containers": True}]))
    assert facts["requested"]["containers"] is True
    assert [c["name"] for c in facts["containers"]] == ["flaskapp", "dockerlab-registry"]
    assert server.paths == ["/containers/json?all=1"]


def test_the_options_daemon_json_is_the_one_read_and_requested(run, paths):
    # The option always names one (its default, /etc/docker/daemon.json): a
    # request's own is not read instead.
    paths["daemon_json"].write_text('{"debug": true}\n')
    facts = facts_of(run(requests=[{"daemon_json": "/dockerlab/no/such/daemon.json"}]))
    assert facts["requested"]["daemon_json"] == str(paths["daemon_json"])
    assert facts["daemon_json"]["config"] == {"debug": True}


def test_no_requests_is_a_read_of_the_options(run, paths):
    assert (
        facts_of(run(users=["root"]))["requested"] == facts_of(run(users=["root"], requests=[]))["requested"]
    )
    assert facts_of(run())["requested"] == {
        "packages": [],
        "users": [],
        "user_files": [],
        "files": [],
        "images": [],
        "inspect": [],
        "ports": [],
        "units": [],
        "containers": False,
        "daemon_json": str(paths["daemon_json"]),
    }


def test_requests_are_read_in_check_mode_too(run, engine):
    engine(routes=CURRENT)
    args = {
        "requests": [
            {"users": ["root"], "user_files": [".docker"]},
            {"images": [FLASK_IMAGE], "inspect": ["flaskapp"], "containers": True, "ports": ["1337"]},
        ]
    }
    checked = run(check_mode=True, **args)
    assert checked == run(**args)
    facts = facts_of(checked)
    assert facts["requested"]["users"] == ["root"]
    assert facts["requested"]["ports"] == [1337]
    assert facts["containers"][0]["name"] == "flaskapp"
    assert facts["images"][FLASK_IMAGE]["id"] == FLASK_IMAGE_ID


def test_the_read_says_the_daemon_has_not_restarted_since(run):
    result = run(requests=[{"containers": True}])
    assert result["ansible_facts"]["dockerlab_daemon_restarted"] is False
    assert facts_of(result, "dockerlab")["requested"]["containers"] is True


def test_addresses_leave_out_dockers_own_bridges():
    interfaces = [
        {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.0.2.7", "scope": "global"}]},
        {"ifname": "docker0", "addr_info": [{"family": "inet", "local": "172.17.0.1", "scope": "global"}]},
        {
            "ifname": "br-3f2a9c1d0e4b",
            "addr_info": [{"family": "inet", "local": "172.20.0.1", "scope": "global"}],
        },
        {"ifname": "veth1a2b3c", "addr_info": [{"family": "inet6", "local": "fd00::9", "scope": "global"}]},
    ]
    text = json.dumps(interfaces)
    assert addresses(text, ["docker*", "br-*", "veth*"]) == (["192.0.2.7"], [])
    assert addresses(text) == (["172.17.0.1", "172.20.0.1", "192.0.2.7"], ["fd00::9"])


def test_inputs_mark_is_read_from_the_header_of_a_dockerlab_file(tmp_path):
    path = tmp_path / "dockerlab-listener.conf"
    path.write_text("# Managed by Ansible\n# dockerlab-inputs: 0123abcd\n[Service]\nExecStart=\n")
    assert inputs_mark(str(path)) == "0123abcd"
    assert file_state(str(path))["inputs"] == "0123abcd"
    path.write_text("[Service]\nExecStart=\n")
    assert inputs_mark(str(path)) is None
    assert inputs_mark(str(tmp_path / "absent.conf")) is None


def _search_path(monkeypatch, *dirs):
    """Make the module look for units and drop-ins in ``dirs`` only (instead
    of systemd's unit search path, _systemd.UNIT_DIRS)."""
    dirs = tuple(str(directory) for directory in dirs)
    monkeypatch.setattr(docker_host_facts, "unit_file", lambda name: _systemd.unit_file(name, dirs))
    monkeypatch.setattr(docker_host_facts, "unit_dropins", lambda name: _systemd.unit_dropins(name, dirs))


def test_unit_state_reads_the_vendor_exec_start_and_overriding_dropins(tmp_path, monkeypatch):
    vendor = tmp_path / "lib"
    etc = tmp_path / "etc"
    vendor.mkdir()
    (etc / "docker.service.d").mkdir(parents=True)
    (vendor / "docker.service").write_text(
        "[Service]\nExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS\nRestart=always\n"
    )
    (etc / "docker.service.d" / "10-limits.conf").write_text("[Service]\nLimitNOFILE=1024\n")
    (etc / "docker.service.d" / "50-mine.conf").write_text(
        "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd\n"
    )
    _search_path(monkeypatch, etc, vendor)
    assert unit_state("docker.service") == {
        "file": str(vendor / "docker.service"),
        "exec_start": "/usr/sbin/dockerd -H fd:// $DOCKER_OPTS",
        "dropins_setting_exec_start": [str(etc / "docker.service.d" / "50-mine.conf")],
    }
    _search_path(monkeypatch, tmp_path / "none")
    assert unit_state("docker.service")["file"] is None


# ------------------------------------------------------- units' states

# `systemctl show --property=LoadState,ActiveState,UnitFileState -- docker.service
# dockerlab-authz.socket no-such.socket ssh.socket systemd-journald.socket` on a
# Debian 12 lab host (systemd 252) with the plugin's socket stopped and
# disabled by hand, as it printed it.
SHOW_OUTPUT = """\
LoadState=loaded
ActiveState=active
UnitFileState=enabled

LoadState=loaded
ActiveState=inactive
UnitFileState=disabled

LoadState=not-found
ActiveState=inactive
UnitFileState=

LoadState=masked
ActiveState=inactive
UnitFileState=masked

LoadState=loaded
ActiveState=active
UnitFileState=static
"""
SHOWN = [
    "docker.service",
    "dockerlab-authz.socket",
    "no-such.socket",
    "ssh.socket",
    "systemd-journald.socket",
]


def test_unit_states_reads_one_block_per_unit_in_order():
    assert unit_states(SHOW_OUTPUT, SHOWN) == {
        "docker.service": {"exists": True, "active": True, "enabled": True},
        "dockerlab-authz.socket": {"exists": True, "active": False, "enabled": False},
        "no-such.socket": {"exists": False, "active": False, "enabled": False},
        "ssh.socket": {"exists": True, "active": False, "enabled": False},
        "systemd-journald.socket": {"exists": True, "active": True, "enabled": True},
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        SHOW_OUTPUT.split("\n\n", 1)[1],  # a block short: a glob matched nothing
        SHOW_OUTPUT + "\nLoadState=loaded\n",  # a block too many
    ],
)
def test_unit_states_of_output_that_does_not_match_the_names_knows_nothing(text):
    unknown = {"exists": False, "active": False, "enabled": False}
    assert unit_states(text, SHOWN) == dict.fromkeys(SHOWN, unknown)


# Stand-in for systemctl: logs its arguments and prints the recorded output
# of the units it is asked about (or fails with the given status).
FAKE_SHOW = """#!{python}
import json, os, sys
fake = os.environ["DOCKERLAB_FAKE"]
with open(os.path.join(fake, "calls.log"), "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
with open(os.path.join(fake, "show.json")) as handle:
    recorded = json.load(handle)
if recorded["rc"]:
    sys.exit(recorded["rc"])
names = sys.argv[sys.argv.index("--") + 1:]
print("\\n\\n".join(recorded["blocks"][name] for name in names if name in recorded["blocks"]))
"""


@pytest.fixture
def systemctl(fake_commands):
    """A fake systemctl first on PATH; returns (record(rc=0), calls())."""
    fake = fake_commands({"systemctl": FAKE_SHOW})
    blocks = dict(zip(SHOWN, SHOW_OUTPUT.strip().split("\n\n"), strict=True))

    def record(rc=0):
        (fake / "show.json").write_text(json.dumps({"rc": rc, "blocks": blocks}))

    def calls():
        log = fake / "calls.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    record()
    return SimpleNamespace(record=record, calls=calls)


SHOW_ARGS = ["show", "--property=LoadState,ActiveState,UnitFileState", "--"]


def test_the_service_and_the_units_are_read_in_one_call(run, systemctl):
    facts = facts_of(
        run(
            service="docker.service",
            units=["dockerlab-authz.socket", "docker.service"],
            requests=[{"units": ["systemd-journald.socket", "dockerlab-authz.socket"]}],
        )
    )
    assert systemctl.calls() == [
        [*SHOW_ARGS, "docker.service", "dockerlab-authz.socket", "systemd-journald.socket"]
    ]
    assert facts["service"] == {"exists": True, "active": True, "enabled": True}
    assert facts["units"] == {
        "dockerlab-authz.socket": {"exists": True, "active": False, "enabled": False},
        "docker.service": {"exists": True, "active": True, "enabled": True},
        "systemd-journald.socket": {"exists": True, "active": True, "enabled": True},
    }
    assert facts["requested"]["units"] == [
        "dockerlab-authz.socket",
        "docker.service",
        "systemd-journald.socket",
    ]


@pytest.mark.parametrize(
    "name", ["*.socket", "docker[1].service", "a b.socket", "x" * 256 + ".socket", "--all"]
)
def test_a_name_systemd_would_read_as_a_pattern_or_an_option_is_not_asked(run, systemctl, name):
    # Asked, a glob that matches nothing prints no block and would leave the
    # service's state unknown: it is reported unknown itself instead.
    facts = facts_of(run(service="docker.service", units=[name]))
    assert systemctl.calls() == [[*SHOW_ARGS, "docker.service"]]
    assert facts["service"] == {"exists": True, "active": True, "enabled": True}
    assert facts["units"] == {name: {"exists": False, "active": False, "enabled": False}}


def test_a_failing_systemctl_leaves_every_unit_unknown(run, systemctl):
    # As on a machine not booted with systemd, like this one.
    systemctl.record(rc=1)
    facts = facts_of(run(service="docker.service", units=["dockerlab-authz.socket"]))
    unknown = {"exists": False, "active": False, "enabled": False}
    assert (facts["service"], facts["units"]) == (unknown, {"dockerlab-authz.socket": unknown})


def test_units_are_read_in_check_mode_too(run, systemctl):
    args = {"service": "docker.service", "units": ["dockerlab-authz.socket"]}
    assert run(check_mode=True, **args) == run(**args)
    assert len(systemctl.calls()) == 2


# ------------------------------------------------------- listening ports


def test_listening_reports_the_owner_of_a_listening_socket_and_a_free_port(run, free_port):
    comm = _comm()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port != free_port
        listening = facts_of(run(ports=[port, free_port]))["listening"]
    assert listening == {
        str(port): [{"address": "127.0.0.1", "process": comm, "pid": os.getpid()}],
        str(free_port): [],
    }


def test_listening_reports_ipv6_sockets_too(run):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    with socket.socket(socket.AF_INET6) as sock:
        try:
            sock.bind(("::1", 0))
        except OSError as exc:
            pytest.skip(f"no IPv6 loopback here: {exc}")
        sock.listen()
        port = sock.getsockname()[1]
        listening = facts_of(run(ports=[port]))["listening"]
    assert listening == {str(port): [{"address": "::1", "process": _comm(), "pid": os.getpid()}]}


def test_listening_counts_a_port_asked_twice_once(run, free_port):
    assert facts_of(run(ports=[free_port, free_port]))["listening"] == {str(free_port): []}


def test_listening_is_read_in_check_mode_too(run):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        checked = facts_of(run(ports=[port], check_mode=True))["listening"]
    assert checked[str(port)][0]["pid"] == os.getpid()


# ------------------------------------------------------------ proc_sys_writable


def _read_only_mount():
    """A mount point of this machine that /proc/self/mountinfo marks read-only
    (in the mount's or the file system's options), /proc and /sys first; None
    when there is none."""
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            separator = fields.index("-")
            # Spaces and the like are octal escapes in mountinfo (\040).
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            options = fields[5].split(",") + fields[separator + 3].split(",")
            if "ro" in options and os.path.isdir(point):
                found.append((not point.startswith(("/proc/", "/sys/")), point))
    return min(found)[1] if found else None


def test_proc_sys_writable_of_this_machine_matches_statvfs():
    writable = proc_sys_writable()
    assert isinstance(writable, bool)
    assert writable is not bool(os.statvfs("/proc/sys").f_flag & os.ST_RDONLY)
    assert proc_sys_writable("/proc/sys") is writable


def test_proc_sys_writable_of_a_missing_path_is_none(tmp_path):
    assert proc_sys_writable(str(tmp_path / "no-such-dir")) is None


def test_proc_sys_writable_of_a_writable_directory_is_true(tmp_path):
    assert proc_sys_writable(str(tmp_path)) is True


def test_proc_sys_writable_of_a_read_only_mount_is_false():
    point = _read_only_mount()
    if point is None:
        pytest.skip("no read-only mount on this machine")
    assert os.statvfs(point).f_flag & os.ST_RDONLY, point
    assert proc_sys_writable(point) is False

"""plugins/module_utils/_listener: dockerd's TCP listener, one set of rules
for docker_daemon_listener (which writes it), docker_host_facts and
docker_host_audit (which read it back) and the filters access_checks and
access_plan (which decide on the controller): valid addresses and ports,
Docker's port convention, the flags on dockerd's command line, and the hash
of the inputs the drop-in is derived from."""

import json

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import (
    DEFAULT_PORTS,
    DROPIN_NAME,
    INPUTS_MARK,
    RESERVED_KEYS,
    address_error,
    command_listeners,
    daemon_flags,
    flags,
    inputs_hash,
    is_loopback,
    listen_url,
    local_address,
    port_error,
    read_inputs_mark,
    split_tcp,
    tcp_or_tls_flags,
    tcp_port,
    tls_paths,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import split_command
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli

ANY_IPV4 = "0.0.0.0"  # noqa: S104 - an address under test; nothing binds to it here
VENDOR_EXEC = "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"


def test_the_constants():
    assert DROPIN_NAME == "dockerlab-listener"
    assert DEFAULT_PORTS == {"tls": 2376, "insecure": 2375}
    assert INPUTS_MARK == "# dockerlab-inputs: "
    assert RESERVED_KEYS == ("hosts", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey")


# --- addresses and ports: what docker_daemon_listener and access_checks accept --------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (ANY_IPV4, None),
        ("::1", None),
        ("[::1]", None),
        ("host.example.", None),
        ("a" * 63, None),
        ("a" * 64, f"'{'a' * 64}' is neither an IP address nor a valid host name"),
        (
            ".".join(["a" * 60] * 5),
            f"'{'.'.join(['a' * 60] * 5)}' is neither an IP address nor a valid host name",
        ),
        ("256.0.0.1", "'256.0.0.1' is not a valid IPv4 address"),
        ("fe80:::1", "'fe80:::1' is not a valid IPv6 address"),
    ],
)
def test_address_error(address, expected):
    assert address_error(address) == expected


@pytest.mark.parametrize(
    ("address", "port", "url"),
    [
        (ANY_IPV4, 2376, "tcp://0.0.0.0:2376"),
        ("::", 1, "tcp://[::]:1"),
        ("[fd00::1]", 2375, "tcp://[fd00::1]:2375"),
    ],
)
def test_listen_url(address, port, url):
    assert listen_url(address, port) == url


def test_address_error_reads_what_is_not_a_string_as_text():
    assert address_error(None) == "the address is empty"
    assert address_error(12) == "'12' is not a valid IPv4 address"


@pytest.mark.parametrize("port", [1, 2375, 65535, "2376", " 2376 "])
def test_port_error_accepts_a_tcp_port_as_int_or_digits(port):
    assert port_error(port) is None


@pytest.mark.parametrize("port", [0, -1, 65536, "70000", "abc", "", None, True, 2376.0])
def test_port_error_names_what_is_not_a_tcp_port(port):
    assert port_error(port) == f"'{port}' is not a TCP port from 1 to 65535"


@pytest.mark.parametrize(
    ("mode", "port", "expected"),
    [
        ("tls", None, 2376),
        ("insecure", "", 2375),
        ("off", None, 2376),
        ("tls", 2377, 2377),
        ("tls", "2377", "2377"),
    ],
)
def test_the_port_is_the_variable_or_dockers_convention(mode, port, expected):
    assert tcp_port(mode, port) == expected


@pytest.mark.parametrize(
    ("address", "local"),
    [(ANY_IPV4, "127.0.0.1"), ("::", "127.0.0.1"), ("[::]", "127.0.0.1"), ("[::1]", "::1"), ("lab1", "lab1")],
)
def test_local_address(address, local):
    assert local_address(address) == local


# --- dockerd's command line: what the drop-in adds, what audits read back -------------------


def test_flags_in_mode_tls_verify_clients_with_the_ca():
    ca, cert, key = tls_paths("/etc/docker/tls")
    assert (ca, cert, key) == (
        "/etc/docker/tls/ca.pem",
        "/etc/docker/tls/server-cert.pem",
        "/etc/docker/tls/server-key.pem",
    )
    assert flags("tls", "::", 2376, ca, cert, key) == [
        "-H",
        "tcp://[::]:2376",
        "--tlsverify",
        "--tlscacert=/etc/docker/tls/ca.pem",
        "--tlscert=/etc/docker/tls/server-cert.pem",
        "--tlskey=/etc/docker/tls/server-key.pem",
    ]


def test_flags_in_mode_insecure_turn_tls_off_explicitly():
    # Docker 26+ waits 15 s at start (and 29 will refuse) without --tls=false.
    assert flags("insecure", ANY_IPV4, 2375, "a", "b", "c") == ["-H", "tcp://0.0.0.0:2375", "--tls=false"]


@pytest.mark.parametrize(
    ("command", "found"),
    [
        (VENDOR_EXEC, []),
        ("/usr/bin/dockerd -H unix:///var/run/docker.sock", []),
        ("/usr/bin/dockerd --tls --tlskey=/k.pem", ["--tls", "--tlskey=/k.pem"]),
        ("/usr/bin/dockerd -H tcp://0.0.0.0:2375 -H fd://", ["tcp://0.0.0.0:2375"]),
    ],
)
def test_tcp_or_tls_flags(command, found):
    assert tcp_or_tls_flags(split_command(command)[1]) == found


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"],
            {"hosts": ["fd://"], "tls": False, "tlsverify": False},
        ),
        (
            ["dockerd", "-H=tcp://0.0.0.0:2375"],
            {"hosts": ["tcp://0.0.0.0:2375"], "tls": False, "tlsverify": False},
        ),
        (
            ["dockerd", "--host", "tcp://127.0.0.1:2375", "--host=unix:///var/run/docker.sock"],
            {
                "hosts": ["tcp://127.0.0.1:2375", "unix:///var/run/docker.sock"],
                "tls": False,
                "tlsverify": False,
            },
        ),
        (
            [
                "/usr/sbin/dockerd",
                "-H",
                "fd://",
                "--containerd=/run/containerd/containerd.sock",
                "-H",
                "tcp://0.0.0.0:2376",
                "--tlsverify",
                "--tlscacert=/etc/docker/tls/ca.pem",
                "--tlscert",
                "/etc/docker/tls/server-cert.pem",
                "--tlskey=/etc/docker/tls/server-key.pem",
            ],
            {
                "hosts": ["fd://", "tcp://0.0.0.0:2376"],
                "tls": False,
                "tlsverify": True,
                "tlscacert": "/etc/docker/tls/ca.pem",
                "tlscert": "/etc/docker/tls/server-cert.pem",
                "tlskey": "/etc/docker/tls/server-key.pem",
            },
        ),
        (
            ["dockerd", "--tls", "-H", "tcp://0.0.0.0:2376"],
            {"hosts": ["tcp://0.0.0.0:2376"], "tls": True, "tlsverify": False},
        ),
        (["dockerd", "--tlsverify=false"], {"hosts": [], "tls": False, "tlsverify": False}),
        (["dockerd", "--tlsverify=0"], {"hosts": [], "tls": False, "tlsverify": False}),
        (["dockerd", "--tlsverify=true"], {"hosts": [], "tls": False, "tlsverify": True}),
        (["dockerd", "--tls=FALSE", "--tlsverify"], {"hosts": [], "tls": False, "tlsverify": True}),
        (
            ["dockerd", "--tlscacert", "/etc/docker/ca.pem"],
            {"hosts": [], "tls": False, "tlsverify": False, "tlscacert": "/etc/docker/ca.pem"},
        ),
        (["dockerd", "--pidfile", "/var/run/docker.pid"], {"hosts": [], "tls": False, "tlsverify": False}),
    ],
)
def test_daemon_flags(argv, expected):
    assert daemon_flags(argv) == expected


# --- command_listeners: the listeners of a command line, TLS from its flags or daemon.json ------

LISTENER_ARGV = split_command(
    f"{VENDOR_EXEC} -H tcp://0.0.0.0:2376 --tlsverify --tlscacert=/etc/docker/tls/ca.pem"
    " --tlscert=/etc/docker/tls/server-cert.pem --tlskey=/etc/docker/tls/server-key.pem"
)[1]


def test_command_listeners_of_the_listeners_drop_in():
    source = "docker.service and its drop-ins"
    flags_found = daemon_flags(LISTENER_ARGV)
    assert command_listeners(LISTENER_ARGV, {}, source) == [
        {"url": "fd://", "source": source, "tls": True, "tlsverify": True, "flags": flags_found},
        {"url": "tcp://0.0.0.0:2376", "source": source, "tls": True, "tlsverify": True, "flags": flags_found},
    ]


def test_command_listeners_of_the_vendor_unit_is_its_socket_without_tls():
    assert command_listeners(split_command(VENDOR_EXEC)[1], {}, "the running dockerd") == [
        {
            "url": "fd://",
            "source": "the running dockerd",
            "tls": False,
            "tlsverify": False,
            "flags": {"hosts": ["fd://"], "tls": False, "tlsverify": False},
        }
    ]


@pytest.mark.parametrize(
    ("argv", "config", "tls", "tlsverify"),
    [
        (["dockerd", "-H", "tcp://0.0.0.0:2375"], {}, False, False),
        (["dockerd", "-H", "tcp://0.0.0.0:2376", "--tls"], {}, True, False),
        (["dockerd", "-H", "tcp://0.0.0.0:2376", "--tlsverify"], {}, True, True),
        (["dockerd", "-H", "tcp://0.0.0.0:2376", "--tlsverify=false"], {}, False, False),
        # daemon.json's settings hold for the command line's listeners too.
        (["dockerd", "-H", "tcp://0.0.0.0:2376"], {"tls": True}, True, False),
        (["dockerd", "-H", "tcp://0.0.0.0:2376"], {"tlsverify": True}, True, True),
        (["dockerd", "-H", "tcp://0.0.0.0:2376", "--tls"], {"tlsverify": True}, True, True),
        (["dockerd", "-H", "tcp://0.0.0.0:2376"], {"tls": False, "tlsverify": False}, False, False),
        (["dockerd", "-H", "tcp://0.0.0.0:2376", "--tlsverify"], {"tlsverify": False}, True, True),
        (["dockerd", "-H", "tcp://0.0.0.0:2375"], {"debug": True}, False, False),
    ],
)
def test_command_listeners_take_tls_from_the_flags_or_daemon_json(argv, config, tls, tlsverify):
    (found,) = command_listeners(argv, config, "src")
    assert (found["url"], found["tls"], found["tlsverify"]) == (argv[2], tls, tlsverify)
    assert found["flags"] == daemon_flags(argv)


def test_command_listeners_one_per_host_in_their_order():
    argv = ["dockerd", "-H", "unix:///var/run/docker.sock", "--host=tcp://[::1]:2376", "-H=0.0.0.0:2375"]
    found = command_listeners(argv, {"tlsverify": True}, "unit")
    assert [item["url"] for item in found] == [
        "unix:///var/run/docker.sock",
        "tcp://[::1]:2376",
        "0.0.0.0:2375",
    ]
    assert {(item["source"], item["tls"], item["tlsverify"]) for item in found} == {("unit", True, True)}


@pytest.mark.parametrize("argv", [None, [], ["dockerd"], ["dockerd", "--tlsverify"]], ids=repr)
def test_command_listeners_of_a_command_line_without_hosts_is_empty(argv):
    assert command_listeners(argv, {"tlsverify": True}, "unit") == []


def test_command_listeners_leave_daemon_jsons_own_hosts_to_the_caller():
    assert command_listeners(["dockerd"], {"hosts": ["tcp://0.0.0.0:2376"], "tlsverify": True}, "x") == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("tcp://0.0.0.0:2375", (ANY_IPV4, "2375")),
        ("tcp://127.0.0.1:2376", ("127.0.0.1", "2376")),
        ("tcp://[::]:2376", ("::", "2376")),
        ("tcp://[::1]:2375", ("::1", "2375")),
        ("tcp://[::1]", ("::1", "2375")),
        ("tcp://docker.example.com:2376", ("docker.example.com", "2376")),
        ("tcp://docker.example.com", ("docker.example.com", "2375")),
        ("tcp://0.0.0.0", (ANY_IPV4, "2375")),
        ("tcp://0.0.0.0:2375/", (ANY_IPV4, "2375")),
        # dockerd reads an address without a scheme as TCP, and an empty host as localhost.
        ("0.0.0.0:2375", (ANY_IPV4, "2375")),
        ("tcp://:2375", ("localhost", "2375")),
        (":2376", ("localhost", "2376")),
        ("tcp://", ("localhost", "2375")),
    ],
)
def test_split_tcp(url, expected):
    assert split_tcp(url) == expected


@pytest.mark.parametrize(
    "url", ["fd://", "unix:///var/run/docker.sock", "npipe:////./pipe/docker_engine", "ssh://me@host", ""]
)
def test_split_tcp_ignores_other_schemes(url):
    assert split_tcp(url) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        (ANY_IPV4, False),
        ("::", False),
        ("192.168.1.10", False),
        ("fe80::1", False),
        ("docker.example.com", False),
    ],
)
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


# --- the hash of the inputs the drop-in is derived from -------------------------------------


def test_inputs_hash_is_what_ansibles_to_json_and_hash_give(tmp_path):
    """The hash was computed with Ansible's filters before it moved into
    Python; drop-ins on hosts carry hashes made that way, and a different one
    would rewrite them all: both must agree byte for byte."""
    args = [
        "tls",
        "0.0.0.0",  # noqa: S104 - an address string, nothing binds here
        2376,
        "/etc/docker/tls/ca.pem",
        "/etc/docker/tls/server-cert.pem",
        "/etc/docker/tls/server-key.pem",
        "/lib/systemd/system/docker.service",
        "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS",
    ]
    stdout = ansible_cli.debug(json.dumps(args) + " | to_json | hash('sha256')", temp=tmp_path)
    assert f"msg: <{inputs_hash(*args)}>" in stdout, stdout


def test_the_hash_reads_the_port_as_a_number():
    assert inputs_hash("tls", "::1", "2376", "a", "b", "c", "u", "x") == inputs_hash(
        "tls", "::1", 2376, "a", "b", "c", "u", "x"
    )
    assert inputs_hash("tls", "::1", 2376, "a", "b", "c", "u", "x") != inputs_hash(
        "tls", "::1", 2377, "a", "b", "c", "u", "x"
    )


def test_the_hash_is_read_back_from_the_first_lines_only():
    digest = inputs_hash("tls", ANY_IPV4, 2376, *tls_paths("/t"), "/lib/u", VENDOR_EXEC)
    header = f"# Managed by Ansible\n{INPUTS_MARK}{digest}  \n[Service]\n"
    assert read_inputs_mark(header) == digest
    assert read_inputs_mark("\n" * 5 + header) is None
    assert read_inputs_mark("[Service]\nExecStart=\n") is None
    assert read_inputs_mark(None) is None


# --- listeners systemd holds for dockerd (socket units) ----------------------------


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("/run/docker.sock", None),
        ("@docker", None),
        ("", None),
        ("2375", "tcp://[::]:2375"),
        ("0.0.0.0:2376", "tcp://0.0.0.0:2376"),
        ("127.0.0.1:2375", "tcp://127.0.0.1:2375"),
        ("[::1]:2376", "tcp://[::1]:2376"),
        ("vsock:2:1234", None),
    ],
)
def test_stream_url(listen, url):
    from ansible_collections.dockerlab.docker.plugins.module_utils._listener import stream_url

    assert stream_url(listen) == url


SOCKETS = [("docker.socket", ["/run/docker.sock", "0.0.0.0:2375"])]


@pytest.mark.parametrize(
    ("argv", "config", "expected"),
    [
        # The insecure lab through systemd: no TLS anywhere.
        (["dockerd", "-H", "fd://"], {}, [("tcp://0.0.0.0:2375", False, False)]),
        # TLS flags on dockerd's command line wrap the socket it gets from systemd.
        (
            ["dockerd", "-H", "fd://", "--tlsverify", "--tlscacert=/c", "--tlscert=/s", "--tlskey=/k"],
            {},
            [("tcp://0.0.0.0:2375", True, True)],
        ),
        (["dockerd", "-H", "fd://"], {"tlsverify": True}, [("tcp://0.0.0.0:2375", True, True)]),
        (["dockerd", "-H", "fd://", "--tls"], {}, [("tcp://0.0.0.0:2375", True, False)]),
        # dockerd takes no socket from systemd: the socket's TCP stream is not its listener.
        (["dockerd", "-H", "unix:///run/docker.sock"], {}, []),
        (["dockerd"], {"hosts": ["fd://"]}, [("tcp://0.0.0.0:2375", False, False)]),
        (None, {}, []),
    ],
)
def test_socket_listeners(argv, config, expected):
    from ansible_collections.dockerlab.docker.plugins.module_utils._listener import socket_listeners

    found = socket_listeners(SOCKETS, argv, config)
    assert [(item["url"], item["tls"], item["tlsverify"]) for item in found] == expected
    assert all(item["source"] == "docker.socket (systemd)" for item in found)

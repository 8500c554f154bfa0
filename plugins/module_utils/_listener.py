# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockerd's TCP listener: which addresses and ports are valid, how a
listener is written on dockerd's command line and read back from one, and
the hash of the inputs its drop-in is derived from.

Private to this collection: docker_daemon_listener writes the drop-in,
docker_host_facts reads its hash back, docker_host_audit and
docker_daemon_restart read listeners from command lines, and the filters
access_checks and access_plan decide on the controller with the same rules.
Standard library only.
"""

import hashlib
import ipaddress
import json
import re

# The drop-in docker_daemon_listener writes (its default name and unit),
# and the socket unit of the same name that holds a listener for dockerd.
DROPIN_NAME = "dockerlab-listener"
# Who holds the listening socket: systemd (a socket unit hands it to dockerd,
# so connections made while dockerd restarts wait), dockerd (-H tcp://, it
# closes while dockerd restarts), or auto: systemd where the address is an IP
# address (systemd's ListenStream= takes no host name), else dockerd.
HOLDERS = ("auto", "systemd", "dockerd")
# Docker's convention for the port of each listener mode.
DEFAULT_PORTS = {"tls": 2376, "insecure": 2375}
# The daemon.json keys that set what the listener's flags set: dockerd
# refuses to start when a directive is given both ways.
RESERVED_KEYS = ("hosts", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey")
# What the header line of the drop-in says before the inputs' hash.
INPUTS_MARK = "# dockerlab-inputs: "

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_TLS_FLAGS = ("--tlsverify", "--tls", "--tlscacert", "--tlscert", "--tlskey")
# Addresses that mean "every interface", and where a local client reaches them.
WILDCARDS = ("0.0.0.0", "::", "[::]")  # noqa: S104 - compared, nothing binds here


def address_error(address):
    """None when ``address`` is an IPv4 or IPv6 address (also in brackets)
    or a valid host name, else why not."""
    address = "" if address is None else str(address)
    if not address:
        return "the address is empty"
    candidate = address[1:-1] if address.startswith("[") and address.endswith("]") else address
    try:
        ipaddress.ip_address(candidate)
        return None
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", address):
        return f"'{address}' is not a valid IPv4 address"
    if ":" in address:
        return f"'{address}' is not a valid IPv6 address"
    name = address[:-1] if address.endswith(".") else address
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        return f"'{address}' is neither an IP address nor a valid host name"
    return None


def is_ip(address):
    """Whether ``address`` is an IPv4 or IPv6 address (also in brackets)."""
    try:
        ipaddress.ip_address(str(address).strip("[]"))
    except ValueError:
        return False
    return True


def holder(held_by, address):
    """Who holds the listening socket for ``held_by`` (one of HOLDERS):
    "systemd" or "dockerd"; auto is systemd for an IP address."""
    if held_by == "auto":
        return "systemd" if is_ip(address) else "dockerd"
    return held_by


def holder_error(held_by, address):
    """None when ``held_by`` can hold a listener on ``address``, else why not."""
    if held_by not in HOLDERS:
        return f"'{held_by}' is not one of {', '.join(HOLDERS)}"
    if held_by == "systemd" and not is_ip(address):
        return (
            f"'{address}' is a host name, and systemd's ListenStream= takes only an IP address: "
            "give the address it resolves to, or let dockerd hold the listener (dockerd, or auto)"
        )
    return None


def listen_stream(address, port):
    """A socket unit's ListenStream= for ``address`` and ``port``:
    ADDRESS:PORT, an IPv6 address in brackets."""
    return listen_url(address, port)[len("tcp://") :]


def port_error(port):
    """None when ``port`` is a TCP port (an int, or a string of digits as
    -e gives it) from 1 to 65535, else why not."""
    try:
        number = None if isinstance(port, bool) else int(str(port).strip())
    except ValueError:
        number = None
    if number is None or not 1 <= number <= 65535:
        return f"'{port}' is not a TCP port from 1 to 65535"
    return None


def tcp_port(mode, port):
    """``port``, or Docker's convention for the listener ``mode`` (2376 with
    TLS, 2375 without) where it is empty."""
    if port is None or str(port) == "":
        return DEFAULT_PORTS.get(mode, DEFAULT_PORTS["tls"])
    return port


def listen_url(address, port):
    """tcp://ADDRESS:PORT, an IPv6 address in brackets."""
    host = str(address).strip("[]")
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"tcp://{host}:{port}"


def local_address(address):
    """Where a client on the host itself reaches a listener on ``address``:
    127.0.0.1 for a wildcard, else the address (without brackets)."""
    return "127.0.0.1" if address in WILDCARDS else str(address).strip("[]")


def overlaps(address, other):
    """Whether listening sockets on ``address`` and ``other`` (IP addresses,
    also in brackets) would take the same port: one is a wildcard (every
    address), or they are the same address."""
    address, other = str(address).strip("[]"), str(other).strip("[]")
    return address in WILDCARDS or other in WILDCARDS or address == other


def tls_paths(tls_dir):
    """The daemon's CA, certificate and key in ``tls_dir``."""
    return (f"{tls_dir}/ca.pem", f"{tls_dir}/server-cert.pem", f"{tls_dir}/server-key.pem")


# Flags a mode adds whatever its inputs. Docker 26 and newer, given a
# tcp:// host without TLS, log a deprecation notice, wait 15 s on purpose
# and say the next release will refuse to start unless TLS is turned off
# explicitly; --tls=false says so (Docker 20.10 accepts it too). The role
# runs docker_daemon_listener on every run in mode insecure, and the module
# compares the whole drop-in, so one written before these flags is written
# again.
MODE_FLAGS = {"insecure": ["--tls=false"]}


def flags(mode, address, port, ca, cert, key, held="dockerd"):
    """dockerd's flags for the listener (TLS flags in mode tls, TLS turned
    off explicitly in mode insecure). A listener systemd holds is no -H
    host: dockerd takes it with the vendor unit's -H fd:// and wraps it in
    TLS with the same flags."""
    args = [] if held == "systemd" else ["-H", listen_url(address, port)]
    args += MODE_FLAGS.get(mode, [])
    if mode == "tls":
        args += ["--tlsverify", f"--tlscacert={ca}", f"--tlscert={cert}", f"--tlskey={key}"]
    return args


def inputs_hash(mode, address, port, ca, cert, key, vendor_path, vendor_exec_start, held="dockerd"):
    """sha256 of everything the drop-in is derived from, as a JSON list.

    docker_daemon_listener writes it into the drop-in's header (and the
    socket unit's), so that a caller can tell from the files alone
    (docker_host_facts reads it back) whether they are still what the module
    would write. ``held`` is holder()'s answer; a dockerd-held listener
    keeps the hash it had before systemd could hold one."""
    data = [mode, address, int(port), ca, cert, key, vendor_path, vendor_exec_start]
    if held != "dockerd":
        data.append(held)
    return hashlib.sha256(json.dumps(data).encode("utf-8")).hexdigest()


def read_inputs_mark(text):
    """The hash after INPUTS_MARK in the first lines of ``text``, or None."""
    for line in (text or "").splitlines()[:5]:
        if line.startswith(INPUTS_MARK):
            return line[len(INPUTS_MARK) :].strip()
    return None


def daemon_flags(argv):
    """The -H hosts and TLS flags of a dockerd command line:
    {"hosts": [...], "tls": bool, "tlsverify": bool, "tlscacert": ..., ...}."""
    found = {"hosts": [], "tls": False, "tlsverify": False}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in ("-H", "--host"):
            if not eq and i + 1 < len(argv):
                value = argv[i + 1]
                i += 1
            found["hosts"].append(value)
        elif name in ("--tls", "--tlsverify"):
            found[name[2:]] = value.lower() not in ("false", "0") if eq else True
        elif name in ("--tlscacert", "--tlscert", "--tlskey"):
            if not eq and i + 1 < len(argv):
                value = argv[i + 1]
                i += 1
            found[name[2:]] = value
        i += 1
    return found


def command_listeners(argv, config, source):
    """The listeners a dockerd command line makes, as [{"url", "source",
    "tls", "tlsverify", "flags"}]: its -H hosts, with TLS from its flags or
    from daemon.json's settings (``config``); ``source`` says where the
    command line comes from."""
    given = daemon_flags(argv or [])
    verify = given["tlsverify"] or bool(config.get("tlsverify"))
    tls = given["tls"] or bool(config.get("tls")) or verify
    return [
        {"url": url, "source": source, "tls": tls, "tlsverify": verify, "flags": given}
        for url in given["hosts"]
    ]


def tcp_or_tls_flags(argv):
    """The TCP listeners and TLS flags a command line already has."""
    found = [a for a in argv if a.split("=", 1)[0] in _TLS_FLAGS]
    for i, arg in enumerate(argv[:-1]):
        if arg in ("-H", "--host") and argv[i + 1].startswith("tcp://"):
            found.append(argv[i + 1])
    found += [a.split("=", 1)[1] for a in argv if a.startswith(("-H=tcp://", "--host=tcp://"))]
    return found


def split_tcp(url):
    """(host, port) of tcp://HOST:PORT, or None for other schemes. Like
    dockerd, an address without a scheme is TCP and an empty host is localhost."""
    if url and "://" not in url:
        url = "tcp://" + url
    if not url.startswith("tcp://"):
        return None
    rest = url[len("tcp://") :].split("/", 1)[0]
    if rest.startswith("["):
        host, _bracket, port = rest[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _colon, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    return host or "localhost", port or "2375"


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def stream_url(listen):
    """The tcp:// URL of a socket unit's ListenStream= value, or None for a
    Unix socket (a path, or @ for the abstract namespace). A port alone
    listens on every address (systemd binds [::] for both IPv4 and IPv6)."""
    listen = (listen or "").strip()
    if not listen or listen.startswith(("/", "@")):
        return None
    if listen.isdecimal():
        return f"tcp://[::]:{listen}"
    if listen.startswith("[") or listen.count(":") == 1:
        return f"tcp://{listen}"
    return None  # vsock:, a netlink family, ...: not a TCP listener


def socket_listeners(sockets, argv, config):
    """The TCP listeners systemd holds for dockerd, as command_listeners
    gives them: each TCP ListenStream= of ``sockets`` ([(unit, [values])],
    _systemd.service_sockets), where dockerd takes its sockets from systemd
    (an fd:// host), with TLS as dockerd wraps them (its TLS flags, or
    daemon.json's)."""
    given = daemon_flags(argv or [])
    hosts = given["hosts"] or list(config.get("hosts") or [])
    if not any(str(host).startswith("fd://") for host in hosts):
        return []
    verify = given["tlsverify"] or bool(config.get("tlsverify"))
    tls = given["tls"] or bool(config.get("tls")) or verify
    return [
        {"url": url, "source": f"{unit} (systemd)", "tls": tls, "tlsverify": verify, "flags": given}
        for unit, streams in sockets
        for url in map(stream_url, streams)
        if url
    ]

#!/usr/bin/python
# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docker_daemon_listener
short_description: Make dockerd listen on TCP through a systemd drop-in, with mutual TLS by default
description:
  - "Writes C(/etc/systemd/system/<unit>.d/<name>.conf), a drop-in that clears
    C(ExecStart=) and sets a new one: the command line of the installed vendor
    unit (its binary, C(-H fd://), C(--containerd=...) and every other flag, read
    from the unit file, never hard-coded) plus, in O(mode=tls),
    C(--tlsverify --tlscacert --tlscert --tlskey)."
  - "B(Who holds the listening socket.) With O(held_by=systemd) (what
    O(held_by=auto) picks for an IP address) the module also writes a socket
    unit of its own, C(<systemd_dir>/<name>.socket) (C(ListenStream=ADDRESS:PORT),
    C(Service=<unit>)), and the drop-in makes the daemon's unit take its socket
    (C(Sockets=), C(Requires=), C(After=)). dockerd takes it with the vendor
    unit's C(-H fd://) and wraps it in TLS with the same flags, as it does
    with a C(-H tcp://) listener. systemd keeps the socket listening while
    dockerd restarts: connections made then wait instead of being refused."
  - With O(held_by=dockerd) (what O(held_by=auto) picks for a host name, which
    C(ListenStream=) cannot take) the drop-in adds C(-H tcp://ADDRESS:PORT) to
    the command line instead, and dockerd opens the socket itself; it refuses
    connections while dockerd restarts. The socket unit is removed.
  - Like Debian's C(docker.socket) for the Unix socket, the socket unit keeps
    listening when the daemon is stopped, and a connection to it starts the
    daemon again.
  - The vendor units (C(docker.service), C(docker.socket)) are never edited,
    so package upgrades keep working and C(dpkg --verify) stays clean.
  - O(mode=insecure) opens the Docker API without any authentication. Anyone
    who can reach the port is root on the host. It is refused unless
    O(insecure_acknowledged=true), and then it warns. Only for deliberately
    vulnerable breakout labs. The command line says C(--tls=false) explicitly,
    without which Docker 26 and newer log a deprecation notice and wait 15
    seconds at every start for a C(-H tcp://) listener (Docker 20.10 accepts
    the flag too).
  - O(mode=absent) removes the drop-in and the socket unit.
  - Refuses an address that is not an IPv4 or IPv6 address or a host name, a
    host name with O(held_by=systemd), and a port outside 1-65535, naming the
    bad value. Refuses a port another program already listens on (on the
    same address, or either on every address), naming the program, since
    neither the socket unit nor dockerd could bind it.
  - Refuses to write when another drop-in of the unit also sets C(ExecStart=),
    since one of the two would silently win.
  - Before changing either file, saves its previous version in the rollback
    stash (see M(dockerlab.docker.docker_daemon_restart), which also stops the
    daemon while a changed socket unit starts, and hands a listener over
    from dockerd to systemd without refusing a connection).
  - Does not reload systemd or restart the daemon; returns
    RV(daemon_reload_needed) and expects a handler running
    M(dockerlab.docker.docker_daemon_restart).
  - Only the Python standard library is needed on the managed host.
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
options:
  mode:
    description:
      - V(tls) listens with mutual TLS (clients need a certificate from the CA).
      - V(insecure) listens with no authentication at all (needs O(insecure_acknowledged)).
      - V(absent) removes the drop-in; the daemon keeps only its vendor listeners.
    type: str
    choices: [tls, insecure, absent]
    default: tls
  address:
    description: Address to listen on (IPv4, IPv6 or a host name). V(0.0.0.0) is every IPv4 interface.
    type: str
    default: 0.0.0.0
  port:
    description: TCP port to listen on, 1-65535. Docker's conventions are 2376 for TLS and 2375 without.
    type: int
    default: 2376
  tls_ca_cert:
    description: CA certificate that client certificates must chain to. Required with O(mode=tls).
    type: path
  tls_cert:
    description: The daemon's server certificate. Required with O(mode=tls).
    type: path
  tls_key:
    description: The daemon's private key. Required with O(mode=tls).
    type: path
  held_by:
    description:
      - V(systemd) holds the listening socket in a socket unit and hands it to
        dockerd, so that it keeps accepting while dockerd restarts; it needs
        an IP address in O(address).
      - V(dockerd) lets dockerd open it (C(-H tcp://)); it refuses connections
        while dockerd restarts.
      - V(auto) is V(systemd) for an IP address and V(dockerd) for a host name.
    type: str
    choices: [auto, systemd, dockerd]
    default: auto
  insecure_acknowledged:
    description: Must be V(true) for O(mode=insecure), as a written acknowledgement of the risk.
    type: bool
    default: false
  name:
    description: File name of the drop-in without C(.conf), and of the socket unit without C(.socket).
    type: str
    default: dockerlab-listener
  unit:
    description: The systemd unit of the daemon.
    type: str
    default: docker.service
  vendor_unit_path:
    description:
      - The installed unit file to take the command line from. By default the
        one systemd loads, the first that exists of C(<systemd_dir>/<unit>) and
        the rest of systemd's unit search path (C(/run/systemd/system),
        C(/usr/local/lib/systemd/system), C(/lib/systemd/system),
        C(/usr/lib/systemd/system)).
    type: path
  systemd_dir:
    description: Where the drop-in directory C(<unit>.d) and the socket unit live.
    type: path
    default: /etc/systemd/system
  stash_dir:
    description: Directory of the rollback stash shared with M(dockerlab.docker.docker_daemon_restart).
    type: path
    default: /var/lib/dockerlab/rollback
attributes:
  check_mode:
    support: full
    description: Validates and reports what would change without writing.
  diff_mode:
    support: full
    description: The text of the drop-in and of the socket unit, before and after.
  platform:
    platforms: posix
    support: full
    description: Linux hosts with systemd and Docker (Debian 12 and 13 are tested).
"""

EXAMPLES = r"""
- name: Listen on every interface with mutual TLS
  dockerlab.docker.docker_daemon_listener:
    mode: tls
    address: 0.0.0.0
    port: 2376
    tls_ca_cert: /etc/docker/tls/ca.pem
    tls_cert: /etc/docker/tls/server-cert.pem
    tls_key: /etc/docker/tls/server-key.pem
  notify: docker_engine_restart

- name: Listen on a name dockerd resolves (dockerd holds the socket and refuses connections while it restarts)
  dockerlab.docker.docker_daemon_listener:
    address: docker.lab.example
    held_by: dockerd
    tls_ca_cert: /etc/docker/tls/ca.pem
    tls_cert: /etc/docker/tls/server-cert.pem
    tls_key: /etc/docker/tls/server-key.pem
  notify: docker_engine_restart

- name: A deliberately vulnerable breakout lab (anyone who reaches 2375 is root)
  dockerlab.docker.docker_daemon_listener:
    mode: insecure
    port: 2375
    insecure_acknowledged: true

- name: No TCP listener
  dockerlab.docker.docker_daemon_listener:
    mode: absent
"""

RETURN = r"""
path:
  description: The drop-in file.
  returned: always
  type: str
  sample: /etc/systemd/system/docker.service.d/dockerlab-listener.conf
exec_start:
  description: The ExecStart= the drop-in sets (empty with O(mode=absent)).
  returned: always
  type: str
  sample: >-
    /usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock
    --tlsverify --tlscacert=/etc/docker/tls/ca.pem ...
socket_path:
  description: The socket unit that holds the listener; empty when dockerd holds it or there is none.
  returned: always
  type: str
  sample: /etc/systemd/system/dockerlab-listener.socket
held_by:
  description: Who holds the listening socket, C(systemd) or C(dockerd) (empty with O(mode=absent)).
  returned: always
  type: str
  sample: systemd
listen:
  description: The TCP address the daemon listens on (empty with O(mode=absent)).
  returned: always
  type: str
  sample: tcp://0.0.0.0:2376
daemon_reload_needed:
  description: Whether systemd must reload its units (the drop-in or the socket unit changed).
  returned: always
  type: bool
  sample: true
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockerlab.docker.plugins.module_utils._files import (
    DEFAULT_STASH_DIR,
    read_text,
    replace_unit_file,
    text_diff,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import (
    DROPIN_NAME,
    INPUTS_MARK,
    address_error,
    flags,
    holder,
    holder_error,
    inputs_hash,
    listen_stream,
    listen_url,
    overlaps,
    port_error,
    tcp_or_tls_flags,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._proc import describe, listening
from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import (
    SYSTEMD_DIR,
    UNIT_DIRS,
    exec_start_values,
    join_command,
    sets_exec_start,
    split_command,
    unit_dropins,
)

HEADER = (
    "# Managed by Ansible (docker_daemon_listener): manual changes will be lost.\n"
    "# {what}\n"
    f"{INPUTS_MARK}{{inputs}}\n"
)
INSECURE_WARNING = (
    "The Docker API listens on {listen} WITHOUT authentication or encryption: anyone "
    "who can reach this port is root on the host. Use this only in an isolated, "
    "deliberately vulnerable lab."
)


def vendor_command(text):
    """The vendor unit's single ExecStart= value, verbatim (its quoting and
    $VARIABLES, such as Debian's $DOCKER_OPTS, stay exactly as packaged).

    Returns None when the unit has no single ExecStart."""
    values = exec_start_values(text)
    return values[0] if len(values) == 1 else None


def render_dropin(vendor_path, exec_start, inputs, socket_unit=None):
    """The drop-in of the daemon's unit: the vendor command line with the
    listener's flags and, where ``socket_unit`` holds the listener, that
    socket unit's socket handed to the daemon."""
    what = f"Adds a TCP listener to the command line of the vendor unit {vendor_path}."
    unit = ""
    if socket_unit:
        what = f"Hands dockerd the TCP listener {socket_unit} holds (vendor unit {vendor_path})."
        unit = f"[Unit]\nRequires={socket_unit}\nAfter={socket_unit}\n\n"
    sockets = f"Sockets={socket_unit}\n" if socket_unit else ""
    return (
        HEADER.format(what=what, inputs=inputs)
        + unit
        + "[Service]\n"
        + sockets
        + "ExecStart=\n"
        + f"ExecStart={exec_start}\n"
    )


def render_socket(unit, mode, stream, inputs):
    """The socket unit that holds the listener on ``stream`` (ADDRESS:PORT)
    for ``unit``: no PartOf=, so that it keeps listening while the daemon
    restarts; ReuseAddress= so that a port the daemon just closed binds;
    FreeBind= so that an address not yet up at boot does not fail it."""
    kind = "mutual TLS" if mode == "tls" else "NO authentication"
    return (
        HEADER.format(
            what=f"Holds the TCP listener of {unit}: connections wait while it restarts.", inputs=inputs
        )
        + "[Unit]\n"
        + f"Description=Docker API on {stream} ({kind}), held for {unit}\n"
        + "\n"
        + "[Socket]\n"
        + f"ListenStream={stream}\n"
        + "ReuseAddress=true\n"
        + "FreeBind=true\n"
        + f"Service={unit}\n"
    )


class Listener:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        unit = self.params["unit"]
        self.dropin_dir = os.path.join(self.params["systemd_dir"], f"{unit}.d")
        self.path = os.path.join(self.dropin_dir, f"{self.params['name']}.conf")
        self.socket_unit = f"{self.params['name']}.socket"
        self.socket_path = os.path.join(self.params["systemd_dir"], self.socket_unit)
        self.held = (
            "" if self.params["mode"] == "absent" else holder(self.params["held_by"], self.params["address"])
        )
        self.result = {
            "changed": False,
            "path": self.path,
            "socket_path": self.socket_path if self.held == "systemd" else "",
            "held_by": self.held,
            "exec_start": "",
            "listen": "",
            "daemon_reload_needed": False,
        }

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **self.result, **extra)

    def validate(self):
        p = self.params
        if p["mode"] == "absent":
            return
        if port_error(p["port"]):
            self.fail(
                f"port {p['port']} is out of range: use a TCP port from 1 to 65535 "
                "(2376 is Docker's convention for TLS, 2375 without)."
            )
        why = address_error(p["address"])
        if why:
            self.fail(f"address: {why}. Use an IPv4 or IPv6 address or a host name, e.g. 0.0.0.0.")
        why = holder_error(p["held_by"], p["address"])
        if why:
            self.fail(f"held_by: {why}. Nothing was changed.")
        if p["mode"] == "insecure" and not p["insecure_acknowledged"]:
            self.fail(
                "mode=insecure opens the Docker API with no authentication: anyone who can "
                f"reach port {p['port']} is root on this host. It is refused unless "
                "insecure_acknowledged=true, for deliberately vulnerable labs only. "
                "Use mode=tls for everything else. Nothing was changed."
            )

    def vendor_unit(self):
        unit = self.params["unit"]
        candidates = (
            [self.params["vendor_unit_path"]]
            if self.params["vendor_unit_path"]
            else [os.path.join(d, unit) for d in (self.params["systemd_dir"], *UNIT_DIRS[1:])]
        )
        for path in candidates:
            text = read_text(path)
            if text is not None:
                return path, text
        return None, None

    def port_taken(self):
        """Refuse a port another program listens on (an overlapping
        address): neither a socket unit nor dockerd could bind it. dockerd
        and systemd (PID 1, the socket unit) are the listener itself."""
        p = self.params
        taken = [
            describe(item)
            for item in listening({p["port"]})[str(p["port"])]
            if overlaps(item["address"], p["address"])
            and item["process"] != "dockerd"
            and not (item["process"] == "systemd" and item["pid"] == 1)
        ]
        if taken:
            self.fail(
                f"port {p['port']} is already in use on this host by {', '.join(taken)}: the listener "
                "could not bind it. Choose another port (docker_access_tcp_port in the role "
                "docker_access), or stop what holds it. Nothing was changed."
            )

    def run(self):
        p = self.params
        self.validate()
        if p["mode"] != "absent":
            self.result["listen"] = listen_url(p["address"], p["port"])
            self.port_taken()
        wanted = dict(zip((self.path, self.socket_path), self.desired_texts(), strict=True))
        current = {path: read_text(path) for path in wanted}
        changed = [path for path in wanted if current[path] != wanted[path]]
        self.result.update(changed=bool(changed), daemon_reload_needed=bool(changed))
        if self.module._diff:
            self.result["diff"] = [text_diff(path, current[path], wanted[path]) for path in changed]
        if p["mode"] == "insecure":
            self.module.warn(INSECURE_WARNING.format(listen=self.result["listen"]))
        if not changed or self.module.check_mode:
            return self.result
        # The socket unit first: a drop-in that names it never exists without it.
        for path in sorted(changed, key=lambda path: path != self.socket_path):
            try:
                replace_unit_file(path, wanted[path], p["stash_dir"])
            except OSError as exc:
                self.fail(f"Failed to write {path}: {exc}")
        return self.result

    def desired_texts(self):
        """What the drop-in and the socket unit should hold (None: absent)."""
        if self.params["mode"] == "absent":
            return None, None
        return self.desired_text()

    def desired_text(self):
        p = self.params
        unit = p["unit"]
        vendor_path, vendor_text = self.vendor_unit()
        if vendor_text is None:
            if self.module.check_mode:
                # Not installed yet (a check run before the first converge):
                # say what would happen instead of failing.
                self.module.warn(f"{unit} is not installed yet: the drop-in would be written once it is.")
                return f"(drop-in for {unit}, written once {unit} is installed)\n", None
            self.fail(
                f"Cannot find the unit file of {unit}: is Docker installed? "
                "Install it first (role docker_engine)."
            )
        command = vendor_command(vendor_text)
        if command is None:
            self.fail(
                f"{vendor_path} does not have exactly one ExecStart= in [Service]; "
                "cannot derive the daemon's command line from it."
            )
        clashing = tcp_or_tls_flags(split_command(command)[1])
        if clashing:
            self.fail(
                f"{vendor_path} already has TCP or TLS flags ({' '.join(clashing)}); "
                "refusing to add a second listener. Use the vendor unit as packaged."
            )
        others = [
            path
            for path in unit_dropins(unit, (p["systemd_dir"], *UNIT_DIRS[1:]))
            if path != self.path and sets_exec_start(read_text(path) or "")
        ]
        if others:
            self.fail(
                f"Other drop-ins also set ExecStart= for {unit}: {', '.join(others)}. Only one "
                "ExecStart can win; merge their flags into docker_engine_daemon_options "
                "(daemon.json) and remove them, then run again."
            )
        if p["mode"] == "tls" and not self.module.check_mode:
            missing = [f for f in (p["tls_ca_cert"], p["tls_cert"], p["tls_key"]) if not os.path.isfile(f)]
            if missing:
                self.fail(
                    f"TLS file(s) missing on the host: {', '.join(missing)}. "
                    "Install the CA, server certificate and key first."
                )
        extra = flags(
            p["mode"], p["address"], p["port"], p["tls_ca_cert"], p["tls_cert"], p["tls_key"], self.held
        )
        exec_start = f"{command} {join_command('', extra)}"
        self.result["exec_start"] = exec_start
        inputs = inputs_hash(
            p["mode"],
            p["address"],
            p["port"],
            p["tls_ca_cert"],
            p["tls_cert"],
            p["tls_key"],
            vendor_path,
            command,
            self.held,
        )
        if self.held != "systemd":
            return render_dropin(vendor_path, exec_start, inputs), None
        stream = listen_stream(p["address"], p["port"])
        return (
            render_dropin(vendor_path, exec_start, inputs, self.socket_unit),
            render_socket(unit, p["mode"], stream, inputs),
        )


def main():
    module = AnsibleModule(
        argument_spec={
            "mode": {"type": "str", "choices": ["tls", "insecure", "absent"], "default": "tls"},
            "address": {"type": "str", "default": "0.0.0.0"},  # noqa: S104 - documented default
            "port": {"type": "int", "default": 2376},
            "tls_ca_cert": {"type": "path"},
            "tls_cert": {"type": "path"},
            "tls_key": {"type": "path", "no_log": False},
            "held_by": {"type": "str", "choices": ["auto", "systemd", "dockerd"], "default": "auto"},
            "insecure_acknowledged": {"type": "bool", "default": False},
            "name": {"type": "str", "default": DROPIN_NAME},
            "unit": {"type": "str", "default": "docker.service"},
            "vendor_unit_path": {"type": "path"},
            "systemd_dir": {"type": "path", "default": SYSTEMD_DIR},
            "stash_dir": {"type": "path", "default": DEFAULT_STASH_DIR},
        },
        required_if=[("mode", "tls", ("tls_ca_cert", "tls_cert", "tls_key"))],
        supports_check_mode=True,
    )
    module.exit_json(**Listener(module).run())


if __name__ == "__main__":
    main()

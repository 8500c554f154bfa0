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
    from the unit file, never hard-coded) plus C(-H tcp://ADDRESS:PORT) and, in
    O(mode=tls), C(--tlsverify --tlscacert --tlscert --tlskey)."
  - The vendor unit is never edited, so package upgrades keep working and
    C(dpkg --verify) stays clean.
  - O(mode=insecure) opens the Docker API without any authentication. Anyone
    who can reach the port is root on the host. It is refused unless
    O(insecure_acknowledged=true), and then it warns. Only for deliberately
    vulnerable breakout labs. The listener says C(--tls=false) explicitly,
    without which Docker 26 and newer log a deprecation notice and wait 15
    seconds at every start (Docker 20.10 accepts the flag too).
  - O(mode=absent) removes the drop-in.
  - Refuses an address that is not an IPv4 or IPv6 address or a host name, and
    a port outside 1-65535, naming the bad value.
  - Refuses to write when another drop-in of the unit also sets C(ExecStart=),
    since one of the two would silently win.
  - Before changing the drop-in, saves its previous version in the rollback
    stash (see M(dockerlab.docker.docker_daemon_restart)).
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
  insecure_acknowledged:
    description: Must be V(true) for O(mode=insecure), as a written acknowledgement of the risk.
    type: bool
    default: false
  name:
    description: File name of the drop-in, without C(.conf).
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
    description: Where the drop-in directory C(<unit>.d) lives.
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
    description: The drop-in's text before and after.
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
    -H tcp://0.0.0.0:2376 --tlsverify --tlscacert=/etc/docker/tls/ca.pem ...
listen:
  description: The TCP address the daemon listens on (empty with O(mode=absent)).
  returned: always
  type: str
  sample: tcp://0.0.0.0:2376
daemon_reload_needed:
  description: Whether systemd must reload its units (the drop-in changed).
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
    inputs_hash,
    listen_url,
    port_error,
    tcp_or_tls_flags,
)
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
    "# Adds a TCP listener to the command line of the vendor unit {vendor}.\n"
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


def render_dropin(vendor_path, exec_start, inputs):
    return (
        HEADER.format(vendor=vendor_path, inputs=inputs)
        + "[Service]\n"
        + "ExecStart=\n"
        + f"ExecStart={exec_start}\n"
    )


class Listener:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        unit = self.params["unit"]
        self.dropin_dir = os.path.join(self.params["systemd_dir"], f"{unit}.d")
        self.path = os.path.join(self.dropin_dir, f"{self.params['name']}.conf")
        self.result = {
            "changed": False,
            "path": self.path,
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

    def run(self):
        p = self.params
        self.validate()
        if p["mode"] != "absent":
            self.result["listen"] = listen_url(p["address"], p["port"])
        before = read_text(self.path)
        after = None if p["mode"] == "absent" else self.desired_text()
        changed = before != after
        self.result.update(changed=changed, daemon_reload_needed=changed)
        if self.module._diff:
            self.result["diff"] = text_diff(self.path, before, after)
        if p["mode"] == "insecure":
            self.module.warn(INSECURE_WARNING.format(listen=self.result["listen"]))
        if not changed or self.module.check_mode:
            return self.result
        try:
            replace_unit_file(self.path, after, p["stash_dir"])
        except OSError as exc:
            self.fail(f"Failed to write the drop-in {self.path}: {exc}")
        return self.result

    def desired_text(self):
        p = self.params
        unit = p["unit"]
        vendor_path, vendor_text = self.vendor_unit()
        if vendor_text is None:
            if self.module.check_mode:
                # Not installed yet (a check run before the first converge):
                # say what would happen instead of failing.
                self.module.warn(f"{unit} is not installed yet: the drop-in would be written once it is.")
                return f"(drop-in for {unit}, written once {unit} is installed)\n"
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
        extra = flags(p["mode"], p["address"], p["port"], p["tls_ca_cert"], p["tls_cert"], p["tls_key"])
        exec_start = f"{command} {join_command('', extra)}"
        self.result["exec_start"] = exec_start
        self.result["listen"] = extra[1]
        inputs = inputs_hash(
            p["mode"],
            p["address"],
            p["port"],
            p["tls_ca_cert"],
            p["tls_cert"],
            p["tls_key"],
            vendor_path,
            command,
        )
        return render_dropin(vendor_path, exec_start, inputs)


def main():
    module = AnsibleModule(
        argument_spec={
            "mode": {"type": "str", "choices": ["tls", "insecure", "absent"], "default": "tls"},
            "address": {"type": "str", "default": "0.0.0.0"},  # noqa: S104 - documented default
            "port": {"type": "int", "default": 2376},
            "tls_ca_cert": {"type": "path"},
            "tls_cert": {"type": "path"},
            "tls_key": {"type": "path", "no_log": False},
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

# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who listens on a TCP port, from /proc (standard library only).

Private to this collection: docker_host_facts reads the ports the roles ask
about (flask_app's published port), docker_daemon_listener the port of the
listener it is about to write.
"""

import os
import socket

from ansible_collections.dockerlab.docker.plugins.module_utils._files import read_text


def proc_net_listeners(text, ports, ipv6=False):
    """[(port, address, inode)] of the LISTEN sockets on ``ports`` in a
    /proc/net/tcp (or tcp6) table."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != "0A":  # 0A: TCP_LISTEN
            continue
        address_hex, _colon, port_hex = fields[1].partition(":")
        try:
            port = int(port_hex, 16)
            raw = bytes.fromhex(address_hex)
        except ValueError:
            continue
        if port not in ports:
            continue
        # The kernel prints each 32-bit word in host (little-endian) order.
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        family = socket.AF_INET6 if ipv6 else socket.AF_INET
        try:
            address = socket.inet_ntop(family, words)
        except ValueError:
            continue
        out.append((port, address, fields[9]))
    return out


def socket_owners(inodes, proc="/proc"):
    """{inode: (process name, pid)} for the sockets ``inodes``, from /proc/PID/fd."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    owners = {}
    if not wanted:
        return owners
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"{proc}/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{proc}/{pid}/fd/{fd}")
            except OSError:
                continue
            if target in wanted and wanted[target] not in owners:
                name = (read_text(f"{proc}/{pid}/comm") or "?").strip()
                owners[wanted[target]] = (name, int(pid))
    return owners


def listening(ports, proc="/proc"):
    """{"PORT": [{"address", "process", "pid"}]} of the TCP sockets listening
    on ``ports`` (IPv4 and IPv6); pid None where /proc does not say (a
    process of another user, read without root)."""
    found = proc_net_listeners(read_text(f"{proc}/net/tcp") or "", ports)
    found += proc_net_listeners(read_text(f"{proc}/net/tcp6") or "", ports, ipv6=True)
    owners = socket_owners({entry[2] for entry in found}, proc)
    out = {str(port): [] for port in sorted(ports)}
    for port, address, inode in sorted(found):
        name, pid = owners.get(inode, ("?", None))
        out[str(port)].append({"address": address, "process": name, "pid": pid})
    return out


def describe(item):
    """How an error names the holder of a port: process (pid N) on ADDRESS."""
    if item.get("pid") is None:
        return f"a process this run may not name (run as root to see it) on {item.get('address')}"
    return f"{item.get('process', '?')} (pid {item.get('pid')}) on {item.get('address')}"

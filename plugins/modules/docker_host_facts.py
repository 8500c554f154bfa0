#!/usr/bin/python
# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docker_host_facts
short_description: Read in one call what the Docker roles need to know about a host
description:
  - Read-only. Returns, as the fact O(name), the state the roles of this
    collection compare with what they want, so that a converged host is
    recognised in one round trip instead of one task per question.
  - "Installed Debian packages (from the dpkg status file), whether the
    service and other systemd units are active and enabled (one
    C(systemctl show) for them all), daemon.json parsed (or its parse error),
    whether /proc/sys is writable (C(proc_sys_writable)),
    the members of the docker group, the users' uid, gid and home, the
    checksum, mode and owner of given files, the host's name and global
    addresses (not those of Docker's own bridges), the files waiting in the
    rollback stash, and the service's unit file with its ExecStart and the
    drop-ins that override it."
  - "The roles of this collection share this read: each puts what it
    needs read (its request, a dict of this module's options C(packages),
    C(users), C(user_files), C(files), C(images), C(inspect), C(ports),
    C(units), C(containers) and C(daemon_json)) in a variable named
    C(<role>_host_read_request), and whichever role reads the host passes
    every such request of the play in O(requests), so that one read serves
    them all. The fact records what was read (C(requested)); a role whose
    request it covers decides on it, and a role alone reads the host itself."
  - "The daemon is not asked (C(containers), C(images) and C(inspected)
    are C(null)) while daemon.json names an authorization plugin that would
    not answer it (C(daemon_blocked)): dockerd holds every API call for 30
    seconds retrying such a plugin, then fails it. The plugin is asked
    C(/Plugin.Activate) on its socket, as dockerd would."
  - Sets the fact C(dockerlab_daemon_restarted) to false;
    M(dockerlab.docker.docker_daemon_restart) sets it true when it restarts
    the daemon, which makes the daemon's answers in this read (containers,
    images, inspected containers, listening ports) out of date.
  - Only the Python standard library is needed on the managed host.
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
options:
  name:
    description: Name of the fact to set; the roles of this collection share C(dockerlab).
    type: str
    default: dockerlab
  requests:
    description:
      - Read requests, each a dict of this module's options C(packages),
        C(users), C(user_files), C(files), C(images), C(inspect), C(ports),
        C(units) (lists), C(containers) (a bool) and C(daemon_json) (a path). The read
        covers the options given here and every request, each entry once.
      - An entry of the wrong type (a port that is not one, a user name that
        is not a string) is not read, and not counted as requested.
    type: list
    elements: dict
    default: []
  packages:
    description: Debian packages whose installed version to report.
    type: list
    elements: str
    default: []
  service:
    description: systemd service whose state to report.
    type: str
    default: docker.service
  units:
    description:
      - Other systemd units (full names, e.g. C(dockerlab-authz.socket)) to
        report as C(units.NAME) - C(exists), C(active) and C(enabled), as
        for O(service). Read with O(service) in one C(systemctl show).
    type: list
    elements: str
    default: []
  daemon_json:
    description: The daemon configuration file to parse.
    type: path
    default: /etc/docker/daemon.json
  group:
    description: Group whose members to report.
    type: str
    default: docker
  users:
    description: Users whose uid, gid and home to report.
    type: list
    elements: str
    default: []
  files:
    description: Files (sha256, mode, owner) and directories (mode, owner) to report.
    type: list
    elements: path
    default: []
  user_files:
    description:
      - Paths relative to each of O(users)' home directories to report, as
        C(users.NAME.files.PATH), e.g. C(.docker/cert.pem).
    type: list
    elements: str
    default: []
  ignore_interfaces:
    description:
      - Interfaces (shell patterns) whose addresses are not the host's own.
        By default Docker's bridges and veth pairs, which come and go with
        Docker and its networks and must not change a server certificate.
    type: list
    elements: str
    default: [docker*, br-*, veth*]
  containers:
    description:
      - Also list the daemon's containers (running and stopped) with their
        labels, asking the Engine API on O(socket). C(null) when the daemon
        does not answer (unknown, not "none").
    type: bool
    default: false
  images:
    description:
      - Image references (C(name:tag)) to report as C(images.REF) from the
        Engine API on O(socket) - the local image's C(id) and C(repo_digests)
        (C(null) when it is not pulled) and C(registry_digest), the digest the
        registry (or the daemon's registry mirror) serves for the reference
        now, or C(null) with C(registry_error). C(images) is C(null) when the
        daemon does not answer.
      - Lets a role tell an up-to-date image from a new one behind the same tag
        without pulling it.
    type: list
    elements: str
    default: []
  inspect:
    description:
      - Container names to report as C(inspected.NAME) - C(image_id),
        C(status), C(restart_policy), C(port_bindings), C(labels), C(memory)
        (bytes), C(cpu_shares) and C(pids_limit) as the Engine API has them
        (C(null) when there is no such container). C(inspected) is C(null)
        when the daemon does not answer.
    type: list
    elements: str
    default: []
  ports:
    description:
      - TCP ports to report as C(listening.PORT) - the sockets listening on
        that port on the host (from C(/proc/net/tcp) and C(/proc/net/tcp6)),
        each with its C(address) and the C(process) and C(pid) that own it,
        so that a role can refuse a port another program already holds.
    type: list
    elements: int
    default: []
  socket:
    description: The daemon's Unix socket, for O(containers), O(images) and O(inspect).
    type: path
    default: /var/run/docker.sock
  stash_dir:
    description: Directory of the rollback stash (see M(dockerlab.docker.docker_daemon_restart)).
    type: path
    default: /var/lib/dockerlab/rollback
attributes:
  check_mode:
    support: full
    description: Read-only; check mode runs it as usual.
  diff_mode:
    support: none
    description: Reports no diff; it changes nothing.
  facts:
    support: full
    description: Sets the fact named by O(name).
  platform:
    platforms: posix
    support: full
    description: Linux hosts with systemd and Docker (Debian 12 and 13 are tested).
"""

EXAMPLES = r"""
- name: Read the host's Docker-related state in one call
  dockerlab.docker.docker_host_facts:
    packages: [docker.io]
    users: [student]
    files: [/etc/docker/tls/ca.pem]

- name: Install Docker only when it is missing
  ansible.builtin.apt:
    name: docker.io
  when: ansible_facts.dockerlab.packages['docker.io'] is none
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    dockerlab:
      description:
        - The host's state, under the name O(name). C(requested) is what was
          read (the options and every request merged, as a request).
      type: dict
      returned: always
      sample:
        packages: {"docker.io": "20.10.24+dfsg1-1+deb12u1"}
        service: {"active": true, "enabled": true, "exists": true}
        units: {"dockerlab-authz.socket": {"active": true, "enabled": true, "exists": true}}
        daemon_json: {"exists": true, "valid": true, "error": "", "config": {"live-restore": true}}
        group: {"exists": true, "gid": 103, "members": ["student"]}
        users: {"student": {"uid": 1000, "gid": 1000, "home": "/home/student",
                "files": {".docker/cert.pem": {"exists": true, "sha256": "9f86...", "mode": "0444"}}}}
        files: {"/etc/docker/tls/ca.pem": {"exists": true, "sha256": "9f86...", "mode": "0444",
                "owner": "root", "group": "root"}}
        fqdn: lab1.example.org
        ipv4: ["172.18.0.3"]
        ipv6: []
        stash_pending: []
        unit:
          file: /lib/systemd/system/docker.service
          exec_start: /usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
          dropins_setting_exec_start: [/etc/systemd/system/docker.service.d/dockerlab-listener.conf]
        containers: [{"name": "flaskapp", "state": "running", "image": "digitalocean/flask-helloworld:latest",
                      "labels": {}, "published": [{"ip": "0.0.0.0", "port": 1337, "type": "tcp"}]}]
        listening: {"1337": [{"address": "0.0.0.0", "process": "docker-proxy", "pid": 4242}]}
        proc_sys_writable: true
        daemon_blocked: []
        images: {"digitalocean/flask-helloworld:latest": {"id": "sha256:c00c...", "registry_error": "",
                 "repo_digests": ["digitalocean/flask-helloworld@sha256:ed4a..."],
                 "registry_digest": "sha256:ed4a..."}}
        inspected: {"flaskapp": {"image_id": "sha256:c00c...", "status": "running",
                    "restart_policy": "unless-stopped",
                    "port_bindings": {"5000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "1337"}]},
                    "labels": {}, "memory": 134217728, "cpu_shares": 512, "pids_limit": 64}}
        requested: {"packages": ["docker.io"], "users": ["student", "root"], "user_files": [".docker"],
                    "files": ["/etc/docker"], "images": ["digitalocean/flask-helloworld:latest"],
                    "inspect": ["flaskapp"], "ports": [1337], "units": ["dockerlab-authz.socket"],
                    "containers": true,
                    "daemon_json": "/etc/docker/daemon.json"}
    dockerlab_daemon_restarted:
      description:
        - False. M(dockerlab.docker.docker_daemon_restart) sets it true when it
          restarts the daemon after this read.
      type: bool
      returned: always
      sample: false
"""

import fnmatch
import grp
import hashlib
import http.client
import json
import os
import pwd
import re
import socket
import stat
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockerlab.docker.plugins.module_utils._api import (
    DEFAULT_SOCKET,
    UnixHTTPConnection,
    request,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import (
    configured_plugins,
    silent_plugins,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import DEFAULT_PATH, parse
from ansible_collections.dockerlab.docker.plugins.module_utils._files import (
    DEFAULT_STASH_DIR,
    Stash,
    owner_names,
    read_text,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import (
    FACT,
    LISTS,
    RESTARTED_FACT,
    merge,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import read_inputs_mark
from ansible_collections.dockerlab.docker.plugins.module_utils._proc import listening
from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import (
    exec_start_values,
    sets_exec_start,
    unit_dropins,
    unit_file,
)

DPKG_STATUS = "/var/lib/dpkg/status"
# What `systemctl show` is asked of each unit, and the unit file states
# (UnitFileState, as `systemctl is-enabled` prints them) that start it at boot
# or with what wants it.
SHOW_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState")
ENABLED_STATES = ("enabled", "enabled-runtime", "alias", "static", "indirect", "generated")
UNKNOWN_UNIT = {"exists": False, "active": False, "enabled": False}
# A unit name systemd accepts (no glob, not an option; without a type it
# is a service): anything else is reported unknown without asking, so that
# it cannot fail the service's read.
UNIT_NAME = re.compile(r"^[A-Za-z0-9:_\\][A-Za-z0-9:_.\\-]*(@[A-Za-z0-9:_.\\-]+)?$")


def installed_packages(status_text, names):
    """{name: version or None} from the text of dpkg's status file."""
    wanted = set(names)
    found = dict.fromkeys(names)
    for stanza in status_text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _colon, value = line.partition(":")
            fields[key] = value.strip()
        name = fields.get("Package")
        if name in wanted and fields.get("Status", "").endswith(" installed"):
            found[name] = fields.get("Version", "")
    return found


def inputs_mark(path):
    """The inputs' hash in the header of a file a dockerlab module wrote, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return read_inputs_mark(handle.read(1024))
    except OSError:
        return None


def unit_state(service):
    """The unit file of ``service`` systemd loads, its single ExecStart (or
    None), and its drop-ins that set ExecStart."""
    path = unit_file(service)
    values = exec_start_values(read_text(path) or "") if path else []
    overriding = [p for p in unit_dropins(service) if sets_exec_start(read_text(p) or "")]
    return {
        "file": path,
        "exec_start": values[0] if len(values) == 1 else None,
        "dropins_setting_exec_start": overriding,
    }


def unit_states(show_text, names):
    """{name: {exists, active, enabled}} from the output of `systemctl show
    --property=LoadState,ActiveState,UnitFileState NAME...`: one block of
    KEY=VALUE lines per unit, in the order named, blank lines between. Output
    that does not have one block per name tells nothing: every unit unknown
    (not existing, inactive, disabled)."""
    text = (show_text or "").strip()
    blocks = [
        dict(line.partition("=")[::2] for line in block.splitlines() if "=" in line)
        for block in text.split("\n\n")
        if text
    ]
    if len(blocks) != len(names):
        return {name: dict(UNKNOWN_UNIT) for name in names}
    return {
        name: {
            # A unit systemd has no file for is "not-found"; "masked" exists.
            "exists": block.get("LoadState", "") not in ("", "not-found"),
            "active": block.get("ActiveState") == "active",
            "enabled": block.get("UnitFileState") in ENABLED_STATES,
        }
        for name, block in zip(names, blocks, strict=True)
    }


def parse_daemon_json(text):
    config, error = parse(text)
    return {"exists": text is not None, "valid": error is None, "error": error or "", "config": config or {}}


def file_state(path):
    """exists, type, mode, owner, group, and sha256 for a regular file; for a
    file written by a dockerlab module, the hash of the inputs it was written
    from ("inputs", from its "# dockerlab-inputs: " header line)."""
    try:
        st = os.stat(path)
    except OSError:
        return {"exists": False}
    state = {"exists": True, "directory": stat.S_ISDIR(st.st_mode)}
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(65536), b""):
                    digest.update(block)
            state["sha256"] = digest.hexdigest()
            state["inputs"] = inputs_mark(path)
        except OSError:
            state["sha256"] = None
    owner, group = owner_names(st)
    state.update(mode=f"{st.st_mode & 0o7777:04o}", owner=owner, group=group, uid=st.st_uid, gid=st.st_gid)
    return state


def proc_sys_writable(path="/proc/sys"):
    """Whether /proc/sys is mounted read-write (dockerd needs it for
    userland-proxy false); None when there is no such mount."""
    try:
        return not os.statvfs(path).f_flag & os.ST_RDONLY
    except OSError:
        return None


def addresses(ip_json, ignore=()):
    """(ipv4, ipv6) global addresses from `ip -json addr` output, leaving out
    interfaces whose name matches a pattern of ``ignore``."""
    ipv4, ipv6 = [], []
    try:
        interfaces = json.loads(ip_json or "[]")
    except ValueError:
        return ipv4, ipv6
    for interface in interfaces:
        if any(fnmatch.fnmatchcase(interface.get("ifname", ""), pattern) for pattern in ignore):
            continue
        for info in interface.get("addr_info", []):
            local = info.get("local")
            # Global addresses only: not lo's (scope host), not fe80:: (scope link).
            if not local or info.get("scope") in ("host", "link"):
                continue
            (ipv6 if info.get("family") == "inet6" else ipv4).append(local)
    return sorted(set(ipv4)), sorted(set(ipv6))


class HostFacts:
    def __init__(self, module):
        self.module = module
        # What to read: the options given, and every request merged in.
        given = {key: module.params[key] for key in (*LISTS, "containers", "daemon_json")}
        self.requested = merge(module.params["requests"], base=given)
        self.params = {**module.params, **self.requested}
        self.blocked = []

    def units(self):
        """The states of the service and the units asked for, in one call."""
        names = list(dict.fromkeys([self.params["service"], *self.params["units"]]))
        valid = [name for name in names if len(name) <= 255 and UNIT_NAME.match(name)]
        systemctl = self.module.get_bin_path("systemctl")
        out = ""
        if systemctl and valid:
            rc, out, _err = self.module.run_command(
                [systemctl, "show", f"--property={','.join(SHOW_PROPERTIES)}", "--", *valid]
            )
            if rc != 0:
                out = ""
        return {name: dict(UNKNOWN_UNIT) for name in names} | unit_states(out, valid)

    def daemon_json(self):
        # Unreadable or not UTF-8: report it invalid (as a parse error is), so
        # that docker_daemon_config fails with its message, not this module with a traceback.
        try:
            text = read_text(self.params["daemon_json"])
        except (OSError, UnicodeDecodeError) as exc:
            return {"exists": True, "valid": False, "error": f"cannot read the file: {exc}", "config": {}}
        return parse_daemon_json(text)

    def group(self):
        try:
            entry = grp.getgrnam(self.params["group"])
        except KeyError:
            return {"exists": False, "gid": None, "members": []}
        return {"exists": True, "gid": entry.gr_gid, "members": sorted(entry.gr_mem)}

    def users(self):
        found = {}
        for name in self.params["users"]:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                found[name] = None
                continue
            found[name] = {
                "uid": entry.pw_uid,
                "gid": entry.pw_gid,
                "home": entry.pw_dir,
                "files": {
                    rel: file_state(os.path.join(entry.pw_dir, rel)) for rel in self.params["user_files"]
                },
            }
        return found

    def network(self):
        ip = self.module.get_bin_path("ip")
        out = ""
        if ip:
            rc, out, _err = self.module.run_command([ip, "-json", "address", "show"])
            if rc != 0:
                out = ""
        return addresses(out, self.params["ignore_interfaces"])

    def containers(self):
        if not self.params["containers"]:
            return None
        status, body = self.api("/containers/json?all=1")
        if status != 200 or not isinstance(body, list):
            return None
        return [
            {
                "name": (item.get("Names") or ["/"])[0].lstrip("/"),
                "state": item.get("State", ""),
                "image": item.get("Image", ""),
                "labels": item.get("Labels") or {},
                "published": sorted(
                    (
                        {"ip": p.get("IP", ""), "port": p["PublicPort"], "type": p.get("Type", "tcp")}
                        for p in item.get("Ports") or []
                        if p.get("PublicPort")
                    ),
                    key=lambda p: (p["port"], p["type"], p["ip"]),
                ),
            }
            for item in body
        ]

    def api(self, path):
        """(status, body) of GET path on the daemon's socket; (None, why) when it
        does not answer, or would not, an authorization plugin being silent."""
        if self.blocked:
            return None, f"authorization plugins that do not answer: {'; '.join(self.blocked)}"
        try:
            return request(UnixHTTPConnection(self.params["socket"], timeout=10), "GET", path)
        except (OSError, http.client.HTTPException) as exc:
            return None, str(exc)

    def listening(self):
        ports = set(self.params["ports"])
        if not ports:
            return {}
        return listening(ports)

    def images(self):
        if not self.params["images"]:
            return {}
        out = {}
        for ref in self.params["images"]:
            status, body = self.api(f"/images/{quote(ref, safe='/:@')}/json")
            if status is None:
                return None
            local = body if status == 200 and isinstance(body, dict) else {}
            state = {"id": local.get("Id"), "repo_digests": local.get("RepoDigests") or []}
            # The daemon asks the registry (through its mirrors) for the
            # manifest's digest: what a pull would fetch, without pulling.
            status, body = self.api(f"/distribution/{quote(ref, safe='/:@')}/json")
            if status is None:
                return None
            descriptor = body.get("Descriptor") if status == 200 and isinstance(body, dict) else None
            digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
            state["registry_digest"] = digest or None
            if digest:
                state["registry_error"] = ""
            elif isinstance(body, dict) and body.get("message"):
                state["registry_error"] = str(body["message"])
            else:
                state["registry_error"] = f"HTTP {status} without a digest"
            out[ref] = state
        return out

    def inspected(self):
        if not self.params["inspect"]:
            return {}
        out = {}
        for name in self.params["inspect"]:
            status, body = self.api(f"/containers/{quote(name, safe='')}/json")
            if status is None:
                return None
            if status != 200 or not isinstance(body, dict):
                out[name] = None
                continue
            host_config = body.get("HostConfig") or {}
            out[name] = {
                "image_id": body.get("Image"),
                "status": (body.get("State") or {}).get("Status", ""),
                "restart_policy": (host_config.get("RestartPolicy") or {}).get("Name", ""),
                "port_bindings": host_config.get("PortBindings") or {},
                "labels": (body.get("Config") or {}).get("Labels") or {},
                "memory": host_config.get("Memory") or 0,
                "cpu_shares": host_config.get("CpuShares") or 0,
                "pids_limit": host_config.get("PidsLimit") or 0,
            }
        return out

    def run(self):
        ipv4, ipv6 = self.network()
        units = self.units()
        daemon_json = self.daemon_json()
        self.blocked = silent_plugins(configured_plugins([], daemon_json["config"]))
        facts = {
            "packages": installed_packages(read_text(DPKG_STATUS) or "", self.params["packages"]),
            "service": units[self.params["service"]],
            "units": {name: units[name] for name in self.params["units"]},
            "daemon_json": daemon_json,
            "group": self.group(),
            "users": self.users(),
            "files": {path: file_state(path) for path in self.params["files"]},
            "fqdn": socket.getfqdn(),
            "ipv4": ipv4,
            "ipv6": ipv6,
            "stash_pending": Stash(self.params["stash_dir"]).pending(),
            "unit": unit_state(self.params["service"]),
            "containers": self.containers(),
            "images": self.images(),
            "inspected": self.inspected(),
            "listening": self.listening(),
            "proc_sys_writable": proc_sys_writable(),
            "daemon_blocked": self.blocked,
            "requested": self.requested,
        }
        return {"changed": False, "ansible_facts": {self.params["name"]: facts, RESTARTED_FACT: False}}


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "default": FACT},
            "requests": {"type": "list", "elements": "dict", "default": []},
            "packages": {"type": "list", "elements": "str", "default": []},
            "service": {"type": "str", "default": "docker.service"},
            "units": {"type": "list", "elements": "str", "default": []},
            "daemon_json": {"type": "path", "default": DEFAULT_PATH},
            "group": {"type": "str", "default": "docker"},
            "users": {"type": "list", "elements": "str", "default": []},
            "files": {"type": "list", "elements": "path", "default": []},
            "user_files": {"type": "list", "elements": "str", "default": []},
            "ignore_interfaces": {"type": "list", "elements": "str", "default": ["docker*", "br-*", "veth*"]},
            "containers": {"type": "bool", "default": False},
            "images": {"type": "list", "elements": "str", "default": []},
            "inspect": {"type": "list", "elements": "str", "default": []},
            "ports": {"type": "list", "elements": "int", "default": []},
            "socket": {"type": "path", "default": DEFAULT_SOCKET},
            "stash_dir": {"type": "path", "default": DEFAULT_STASH_DIR},
        },
        supports_check_mode=True,
    )
    module.exit_json(**HostFacts(module).run())


if __name__ == "__main__":
    main()

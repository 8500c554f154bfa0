#!/usr/bin/python
# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docker_host_audit
short_description: Audit a Docker host for the known container breakout paths
description:
  - "Read-only. Reports findings about the Docker daemon, its containers
    (running and stopped: a created container is one C(start) away) and its
    files, each with an id, a severity, the target, the evidence, a remediation
    and the matching CIS Docker Benchmark (v1.6.0) id where there is one."
  - "Containers: privileged; the Docker socket mounted (a bind whose source
    resolves to the daemon's socket, directly or through a parent directory
    such as /run or /var/run); added capabilities (SYS_ADMIN, SYS_PTRACE,
    SYS_MODULE, DAC_READ_SEARCH, NET_ADMIN rated higher); the host's PID,
    network, IPC or UTS namespace; sensitive host paths mounted; seccomp or
    AppArmor unconfined; ports published on every interface; and the hardening
    settings of CIS section 4 and 5 (user, memory, CPU, read-only root, no new
    privileges, health check, PIDs limit, capabilities dropped)."
  - "No new privileges (CIS 5.26) is judged on what is in effect. For a
    running container whose main process this host's /proc shows (its
    C(/proc/PID/cgroup) names the container), the kernel decides:
    C(NoNewPrivs) 1 in C(/proc/PID/status) is no finding, 0 is one, whatever
    the configuration says. Otherwise (stopped, /proc unreadable, no
    C(NoNewPrivs) field, or the module in another PID namespace than
    dockerd) the configuration decides as dockerd reads it:
    HostConfig.SecurityOpt's C(no-new-privileges) (alone, C(=VALUE) or
    C(:VALUE), with Go's boolean spellings; the last one wins), and where it
    says nothing, daemon.json's C(no-new-privileges) (CIS 2.14; its default is
    false). dockerd fixes the setting when it creates a container, so a
    stopped container created before daemon.json changed is judged by the
    file as it is now; the setting given as a dockerd command-line flag is
    not read."
  - "Daemon: TCP listeners without C(--tlsverify) (critical when not bound to
    loopback), read from the running daemon's command line, the systemd unit
    with its drop-ins, daemon.json, and the TCP C(ListenStream=) of the socket
    units that hand their sockets to the service (its own, such as
    docker.socket with its drop-ins, and those its C(Sockets=) names) where
    dockerd takes them (C(-H fd://)), TLS-wrapped as its flags or daemon.json
    say; TLS files with loose modes or owners;
    live-restore, icc, userns-remap, no-new-privileges, userland-proxy and log
    rotation settings; the members of the docker group (each is root-equivalent)."
  - "Files: owners and modes of docker.service, docker.socket and the other
    socket units that hand the service a socket (C(Sockets=), such as the
    TCP listener's), their drop-ins, /etc/docker, daemon.json and the
    daemon's socket."
  - "Authorization (CIS 2.12): the plugins dockerd is told to use, from the
    running daemon's command line and the systemd unit with its drop-ins
    (C(--authorization-plugin)) and from daemon.json
    (C(authorization-plugins)). None is a finding; so is one whose socket in
    /run/docker/plugins does not answer C(/Plugin.Activate), or that has
    neither a socket nor a spec file in /etc/docker/plugins or
    /usr/lib/docker/plugins, since dockerd then fails every API call."
  - "dockerlab's own plugin (C(dockerlab-authz)) and its policy
    (/etc/dockerlab/authz/policy.json) are reported as they are on the host
    (enabled or not, answering or not, the restricted and the revoked
    users), with a finding for each revoked user of this host whose client
    certificate (C(~/.docker/cert.pem)) is still valid. Its end is read with
    C(openssl x509 -enddate) where openssl is installed; without openssl, or
    where openssl cannot read it, a certificate present counts as valid."
  - Talks to the Engine API over the Unix socket with the Python standard
    library only; never changes anything.
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
options:
  socket:
    description: The daemon's Unix socket.
    type: path
    default: /var/run/docker.sock
  daemon_json:
    description: The daemon's configuration file.
    type: path
    default: /etc/docker/daemon.json
  unit:
    description: The daemon's systemd unit.
    type: str
    default: docker.service
  group:
    description: The group whose members may use the socket.
    type: str
    default: docker
attributes:
  check_mode:
    support: full
    description: The module never changes anything; check mode runs it as usual.
  diff_mode:
    support: none
    description: Reports no diff; it changes nothing.
  platform:
    platforms: posix
    support: full
    description: Linux hosts with systemd and Docker (Debian 12 and 13 are tested).
notes:
  - "Run it as root: the daemon's socket, its command line and the TLS key are
    readable by root only."
  - "Asking a plugin's socket whether it answers starts the plugin where
    systemd starts it on demand (as dockerd's first call would)."
"""

EXAMPLES = r"""
- name: Audit the Docker host
  dockerlab.docker.docker_host_audit:
  register: audit

- name: Refuse hosts with a breakout path
  ansible.builtin.assert:
    that: audit.counts.critical + audit.counts.high == 0
"""

RETURN = r"""
findings:
  description: Every finding, most severe first.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Stable identifier of the kind of finding.
      type: str
      sample: container-privileged
    severity:
      description: One of info, low, medium, high, critical.
      type: str
      sample: critical
    title:
      description: What is wrong, in a sentence.
      type: str
      sample: Privileged container
    target:
      description: C(daemon), a file path, or C(container:NAME).
      type: str
      sample: container:breakout-privileged
    evidence:
      description: What was observed.
      type: str
      sample: HostConfig.Privileged is true
    remediation:
      description: How to fix it.
      type: str
      sample: Recreate the container without --privileged.
    cis:
      description: CIS Docker Benchmark v1.6.0 recommendation, or an empty string.
      type: str
      sample: "5.5"
  sample: []
counts:
  description: Number of findings per severity.
  returned: always
  type: dict
  sample: {"critical": 1, "high": 0, "medium": 1, "low": 2, "info": 3}
max_severity:
  description: The most severe finding's severity, or C(none).
  returned: always
  type: str
  sample: critical
daemon:
  description: What the module learned about the daemon.
  returned: always
  type: dict
  sample:
    reachable: true
    version: 20.10.24+dfsg1
    api_version: "1.41"
    listeners: [{"url": "tcp://0.0.0.0:2376", "source": "running", "tlsverify": true}]
    containers: 2
authorization:
  description: dockerd's authorization plugins and dockerlab's policy.
  returned: always
  type: dict
  contains:
    plugins:
      description:
        - The authorization plugins dockerd is told to use, each once, in
          order; those of its command lines (C(--authorization-plugin)) first,
          then daemon.json's C(authorization-plugins). Empty fails CIS 2.12.
      type: list
      elements: str
      sample: [dockerlab-authz]
    dockerlab_policy:
      description: dockerlab's plugin (C(dockerlab-authz)) and its policy file.
      type: dict
      contains:
        enabled:
          description: Whether C(dockerlab-authz) is among RV(authorization.plugins).
          type: bool
          sample: true
        answers:
          description:
            - Whether the plugin answers C(/Plugin.Activate) on its socket,
              /run/docker/plugins/dockerlab-authz.sock (also when it is not enabled).
          type: bool
          sample: true
        restricted:
          description: The users the policy restricts (empty when it is not readable).
          type: list
          elements: str
          sample: [alice]
        revoked:
          description:
            - The users the policy refuses although their certificates may
              still be valid (empty when it is not readable).
          type: list
          elements: str
          sample: [carol]
        policy_file:
          description: The policy file read.
          type: str
          sample: /etc/dockerlab/authz/policy.json
        readable:
          description: Whether the policy file exists and holds a policy.
          type: bool
          sample: true
  sample:
    plugins: [dockerlab-authz]
    dockerlab_policy:
      enabled: true
      answers: true
      restricted: [alice]
      revoked: [carol]
      policy_file: /etc/dockerlab/authz/policy.json
      readable: true
"""

import functools
import grp
import os
import pwd
import ssl
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockerlab.docker.plugins.module_utils._api import (
    DEFAULT_SOCKET,
    UnixHTTPConnection,
    authz_plugin_answers,
    request,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import (
    PLUGIN_NAME,
    PLUGIN_SPEC_DIRS,
    PLUGINS_DIR,
    POLICY_FILE,
    configured_plugins,
    plugin_silence,
    plugin_socket,
    read_policy,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import DEFAULT_PATH, parse
from ansible_collections.dockerlab.docker.plugins.module_utils._files import owner_names, read_text
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import (
    command_listeners,
    is_loopback,
    socket_listeners,
    split_tcp,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import (
    effective_exec_start,
    service_sockets,
    unit_dropins,
    unit_file,
)

SEVERITIES = ("info", "low", "medium", "high", "critical")
RANK = {name: i for i, name in enumerate(SEVERITIES)}
DANGEROUS_CAPS = {"SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH", "NET_ADMIN"}
# What a port published on every interface is bound to (we look for it).
ANY_IPV4 = "0.0.0.0"  # noqa: S104
SENSITIVE_PATHS = ("/", "/etc", "/proc", "/sys", "/var/lib/docker", "/boot", "/root")


def finding(fid, severity, title, target, evidence, remediation, cis=""):
    return {
        "id": fid,
        "severity": severity,
        "title": title,
        "target": target,
        "evidence": evidence,
        "remediation": remediation,
        "cis": cis,
    }


# --- daemon command line and listeners ---------------------------------------


def listener_findings(listeners):
    """Findings for TCP listeners: [{"url", "source", "tls", "tlsverify"}]."""
    found = []
    seen = set()
    for item in listeners:
        parts = split_tcp(item["url"])
        if parts is None or item["tlsverify"] or item["url"] in seen:
            continue
        seen.add(item["url"])
        host, port = parts
        loop = is_loopback(host)
        severity = "high" if loop else "critical"
        where = (
            "only local users and containers sharing the host network" if loop else "anyone who can reach it"
        )
        if item["tls"]:
            fid, title = "daemon-tcp-tls-without-verify", "TCP listener with TLS but no client verification"
            evidence = f"{item['url']} with --tls but not --tlsverify (from {item['source']})"
        else:
            fid, title = "daemon-tcp-unauthenticated", "Unauthenticated TCP listener"
            evidence = f"{item['url']} without --tlsverify (from {item['source']})"
        found.append(
            finding(
                fid,
                severity,
                title,
                "daemon",
                f"{evidence}: {where} on port {port} controls the daemon, which is root on the host",
                "Listen with mutual TLS (docker_access_tcp: tls) or not at all (docker_access_tcp: off).",
                "2.7",
            )
        )
    return found


# --- containers --------------------------------------------------------------


def socket_mounted(source, socket_path, realpath=os.path.realpath):
    """Whether a bind of ``source`` exposes the daemon's socket: the socket
    itself or a directory above it (/run, /var/run, /). Both paths are
    resolved first: the bind exposes the real tree, and a symlink inside it
    (/var/run -> /run under a bind of /var) resolves in the container."""
    real_socket = realpath(socket_path)
    real_source = realpath(source).rstrip("/")
    return real_socket == (real_source or "/") or real_socket.startswith(real_source + "/")


def sensitive_mount(source, realpath=os.path.realpath):
    """The sensitive path a bind of ``source`` exposes, or None. A source
    that is one of them, or a directory above one of them, exposes it."""
    for src in (source.rstrip("/") or "/", realpath(source).rstrip("/") or "/"):
        if src == "/":
            return "/"
        for path in SENSITIVE_PATHS[1:]:
            if src == path or path.startswith(src + "/"):
                return path
    return None


def container_name(info):
    return (info.get("Name") or info.get("Id", "")[:12]).lstrip("/")


# The spellings Go's strconv.ParseBool accepts, with which dockerd reads
# the value of no-new-privileges in SecurityOpt; it refuses any other.
GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def daemon_no_new_privileges(config):
    """Whether dockerd gives no-new-privileges to a container whose
    SecurityOpt says nothing about it: daemon.json's setting, false by
    default (CIS 2.14)."""
    return bool(config.get("no-new-privileges"))


def security_opt_no_new_privileges(options):
    """(value, option) for what a container's HostConfig.SecurityOpt says
    about no-new-privileges, or None where it says nothing. Read as dockerd
    reads it (parseSecurityOpt in daemon/daemon_unix.go): the bare
    ``no-new-privileges`` is true; otherwise the option splits at its first
    ``=`` or, without one, at its first ``:`` (the deprecated separator),
    and the value is a Go boolean; the last option naming it wins."""
    said = None
    for option in options or []:
        if option == "no-new-privileges":
            said = (True, option)
            continue
        key, _sep, value = option.partition("=" if "=" in option else ":")
        if key == "no-new-privileges" and value in GO_BOOLS:
            said = (GO_BOOLS[value], option)
    return said


def read_proc_file(pid, name, root="/proc"):
    """The text of /proc/PID/NAME, or None when it cannot be read (the
    process has exited, the file is not readable)."""
    try:
        return read_text(f"{root}/{pid}/{name}")
    except (OSError, UnicodeDecodeError):
        return None


def status_no_new_privs(text):
    """The NoNewPrivs field (0 or 1) of a /proc/PID/status text, or None
    where it has none (kernels before 4.10) or no text was read."""
    for line in (text or "").splitlines():
        key, _sep, value = line.partition(":")
        if key == "NoNewPrivs":
            value = value.strip()
            return int(value) if value in ("0", "1") else None
    return None


def kernel_no_new_privs(info, read_proc=read_proc_file):
    """(NoNewPrivs, pid) of a running container's main process as the
    kernel reports it, or None where /proc cannot tell. State.Pid is the
    PID in dockerd's PID namespace: the process counts only when its
    /proc/PID/cgroup names the container, so that an audit run in another
    PID namespace never judges an unrelated process."""
    state = info.get("State") or {}
    pid = state.get("Pid")
    container_id = info.get("Id") or ""
    if not state.get("Running") or not isinstance(pid, int) or pid <= 0 or not container_id:
        return None
    if container_id not in (read_proc(pid, "cgroup") or ""):
        return None
    value = status_no_new_privs(read_proc(pid, "status"))
    return None if value is None else (value, pid)


def new_privileges(info, daemon_config, read_proc=read_proc_file):
    """(evidence, remediation) where the processes of a container can gain
    privileges (setuid binaries, file capabilities), or None where they
    cannot. The kernel's NoNewPrivs wins where /proc tells it; otherwise
    SecurityOpt, and where it says nothing, the daemon's default."""
    said = security_opt_no_new_privileges((info.get("HostConfig") or {}).get("SecurityOpt"))
    if said is not None and not said[0]:
        remediation = f"Recreate it without --security-opt {said[1]}."
    else:
        remediation = "Recreate it with --security-opt no-new-privileges."
    kernel = kernel_no_new_privs(info, read_proc)
    if kernel is not None:
        value, pid = kernel
        return None if value else (f"NoNewPrivs 0 in /proc/{pid}/status", remediation)
    if said is not None:
        return None if said[0] else (f"SecurityOpt has {said[1]}", remediation)
    if daemon_no_new_privileges(daemon_config):
        return None
    return (
        'SecurityOpt lacks no-new-privileges and daemon.json "no-new-privileges" is not true',
        'Add --security-opt no-new-privileges, or set "no-new-privileges": true in daemon.json '
        "(dockerd applies it to the containers it creates afterwards).",
    )


def container_findings(
    info, socket_path, realpath=os.path.realpath, daemon_config=None, read_proc=read_proc_file
):
    """Findings for one container, from its GET /containers/{id}/json, with
    daemon.json's settings (``daemon_config``; None as an empty file) and
    ``read_proc(pid, name)`` giving the text of /proc/PID/NAME or None."""
    name = container_name(info)
    target = f"container:{name}"
    host = info.get("HostConfig") or {}
    config = info.get("Config") or {}
    state = (info.get("State") or {}).get("Status", "unknown")
    found = []

    def add(fid, severity, title, evidence, remediation, cis=""):
        found.append(
            finding(fid, severity, title, target, f"{evidence} (container is {state})", remediation, cis)
        )

    if host.get("Privileged"):
        add(
            "container-privileged",
            "critical",
            "Privileged container",
            "HostConfig.Privileged is true: every capability, every device, no confinement",
            "Recreate it without --privileged; add only the capabilities it needs.",
            "5.5",
        )
    for mount in info.get("Mounts") or []:
        if mount.get("Type") != "bind":
            continue
        source = mount.get("Source", "")
        rw = bool(mount.get("RW", True))
        if socket_mounted(source, socket_path, realpath):
            add(
                "container-docker-socket",
                "critical",
                "Docker socket mounted in the container",
                f"bind {source} -> {mount.get('Destination')} exposes {socket_path}",
                "Remove the bind: whoever controls the socket is root on the host.",
                "5.32",
            )
            continue
        exposed = sensitive_mount(source, realpath)
        if exposed:
            severity = ("critical" if rw else "high") if exposed == "/" else ("high" if rw else "medium")
            add(
                "container-sensitive-mount",
                severity,
                "Sensitive host path mounted",
                f"bind {source} -> {mount.get('Destination')} "
                f"({'read-write' if rw else 'read-only'}) exposes {exposed}",
                "Mount only the data the container needs, read-only where possible.",
                "5.6",
            )
    caps = sorted({c.upper().removeprefix("CAP_") for c in host.get("CapAdd") or []})
    dangerous = [c for c in caps if c == "ALL" or c in DANGEROUS_CAPS]
    others = [c for c in caps if c not in dangerous]
    for group, severity in ((dangerous, "critical" if "ALL" in dangerous else "high"), (others, "medium")):
        if group:
            add(
                "container-cap-add",
                severity,
                f"Capabilit{'y' if len(group) == 1 else 'ies'} added: {', '.join(group)}",
                f"HostConfig.CapAdd has {', '.join(group)}",
                "Drop them; grant only the capabilities the process needs.",
                "5.4",
            )
    dropped = [c.upper().removeprefix("CAP_") for c in host.get("CapDrop") or []]
    if "ALL" not in dropped:
        add(
            "container-capabilities-not-dropped",
            "info",
            "Default capabilities kept",
            f"HostConfig.CapDrop is {dropped or 'empty'}",
            "Drop ALL capabilities and add back only those the process needs.",
            "5.4",
        )
    for key, fid, severity, title, cis in (
        ("PidMode", "container-host-pid", "high", "Host PID namespace shared", "5.16"),
        ("NetworkMode", "container-host-network", "high", "Host network namespace shared", "5.10"),
        ("IpcMode", "container-host-ipc", "medium", "Host IPC namespace shared", "5.17"),
        ("UTSMode", "container-host-uts", "low", "Host UTS namespace shared", "5.21"),
    ):
        if host.get(key) == "host":
            add(
                fid,
                severity,
                title,
                f"HostConfig.{key} is host",
                f"Recreate it without --{key[:-4].lower()}=host.",
                cis,
            )
    security = [s.replace(":", "=", 1) for s in host.get("SecurityOpt") or []]
    if "seccomp=unconfined" in security:
        add(
            "container-seccomp-unconfined",
            "medium",
            "Seccomp disabled",
            "SecurityOpt has seccomp=unconfined",
            "Remove seccomp=unconfined; use a custom profile if the default is too strict.",
            "5.22",
        )
    if "apparmor=unconfined" in security:
        add(
            "container-apparmor-unconfined",
            "medium",
            "AppArmor disabled",
            "SecurityOpt has apparmor=unconfined",
            "Remove apparmor=unconfined.",
            "5.1",
        )
    all_interfaces = []
    for port, bindings in (host.get("PortBindings") or {}).items():
        for binding in bindings or []:
            address = binding.get("HostIp") or ANY_IPV4
            if address in (ANY_IPV4, "::"):
                all_interfaces.append(f"{address}:{binding.get('HostPort')}->{port}")
    if all_interfaces:
        add(
            "container-port-all-interfaces",
            "low",
            "Port published on every interface",
            ", ".join(all_interfaces),
            "Bind published ports to one interface (e.g. 127.0.0.1:1337:5000).",
            "5.14",
        )
    user = config.get("User") or ""
    if user in ("", "0", "root") or user.startswith(("0:", "root:")):
        add(
            "container-runs-as-root",
            "low",
            "Runs as root",
            f"Config.User is {user or 'empty (root)'}",
            "Run as an unprivileged user (--user 10001:10001 or USER in the image).",
            "4.1",
        )
    if not host.get("Memory"):
        add(
            "container-no-memory-limit",
            "low",
            "No memory limit",
            "HostConfig.Memory is 0",
            "Set a memory limit (--memory).",
            "5.11",
        )
    if not host.get("CpuShares"):
        add(
            "container-no-cpu-shares",
            "info",
            "No CPU priority set",
            "HostConfig.CpuShares is 0 (default 1024)",
            "Set --cpu-shares.",
            "5.12",
        )
    if not host.get("ReadonlyRootfs"):
        add(
            "container-rootfs-writable",
            "info",
            "Root file system writable",
            "HostConfig.ReadonlyRootfs is false",
            "Use --read-only with a tmpfs where the app writes.",
            "5.13",
        )
    gain = new_privileges(info, daemon_config or {}, read_proc)
    if gain:
        add("container-new-privileges-allowed", "low", "Processes may gain privileges", *gain, "5.26")
    if not (config.get("Healthcheck") or {}).get("Test") or (config.get("Healthcheck") or {}).get("Test") == [
        "NONE"
    ]:
        add(
            "container-no-healthcheck",
            "info",
            "No health check",
            "Config.Healthcheck is not set",
            "Add a health check (--health-cmd).",
            "5.27",
        )
    if not host.get("PidsLimit") or host.get("PidsLimit", 0) <= 0:
        add(
            "container-no-pids-limit",
            "low",
            "No PIDs limit",
            f"HostConfig.PidsLimit is {host.get('PidsLimit')}",
            "Set --pids-limit.",
            "5.29",
        )
    return found


# --- daemon settings -----------------------------------------------------------


def settings_findings(config, info):
    """Findings for daemon-wide settings, from daemon.json and GET /info."""
    found = []

    def add(fid, severity, title, evidence, remediation, cis):
        found.append(finding(fid, severity, title, "daemon", evidence, remediation, cis))

    live = info.get("LiveRestoreEnabled", config.get("live-restore", False))
    if not live:
        add(
            "daemon-live-restore-off",
            "low",
            "Live restore disabled",
            "containers stop whenever the daemon restarts",
            'Set "live-restore": true (docker_engine_live_restore).',
            "2.15",
        )
    if config.get("icc", True):
        add(
            "daemon-icc-on",
            "low",
            "Inter-container communication on the default bridge",
            '"icc" is not false: containers on docker0 reach each other freely',
            'Set "icc": false.',
            "2.2",
        )
    security_options = " ".join(info.get("SecurityOptions") or [])
    if not config.get("userns-remap") and "userns" not in security_options:
        add(
            "daemon-userns-off",
            "info",
            "User namespace remapping off",
            "root in a container is root on the host",
            'Set "userns-remap": "default" where the workload allows it.',
            "2.9",
        )
    if not daemon_no_new_privileges(config):
        add(
            "daemon-new-privileges-allowed",
            "low",
            "Containers may gain new privileges by default",
            '"no-new-privileges" is not true',
            'Set "no-new-privileges": true.',
            "2.14",
        )
    if config.get("userland-proxy", True):
        add(
            "daemon-userland-proxy-on",
            "info",
            "Userland proxy enabled",
            '"userland-proxy" is not false',
            'Set "userland-proxy": false (needs a writable /proc/sys).',
            "2.16",
        )
    driver = config.get("log-driver", info.get("LoggingDriver", "json-file"))
    opts = config.get("log-opts") or {}
    if driver == "json-file" and "max-size" not in opts:
        add(
            "daemon-log-unbounded",
            "info",
            "Container logs are not size-bounded",
            f"log-driver {driver} without log-opts max-size",
            'Set "log-opts": {"max-size": "10m", "max-file": "3"}.',
            "2.13",
        )
    return found


# --- authorization ------------------------------------------------------------


def authorization_findings(plugins, silence):
    """Findings for the authorization plugins dockerd is told to use
    (``plugins``), with ``silence`` {name: why} for those that would not
    answer it (an empty why for those that would)."""
    found = []
    if not plugins:
        found.append(
            finding(
                "daemon-no-authorization",
                "low",
                "No authorization plugin for Docker client commands",
                "daemon",
                'dockerd has no --authorization-plugin and daemon.json "authorization-plugins" is empty: '
                "whoever reaches the daemon may do everything",
                "Enable dockerlab's authorization plugin (docker_access_authz: true, with "
                "docker_access_tcp: tls) and name the users it restricts (docker_access_restricted_users).",
                "2.12",
            )
        )
    for name in plugins:
        if not silence.get(name):
            continue
        if name == PLUGIN_NAME:
            remediation = (
                f"Start it (systemctl start {PLUGIN_NAME}.socket) or install it again with the "
                "docker_access role (docker_access_authz: true)."
            )
        else:
            remediation = "Start the plugin, or stop naming it (authorization-plugins or the flag)."
        found.append(
            finding(
                "daemon-authorization-plugin-silent",
                "high",
                f"Authorization plugin {name} does not answer",
                "daemon",
                f"{silence[name]}: dockerd fails every API call while a plugin it uses does not answer, "
                "and does not start or reload with it",
                remediation,
            )
        )
    return found


def certificate_end(text):
    """The end of a certificate's validity in seconds since the epoch, from
    ``openssl x509 -noout -enddate`` output (``notAfter=Jan  1 00:00:00 2030
    GMT``), or None when the text is not that."""
    key, _sep, value = text.strip().partition("=")
    if key != "notAfter":
        return None
    try:
        return ssl.cert_time_to_seconds(value)
    except ValueError:
        return None


def revoked_bundle_finding(user, path, not_after, now, enforced):
    """The finding for revoked ``user``'s client certificate at ``path``, or
    None when it has expired. ``not_after``: the end of its validity in
    seconds since the epoch, or why it is not known (a str); ``enforced``:
    whether dockerd uses dockerlab's plugin, which refuses the user."""
    if isinstance(not_after, str):
        valid = f"present, its expiry unknown ({not_after})"
    elif not_after <= now:
        return None
    else:
        valid = f"valid until {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(not_after))}"
    if enforced:
        refused = f"dockerd accepts it and only {PLUGIN_NAME} refuses the user"
    else:
        refused = f"dockerd does not use {PLUGIN_NAME}, so nothing refuses it"
    return finding(
        "revoked-bundle-present",
        "medium",
        f"Revoked user {user} still has a valid client certificate",
        path,
        f"{user} is revoked in the authorization policy, but {path} is {valid}; {refused}",
        f"Delete {user}'s client bundle in {os.path.dirname(path)} and keep {user} revoked until the "
        "certificate expires: dockerd checks no revocation list.",
    )


def user_home(name):
    """The home directory of user ``name``, or None when there is no such user."""
    try:
        return pwd.getpwnam(str(name)).pw_dir
    except (KeyError, ValueError):
        return None


# --- files --------------------------------------------------------------------


def mode_findings(path, st, owner, group, max_mode, fid, cis, severity="medium", label=None):
    """Findings when ``path`` is owned by someone else or has bits beyond ``max_mode``."""
    found = []
    label = label or path
    user, grp_name = owner_names(st)
    mode = stat.S_IMODE(st.st_mode)
    if user != owner or (group is not None and grp_name != group):
        want = f"{owner}:{group}" if group else owner
        found.append(
            finding(
                fid,
                severity,
                f"{label} has the wrong owner",
                path,
                f"owned by {user}:{grp_name}, expected {want}",
                f"chown {want} {path}",
                cis[0],
            )
        )
    if mode & ~max_mode:
        found.append(
            finding(
                fid,
                severity,
                f"{label} has loose permissions",
                path,
                f"mode {mode:04o}, expected {max_mode:04o} or stricter",
                f"chmod {max_mode:04o} {path}",
                cis[1],
            )
        )
    return found


def pid_namespace(pid):
    """The PID namespace of a process (``self`` for this one), or None."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def process_name(pid):
    """The comm of a process, or None when it has exited meanwhile (ESRCH)."""
    try:
        return read_text(f"/proc/{pid}/comm")
    except OSError:
        return None


def dockerd_pids():
    """The processes named dockerd in this PID namespace. A dockerd inside a
    container (Docker in Docker, a lab host) shows in /proc too, but it is not
    this host's daemon."""
    own = pid_namespace("self")
    return [
        p
        for p in os.listdir("/proc")
        if p.isdigit() and process_name(p) == "dockerd\n" and pid_namespace(p) == own
    ]


class Auditor:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.findings = []
        self.daemon = {"reachable": False, "version": "", "api_version": "", "listeners": [], "containers": 0}
        self.authz = {}

    def api(self, path):
        status, body = request(UnixHTTPConnection(self.params["socket"], timeout=10), "GET", path)
        if status != 200:
            raise OSError(f"GET {path} answered HTTP {status}: {str(body)[:200]}")
        return body

    def run(self):
        config = self.daemon_json()
        info = self.engine(config)
        running, unit = self.running_argv(), self.unit_argv()
        self.listeners(config, running, unit)
        self.findings += settings_findings(config, info)
        self.authorization(config, [running, unit])
        self.tls_files(config)
        self.group_members()
        self.files()
        self.findings.sort(key=lambda f: (-RANK[f["severity"]], f["target"], f["id"]))
        counts = {name: 0 for name in SEVERITIES}
        for item in self.findings:
            counts[item["severity"]] += 1
        worst = max((RANK[f["severity"]] for f in self.findings), default=None)
        return {
            "changed": False,
            "findings": self.findings,
            "counts": counts,
            "max_severity": "none" if worst is None else SEVERITIES[worst],
            "daemon": self.daemon,
            "authorization": self.authz,
        }

    def daemon_json(self):
        path = self.params["daemon_json"]
        try:
            config, error = parse(read_text(path))
        except (OSError, UnicodeDecodeError) as exc:
            config, error = None, f"cannot be read: {exc}"
        if error:
            self.findings.append(
                finding(
                    "daemon-json-invalid",
                    "high",
                    "daemon.json is not valid JSON",
                    path,
                    f"{path} {error}",
                    "Fix the file: dockerd refuses to start with it.",
                )
            )
            return {}
        return config

    def engine(self, config):
        try:
            version = self.api("/version")
            info = self.api("/info")
            listing = self.api("/containers/json?all=1")
        except OSError as exc:
            self.findings.append(
                finding(
                    "daemon-unreachable",
                    "high",
                    "The Docker API does not answer on the Unix socket",
                    "daemon",
                    f"{self.params['socket']}: {exc}",
                    "Start docker.service; the containers could not be audited.",
                )
            )
            return {}
        self.daemon.update(
            reachable=True,
            version=version.get("Version", ""),
            api_version=version.get("ApiVersion", ""),
            containers=len(listing),
        )
        for item in listing:
            try:
                detail = self.api(f"/containers/{item['Id']}/json")
            except OSError as exc:
                self.module.warn(f"Could not inspect container {item['Id'][:12]}: {exc}")
                continue
            self.findings += container_findings(detail, self.params["socket"], daemon_config=config)
        return info

    def running_argv(self):
        """The command line of the running dockerd, or None."""
        systemctl = self.module.get_bin_path("systemctl")
        rc, out, _err = (
            self.module.run_command([systemctl, "show", "--property=MainPID", "--value", self.params["unit"]])
            if systemctl
            else (1, "", "")
        )
        pids = [out.strip()] if rc == 0 and out.strip() not in ("", "0") else []
        if not pids:
            pids = dockerd_pids()
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    raw = handle.read()
            except OSError:
                continue
            argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
            if argv:
                return argv
        return None

    @staticmethod
    def unit_files(name):
        """The unit file of ``name`` and its drop-ins, in the order systemd
        applies them."""
        return unit_file(name), unit_dropins(name)

    def unit_argv(self):
        """The effective ExecStart of the unit after its drop-ins, or None."""
        path = unit_file(self.params["unit"])
        if path is not None:
            self.daemon["unit_file"] = path
        return effective_exec_start(self.params["unit"], read_text)

    def listeners(self, config, running, unit):
        """The TCP listeners of the running dockerd's command line
        (``running``), the unit's (``unit``), its sockets and daemon.json."""
        sources = []
        if running:
            sources.append(("the running dockerd", running))
        if unit:
            sources.append((f"{self.params['unit']} and its drop-ins", unit))
        found = [item for source, argv in sources for item in command_listeners(argv, config, source)]
        # Sockets systemd holds and hands to dockerd (fd://): the insecure
        # lab's or a TLS one, in docker.socket or a socket unit of its own.
        sockets = service_sockets(self.params["unit"], read_text)
        found += socket_listeners(sockets, running or unit, config)
        for url in config.get("hosts") or []:
            verify = bool(config.get("tlsverify"))
            found.append(
                {
                    "url": url,
                    "source": self.params["daemon_json"],
                    "tls": bool(config.get("tls")) or verify,
                    "tlsverify": verify,
                    "flags": {},
                }
            )
        self.daemon["listeners"] = [{k: v for k, v in item.items() if k != "flags"} for item in found]
        self.findings += listener_findings(found)
        self._tls_paths = {}
        for item in found:
            for key in ("tlscacert", "tlscert", "tlskey"):
                if item["flags"].get(key):
                    self._tls_paths[key] = item["flags"][key]
        for key in ("tlscacert", "tlscert", "tlskey"):
            if config.get(key):
                self._tls_paths.setdefault(key, config[key])

    def authorization(self, config, argvs):
        """The authorization plugins of the dockerd command lines in
        ``argvs`` and daemon.json (CIS 2.12), whether they answer,
        dockerlab's policy, and the revoked users' certificates still valid."""
        plugins = configured_plugins(argvs, config)
        answers = functools.cache(authz_plugin_answers)
        silence = {name: plugin_silence(name, PLUGINS_DIR, PLUGIN_SPEC_DIRS, answers) for name in plugins}
        self.findings += authorization_findings(plugins, silence)
        sock = plugin_socket(PLUGIN_NAME, PLUGINS_DIR)
        policy = {
            "enabled": PLUGIN_NAME in plugins,
            "answers": os.path.exists(sock) and answers(sock)[0],
            "restricted": [],
            "revoked": [],
            "policy_file": POLICY_FILE,
            "readable": False,
        }
        try:
            read = read_policy(read_text(POLICY_FILE))
        except (OSError, UnicodeDecodeError):
            read = None
        if read is not None:
            policy.update(restricted=read[0], revoked=read[1], readable=True)
        self.authz = {"plugins": plugins, "dockerlab_policy": policy}
        self.revoked_bundles(policy["revoked"], policy["enabled"])

    def revoked_bundles(self, users, enforced):
        """A finding for each revoked user of this host whose client
        certificate (~/.docker/cert.pem) has not expired."""
        openssl = self.module.get_bin_path("openssl")
        now = time.time()
        for user in users:
            home = user_home(user)
            path = os.path.join(home, ".docker", "cert.pem") if home else None
            if path is None or not os.path.isfile(path):
                continue
            if openssl:
                rc, out, err = self.module.run_command([openssl, "x509", "-noout", "-enddate", "-in", path])
                end = certificate_end(out) if rc == 0 else None
                not_after = end if end is not None else f"openssl cannot read it: {(err or out).strip()}"
            else:
                not_after = "no openssl on the host to read it"
            item = revoked_bundle_finding(user, path, not_after, now, enforced)
            if item:
                self.findings.append(item)

    def tls_files(self, config):
        for key, max_mode, cis, label in (
            ("tlscacert", 0o444, ("3.9", "3.10"), "TLS CA certificate"),
            ("tlscert", 0o444, ("3.11", "3.12"), "TLS server certificate"),
            ("tlskey", 0o400, ("3.13", "3.14"), "TLS server key"),
        ):
            path = getattr(self, "_tls_paths", {}).get(key)
            if not path:
                continue
            try:
                st = os.stat(path)
            except OSError as exc:
                self.findings.append(
                    finding(
                        "daemon-tls-file-missing",
                        "high",
                        f"{label} missing",
                        path,
                        str(exc),
                        "Install the file or fix the flag: dockerd will not start.",
                        cis[0],
                    )
                )
                continue
            severity = "high" if key == "tlskey" and stat.S_IMODE(st.st_mode) & 0o044 else "medium"
            self.findings += mode_findings(
                path, st, "root", "root", max_mode, "daemon-tls-file-permissions", cis, severity, label
            )

    def group_members(self):
        name = self.params["group"]
        try:
            group = grp.getgrnam(name)
        except KeyError:
            return
        members = set(group.gr_mem)
        members.update(u.pw_name for u in pwd.getpwall() if u.pw_gid == group.gr_gid)
        self.daemon["group_members"] = sorted(members)
        if members:
            self.findings.append(
                finding(
                    "docker-group-members",
                    "medium",
                    f"Members of the {name} group are root-equivalent",
                    f"group:{name}",
                    f"{', '.join(sorted(members))} can control the daemon (root on the host)",
                    "Keep only people you would give root to (docker_access_users, docker_access_exclusive).",
                    "1.1.2",
                )
            )

    def files(self):
        unit = self.params["unit"]
        # docker.socket, and every socket unit that hands the daemon a socket
        # (Sockets=, e.g. the TCP listener's): whoever may write one decides
        # where and how the API listens.
        socket_units = [name for name, _streams in service_sockets(unit, read_text)]
        socket_units = socket_units or [unit.replace(".service", ".socket")]
        for name, fid, cis in (
            (unit, "file-docker-service", ("3.1", "3.2")),
            *((socket_unit, "file-docker-socket-unit", ("3.3", "3.4")) for socket_unit in socket_units),
        ):
            unit_file, extra = self.unit_files(name)
            for path in [unit_file, *extra] if unit_file else extra:
                label = name if path == unit_file else f"drop-in {path}"
                self.findings += mode_findings(
                    path, os.stat(path), "root", "root", 0o644, fid, cis, label=label
                )
        etc = os.path.dirname(self.params["daemon_json"])
        for path, max_mode, fid, cis in (
            (etc, 0o755, "file-etc-docker", ("3.5", "3.6")),
            (self.params["daemon_json"], 0o644, "file-daemon-json", ("3.17", "3.18")),
        ):
            if os.path.exists(path):
                self.findings += mode_findings(path, os.stat(path), "root", "root", max_mode, fid, cis)
        sock = self.params["socket"]
        if os.path.exists(sock):
            st = os.stat(sock)
            severity = "critical" if stat.S_IMODE(st.st_mode) & 0o006 else "medium"
            self.findings += mode_findings(
                sock,
                st,
                "root",
                self.params["group"],
                0o660,
                "file-docker-sock",
                ("3.15", "3.16"),
                severity,
                "the Docker socket",
            )


def main():
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "default": DEFAULT_SOCKET},
            "daemon_json": {"type": "path", "default": DEFAULT_PATH},
            "unit": {"type": "str", "default": "docker.service"},
            "group": {"type": "str", "default": "docker"},
        },
        supports_check_mode=True,
    )
    module.exit_json(**Auditor(module).run())


if __name__ == "__main__":
    main()

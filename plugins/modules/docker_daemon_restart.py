#!/usr/bin/python
# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docker_daemon_restart
short_description: Reload or restart the Docker daemon safely, and roll back a configuration it refuses
description:
  - Applies the configuration changed since the daemon last started, with a
    reload (SIGHUP through C(systemctl reload)) where dockerd can reload every
    changed setting, and with a restart otherwise. It reports which it did and
    why (RV(applied), RV(reason)).
  - B(Reload or restart.) With O(mode=auto) it reloads only when the rollback
    stash says that daemon.json (O(daemon_json)) is the only file changed and
    every top-level key that differs between the version the daemon runs with
    (the stash's) and the file now is one the running dockerd applies on SIGHUP
    (moby's C(Daemon.Reload), read for Docker 20.10, 26.1 and 28.5, and
    checked against the running daemon's C(GET /version)). Those are
    C(debug), C(labels), C(live-restore), C(registry-mirrors),
    C(insecure-registries), C(max-concurrent-downloads),
    C(max-concurrent-uploads), C(max-download-attempts), C(shutdown-timeout),
    C(runtimes), C(default-runtime), C(features), C(default-shm-size),
    C(default-ipc-mode), C(default-cgroupns-mode), C(network-diagnostic-port),
    and C(allow-nondistributable-artifacts) before Docker 28. Removing a key
    that dockerd keeps at its current value when it is absent (C(debug),
    C(labels), C(live-restore), C(registry-mirrors), C(insecure-registries),
    C(runtimes), C(shutdown-timeout), the C(default-*) keys) restarts it.
    A TLS file, a unit drop-in or any other key restarts it too; so does a
    TLS file the daemon loads at start (its C(--tlscacert), C(--tlscert),
    C(--tlskey), or daemon.json's) written after its main process started,
    whoever wrote it.
  - C(authorization-plugins) is reloaded too (checked by the journal's
    C(Reloaded configuration), since C(GET /info) goes on showing the plugins
    dockerd started with). dockerd exits when a plugin it is told to use does
    not answer, at a reload as at a start. Before either, every plugin
    daemon.json names must answer C(/Plugin.Activate) on its socket in
    C(/run/docker/plugins) (or have a spec file in C(/etc/docker/plugins) or
    C(/usr/lib/docker/plugins)). Where one does not, the module rolls back
    the stash and fails, naming the plugin, without reloading or restarting.
  - After a reload it checks that the daemon took the new values, within 10
    seconds. C(GET /info) must show them (mirrors, insecure registries, debug,
    labels, live-restore, runtimes, default runtime), dockerd must have logged
    C(Reloaded configuration) for the keys C(GET /info) does not show, and
    its main process must be the same. A value the daemon did not take is
    treated as needing a restart, and the module restarts. A reload dockerd
    refuses (an error about its configuration in its journal) is rolled back
    with a second reload of the previous files, without a restart, and the
    module fails quoting dockerd.
  - B(Restart.) Reloads systemd when unit files changed, resets the unit's
    start-rate counter, restarts the daemon, then waits until C(GET /_ping)
    answers on the Unix socket and on the daemon's TLS listener with a client
    certificate, within O(timeout) seconds. Sockets that socket units hold
    for the daemon (Debian's C(docker.socket), the listener unit of
    M(dockerlab.docker.docker_daemon_listener)) keep accepting meanwhile.
  - B(A changed socket unit.) When the C([Socket]) settings of a socket unit
    (or of its drop-ins) in the stash changed, a restart stops the daemon,
    restarts that socket unit (stops one whose file is gone), and starts the
    daemon, because systemd binds a socket again only when its unit starts, and
    refuses to start it while the service it hands sockets to runs. New
    connections to its TCP ports are held back meanwhile (their SYNs
    dropped by an C(iptables)/C(ip6tables) rule on INPUT, which the client
    retries a second later), so that a port dockerd held until it stopped is
    handed over to systemd without a refused connection. The rules are
    always removed, and an interrupted run's are removed by the next one; a
    reboot clears them too. Without C(iptables), nothing is held. A socket
    unit that does not start (its port taken by another program) counts as
    a refused configuration and is rolled back the same way.
  - The TLS listener is the one given in O(tls); without it, the one the unit
    makes dockerd listen on (a C(tcp://) host with C(--tlsverify) in its
    ExecStart after its drop-ins, or a TCP C(ListenStream=) of a socket unit
    that hands its socket to the unit, taken with C(-H fd://) and the same
    TLS flags, as M(dockerlab.docker.docker_daemon_listener) writes either),
    checked with the client bundle in O(tls_bundle) when there is one there.
  - When it restarted or started the daemon, it sets the fact
    C(dockerlab_daemon_restarted) to true. M(dockerlab.docker.docker_host_facts)
    sets it false, and the roles read the daemon's containers and images again
    after a restart instead of deciding on what the daemon said before.
  - A daemon that answers but wrote in its journal, since the restart, that it
    could not create its bridge network, or that had the default bridge
    network (docker0) before and lacks it a few seconds after answering,
    counts as having refused the configuration. dockerd 20.10 and 26.1 with
    live-restore come up that way, only warning, when they cannot set up the
    bridge (e.g. userland-proxy false on a read-only /proc/sys).
  - If the daemon does not come back, restores the files saved in the rollback
    stash by M(dockerlab.docker.docker_daemon_config) and M(dockerlab.docker.docker_daemon_listener) (the last
    versions the daemon ran with), reloads, restarts again and fails with the
    daemon's own error from the journal and the words C(rolled back).
  - On success (reload or restart) the stash is cleared; the current files
    are the new known-good configuration.
  - With O(only_if_pending=true) it restarts only when the stash holds changes
    that no successful restart has confirmed yet, which is the case after a run
    was interrupted between a change and its restart.
  - Reports how long the API was unavailable after a restart; a reload keeps
    it available.
  - Only the Python standard library is needed on the managed host.
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
options:
  unit:
    description: The systemd unit of the daemon.
    type: str
    default: docker.service
  timeout:
    description: Seconds to wait for the API to answer after each restart.
    type: int
    default: 60
  socket:
    description: The daemon's Unix socket.
    type: path
    default: /var/run/docker.sock
  tls:
    description:
      - Also wait for the TLS listener, with a client certificate. Omit when the
        daemon has no TLS listener.
    type: dict
    suboptions:
      host:
        description: Address to connect to; must be in the server certificate's names.
        type: str
        default: 127.0.0.1
      port:
        description: TLS port.
        type: int
        default: 2376
      ca_cert:
        description: CA certificate to verify the daemon with.
        type: path
        required: true
      cert:
        description: Client certificate.
        type: path
        required: true
      key:
        description: Client key.
        type: path
        required: true
  tls_bundle:
    description:
      - Directory of a client bundle (C(ca.pem), C(cert.pem), C(key.pem)) to
        check the unit's TLS listener with, when O(tls) is not given. Where
        the directory has no complete bundle, or the unit has no TLS
        listener, only the Unix socket is waited for.
      - Empty turns the check of the unit's listener off.
    type: path
    default: /root/.docker
  only_if_pending:
    description: Restart only when the rollback stash holds unconfirmed changes.
    type: bool
    default: false
  mode:
    description:
      - C(auto) reloads where every pending change is one dockerd reloads, and
        restarts otherwise. C(restart) always restarts.
    type: str
    choices: [auto, restart]
    default: auto
  daemon_json:
    description: The daemon's configuration file, whose changed keys decide between a reload and a restart.
    type: path
    default: /etc/docker/daemon.json
  state:
    description:
      - C(restarted) applies the pending changes, with a reload or a restart
        as O(mode) says (without pending changes, it restarts). C(started) only starts it when
        C(systemctl is-active) does not say C(active) (stopped, failed after
        its start limit, waiting to be restarted after a crash), and reports
        no change otherwise; either way the start limit is reset first and
        the module waits for the API.
    type: str
    choices: [restarted, started]
    default: restarted
  stash_dir:
    description: Directory of the rollback stash.
    type: path
    default: /var/lib/dockerlab/rollback
attributes:
  check_mode:
    support: full
    description:
      - Reports whether the daemon would be reloaded or restarted, without doing either.
      - A check run makes no change for the module to look at, so after one
        that only predicted a change it reports a restart.
  diff_mode:
    support: none
    description: Restarts a service and restores files; there is no file text to compare.
  facts:
    support: full
    description: Sets C(dockerlab_daemon_restarted) when it restarted or started the daemon.
  platform:
    platforms: posix
    support: full
    description: Linux hosts with systemd and Docker (Debian 12 and 13 are tested).
notes:
  - Debian's docker.service allows 3 starts in 60 seconds; a restart, a refused
    restart and the rollback restart could exhaust that, so the module runs
    C(systemctl reset-failed) before each restart it makes.
"""

EXAMPLES = r"""
- name: Reload Docker where it can reload the change, else restart it (root's bundle checks the TLS listener)
  dockerlab.docker.docker_daemon_restart:
    timeout: 60
  register: docker_applied

- name: Say which it did, and why
  ansible.builtin.debug:
    msg: "{{ docker_applied.msg | default('Nothing to apply') }}"

- name: Always restart, whatever changed
  dockerlab.docker.docker_daemon_restart:
    mode: restart

- name: Restart Docker, wait for a TLS listener named here
  dockerlab.docker.docker_daemon_restart:
    tls:
      host: docker.example.org
      port: 2376
      ca_cert: /etc/ssl/docker/ca.pem
      cert: /etc/ssl/docker/cert.pem
      key: /etc/ssl/docker/key.pem

- name: Start Docker if it is not running (reset its start limit first), wait for the API
  dockerlab.docker.docker_daemon_restart:
    state: started

- name: Finish a restart an interrupted run owed
  dockerlab.docker.docker_daemon_restart:
    only_if_pending: true
"""

RETURN = r"""
restarted:
  description: Whether the daemon was restarted or started (would be, in check mode).
  returned: always
  type: bool
  sample: true
reloaded:
  description: Whether the daemon applied the change with a reload, same process (would, in check mode).
  returned: always
  type: bool
  sample: false
applied:
  description:
    - What the module did, C(reload), C(restart) or C(start); C(none) when
      nothing was pending or the daemon was already active.
    - C(restart) after a reload the daemon did not take.
    - Not named C(action), which callbacks such as ansible.posix.json
      overwrite with the module's name.
  returned: always
  type: str
  sample: reload
reason:
  description: Why it reloaded, restarted or started.
  returned: always
  type: str
  sample: dockerd 26.1 reloads every changed key (registry-mirrors) on SIGHUP
changed_keys:
  description: The top-level daemon.json keys that changed since the daemon last started (empty when unknown).
  returned: always
  type: list
  elements: str
  sample: [registry-mirrors]
pid:
  description: The daemon's main process after the reload or restart (0 when nothing was done).
  returned: always
  type: int
  sample: 4242
msg:
  description: One line saying what was done and why.
  returned: when the daemon was reloaded, restarted or started
  type: str
  sample: 'Reloaded docker.service: dockerd 26.1 reloads every changed key (registry-mirrors) on SIGHUP.'
daemon_reload:
  description: Whether systemd reloaded its units first.
  returned: always
  type: bool
  sample: true
rolled_back:
  description: Whether the stashed configuration was restored after a refused restart.
  returned: always
  type: bool
  sample: false
restored_files:
  description: Files put back by the rollback.
  returned: always
  type: list
  elements: str
  sample: [/etc/docker/daemon.json]
tls_listener:
  description: The TLS listener waited for (C(HOST:PORT)); empty when only the Unix socket was.
  returned: always
  type: str
  sample: 127.0.0.1:2376
sockets:
  description: The socket units a restart started again (their C([Socket]) settings changed).
  returned: always
  type: list
  elements: str
  sample: [dockerlab-listener.socket]
held_ports:
  description: The TCP ports whose new connections were held back while those socket units started.
  returned: always
  type: list
  elements: int
  sample: [2376]
downtime:
  description: Seconds from the restart until the API answered again (0 when not restarted).
  returned: always
  type: float
  sample: 1.42
daemon_error:
  description: The daemon's own error lines from the journal when it did not come back.
  returned: on failure
  type: str
  sample: 'failed to start daemon: the following directives don''t match any configuration option: bogus'
"""

import contextlib
import http.client
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockerlab.docker.plugins.module_utils._api import (
    DEFAULT_SOCKET,
    UnixHTTPConnection,
    ping_tls,
    ping_unix,
    request,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import (
    PLUGIN_NAME,
    SOCKET_UNIT_NAME,
    configured_plugins,
    silent_plugins,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import DEFAULT_PATH, parse
from ansible_collections.dockerlab.docker.plugins.module_utils._files import (
    DEFAULT_STASH_DIR,
    Stash,
    read_text,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import RESTARTED_FACT
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import (
    command_listeners,
    daemon_flags,
    local_address,
    socket_listeners,
    split_tcp,
    stream_url,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._reload import (
    decide,
    not_taken,
    parse_version,
    shown_in_info,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import (
    effective_exec_start,
    section_values,
    service_sockets,
    socket_settings,
    socket_unit_name,
    unit_file,
    unit_text,
)

_ERROR_MARKERS = ("failed to start daemon", "level=fatal", "level=error", "unable to", "failed")
_NOISE_MARKERS = ("level=info", "level=warning", "level=debug")
# Warnings that mean the daemon came up broken, quoted even so.
_BROKEN_MARKERS = ("could not create bridge network", "Unable to enable local routing")
# journalctl --output short-unix: "1732851399.052225 HOST dockerd[4644]: MESSAGE".
JOURNAL_LINE = re.compile(r"^(\d+(?:\.\d+)?) \S+ [^:]+: (.*)$")
# After /_ping answers, how long the default bridge may take to appear.
BRIDGE_GRACE = 5.0


# What dockerd logs once SIGHUP applied daemon.json (daemon/reload.go).
RELOADED_MARKER = "Reloaded configuration"
# At most this long (and never longer than ``timeout``) for a reload to show.
RELOAD_WAIT = 10.0


# What dockerd logs, at level error or fatal, when it refuses a reload:
# "unable to configure the Docker daemon with file ...", "file configuration
# validation failed", "Error reconfiguring the daemon" (20.10, 26.1), "Error
# reloading configuration" (28), "Error validating authorization plugin".
_RELOAD_REFUSALS = ("configur", "reload", "validat", "directive")


def reload_errors(journal_text):
    """The lines of a daemon's journal since a SIGHUP that say it refused the
    new configuration: errors (or fatal ones) about its configuration. Docker
    28 logs "Reloaded configuration" even after such an error, so these
    decide first."""
    return [
        line.strip()
        for line in journal_text.splitlines()
        if ("level=error" in line or "level=fatal" in line)
        and any(word in line.lower() for word in _RELOAD_REFUSALS)
    ]


def _clocks():
    """The wall clock and the boot-time clock (which counts from boot,
    suspend included, as /proc/PID/stat's start times do), read together."""
    return time.time(), time.clock_gettime(time.CLOCK_BOOTTIME)


def process_started(pid, proc="/proc", clocks=_clocks):
    """When process ``pid`` started, in epoch seconds, to the clock tick:
    its start time after boot (/proc/PID/stat, in ticks of the boot-time
    clock) placed on the wall clock by reading both clocks now. (/proc/stat's
    btime is whole seconds, too coarse for a file written just before a
    restart.) None when it cannot be read."""
    try:
        with open(f"{proc}/{int(pid)}/stat", encoding="utf-8") as handle:
            # The command name may hold spaces: the fields after it are fixed.
            fields = handle.read().rsplit(")", 1)[1].split()
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    wall, since_boot = clocks()
    return wall - (since_boot - started_after_boot)


def bridge_exists(socket_path):
    """Whether the daemon has its default bridge network (docker0)."""
    try:
        status = request(UnixHTTPConnection(socket_path, timeout=2), "GET", "/networks/bridge")[0]
    except (OSError, http.client.HTTPException):
        return False
    return status == 200


def error_lines(journal_text, limit=5):
    """The lines of a daemon journal that say what went wrong (last ``limit``),
    or its last lines that are not routine (info, warning) when none does."""
    lines = [line.strip() for line in journal_text.splitlines() if line.strip()]
    marked = [
        line
        for line in lines
        if (any(m in line.lower() for m in _ERROR_MARKERS) and not any(m in line for m in _NOISE_MARKERS))
        or any(m in line for m in _BROKEN_MARKERS)
    ]
    quiet = [line for line in lines if not any(m in line for m in _NOISE_MARKERS)]
    return (marked or quiet or lines)[-limit:]


def unit_tls_listener(unit, bundle, daemon_json=DEFAULT_PATH, read=read_text):
    """The TLS check of the listener the unit makes dockerd listen on: a
    tcp:// host of its effective ExecStart, or a TCP socket a socket unit
    hands it (with -H fd://), with --tlsverify, to reach from the host
    itself with the client bundle in ``bundle``; None when there is none,
    no complete bundle, or the files cannot be read."""
    files = {name: f"{bundle}/{name}" for name in ("ca.pem", "cert.pem", "key.pem")} if bundle else {}
    try:
        if not files or any(read(path) is None for path in files.values()):
            return None
        config = parse(read(daemon_json))[0] or {}
        argv = effective_exec_start(unit, read)
    except (OSError, UnicodeDecodeError):
        return None
    listeners = command_listeners(argv, config, unit)
    listeners += socket_listeners(service_sockets(unit, read), argv, config)
    for item in listeners:
        parts = split_tcp(item["url"]) if item["tlsverify"] else None
        if parts and parts[1].isdecimal():
            return {
                "host": local_address(parts[0]),
                "port": int(parts[1]),
                "ca_cert": files["ca.pem"],
                "cert": files["cert.pem"],
                "key": files["key.pem"],
            }
    return None


def changed_sockets(paths, saved_text, read=read_text):
    """The socket units among the changed unit files and drop-ins ``paths``
    whose [Socket] settings differ from the saved versions (``saved_text``:
    the stash's), sorted: systemd binds their sockets again only when they
    restart, which needs the daemon they hand sockets to stopped."""
    names = set()
    for path in paths:
        name = socket_unit_name(path)
        if name is None:
            continue
        saved, before = saved_text(path)
        if not saved or socket_settings(before) != socket_settings(read(path)):
            names.add(name)
    return sorted(names)


def stream_ports(text):
    """The TCP ports of a socket unit's ListenStream= values."""
    ports = []
    for listen in section_values(text, "Socket", "ListenStream"):
        parts = split_tcp(stream_url(listen) or "")
        if parts and parts[1].isdecimal() and int(parts[1]) not in ports:
            ports.append(int(parts[1]))
    return ports


# The comment on the firewall rules that hold a port's new connections back
# while a socket unit takes the port over (see Restarter.hold_syns).
HOLD_COMMENT = "dockerlab-listener-handover"


def hold_rule(port):
    """The INPUT rule that drops the SYNs of new connections to ``port``."""
    return [
        *("INPUT", "-p", "tcp", "--dport", str(port), "--syn"),
        *("-m", "comment", "--comment", HOLD_COMMENT, "-j", "DROP"),
    ]


def held_rules(listing):
    """The rules of ``iptables -S INPUT`` output that hold_syns inserted, as
    argument lists for -D (what an interrupted run may have left)."""
    rules = []
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0] == "-A" and HOLD_COMMENT in parts:
            rules.append([part.strip('"') for part in parts[1:]])
    return rules


def host_port(host, port):
    """HOST:PORT, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def is_unit_file(path):
    """Whether ``path`` is a systemd unit file or drop-in."""
    return "/systemd/" in path and path.endswith((".conf", ".service", ".socket"))


class Restarter:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.unit = self.params["unit"]
        self.stash = Stash(self.params["stash_dir"])
        self.had_bridge = False
        # The socket units whose sockets a restart binds again (cycle_sockets).
        self.sockets = []
        self.systemctl = module.get_bin_path("systemctl", required=True)
        self.result = {
            "changed": False,
            "restarted": False,
            "daemon_reload": False,
            "rolled_back": False,
            "restored_files": [],
            "tls_listener": "",
            "downtime": 0.0,
            "reloaded": False,
            "applied": "none",
            "reason": "",
            "changed_keys": [],
            "pid": 0,
            "sockets": [],
            "held_ports": [],
        }

    def systemctl_run(self, *args):
        return self.module.run_command([self.systemctl, *args])

    def needs_reload(self, changed_files):
        """True when a changed file is a unit file or drop-in (systemd does not
        notice a drop-in in a directory that did not exist when it loaded the
        unit), or when systemd itself says so."""
        if any(is_unit_file(path) for path in changed_files):
            return True
        rc, out, _err = self.systemctl_run("show", "--property=NeedDaemonReload", "--value", self.unit)
        return rc == 0 and out.strip() == "yes"

    def wait_api(self, deadline, tls):
        """Poll until every endpoint answers or the deadline passes. Returns
        (ok, why) where why is the last failure. A daemon that had its
        default bridge network before must have it again."""
        why = "no answer"
        answered = None
        while True:
            ok, why = ping_unix(self.params["socket"], timeout=2)
            if ok and self.had_bridge and not bridge_exists(self.params["socket"]):
                answered = answered or time.monotonic()
                if time.monotonic() - answered >= BRIDGE_GRACE:
                    return False, (
                        "the daemon answers, but its default bridge network (docker0) did not come "
                        "back: containers could not be started or publish ports"
                    )
                ok, why = False, "the default bridge network is not there yet"
            if ok and tls:
                ok, why = ping_tls(
                    tls["host"], tls["port"], tls["ca_cert"], tls["cert"], tls["key"], timeout=2
                )
                why = f"TLS listener {host_port(tls['host'], tls['port'])}: {why}"
            elif not ok:
                why = f"Unix socket {self.params['socket']}: {why}"
            if ok:
                return True, ""
            if time.monotonic() >= deadline:
                return False, why
            time.sleep(0.2)

    def tls_check(self):
        """The TLS listener to wait for: O(tls), else the unit's (with
        O(tls_bundle)), else None."""
        tls = self.params["tls"] or unit_tls_listener(self.unit, self.params["tls_bundle"])
        self.result["tls_listener"] = host_port(tls["host"], tls["port"]) if tls else ""
        return tls

    def restart_and_wait(self, changed_files, tls_check=True):
        """One restart attempt, waiting for the Unix socket and, with
        ``tls_check``, for the TLS listener of the unit as it is now.
        Returns (ok, why)."""
        if self.needs_reload(changed_files):
            rc, _out, err = self.systemctl_run("daemon-reload")
            if rc != 0:
                return False, f"systemctl daemon-reload failed: {err.strip()}"
            self.result["daemon_reload"] = True
        tls = self.tls_check() if tls_check else None
        self.systemctl_run("reset-failed", self.unit)
        since = time.time()
        if self.sockets:
            ok, why = self.cycle_sockets()
            if not ok:
                return False, why
        else:
            rc, _out, err = self.systemctl_run("restart", self.unit)
            if rc != 0:
                return False, f"systemctl restart {self.unit} failed: {err.strip()}"
        ok, why = self.wait_api(time.monotonic() + self.params["timeout"], tls)
        if ok:
            # Some refusals are only warnings: dockerd 20.10 with live-restore
            # starts without its bridge when it cannot set it up.
            broken = [
                line for line in self.journal(since).splitlines() if any(m in line for m in _BROKEN_MARKERS)
            ]
            if broken:
                return False, f"the daemon started, but not as configured: {broken[-1].strip()}"
        return ok, why

    def cycle_sockets(self):
        """Stop the daemon, restart the changed socket units that are still
        installed (stop those that are not) and start the daemon: systemd
        refuses to start a socket unit whose service runs, and binds a
        socket again only when the socket unit starts. While they start, new
        connections to their TCP ports are held back (hold_syns), so that a
        port dockerd held until it stopped is taken over without a refused
        connection. Returns (ok, why)."""
        installed = [name for name in self.sockets if unit_file(name)]
        ports = sorted({port for name in installed for port in stream_ports(unit_text(name, read_text))})
        with self.hold_syns(ports):
            # A connection to docker.socket may start the daemon again before
            # a socket unit restarts: stop it once more and retry then.
            for _attempt in range(2):
                rc, _out, err = self.systemctl_run("stop", self.unit)
                if rc != 0:
                    return False, f"systemctl stop {self.unit} failed: {err.strip()}"
                failed = []
                for name in self.sockets:
                    since = time.time()
                    self.systemctl_run("reset-failed", name)
                    rc, _out, err = self.systemctl_run("restart" if name in installed else "stop", name)
                    if rc != 0:
                        # systemd says why first (the address in use), then that it failed.
                        said = error_lines(self.journal(since, name), limit=10)[:2]
                        failed.append(f"{name} did not start ({'; '.join(said) or err.strip()})")
                active = self.systemctl_run("is-active", self.unit)[1].strip() == "active"
                if not failed or not active:
                    break
        if failed:
            return False, "; ".join(failed)
        rc, _out, err = self.systemctl_run("start", self.unit)
        if rc != 0:
            return False, f"systemctl start {self.unit} failed: {err.strip()}"
        return True, ""

    @contextlib.contextmanager
    def hold_syns(self, ports):
        """While the block runs, drop the SYNs of new connections to
        ``ports`` (iptables and ip6tables, INPUT): a client then retries
        about a second later, when the socket unit listens, instead of being
        refused in the moment between dockerd closing the port and systemd
        binding it. Rules an interrupted run left are removed first, and the
        block's rules always after it. Without iptables, nothing is held."""
        tools = [tool for tool in map(self.module.get_bin_path, ("iptables", "ip6tables")) if tool]
        self.release_syns(tools)
        held = []
        try:
            for tool in tools if ports else []:
                for port in ports:
                    if self.module.run_command([tool, "-w", "-I", *hold_rule(port)])[0] == 0:
                        held.append(port)
            self.result["held_ports"] = sorted(set(held))
            yield
        finally:
            self.release_syns(tools)

    def release_syns(self, tools):
        for tool in tools:
            for rule in held_rules(self.module.run_command([tool, "-w", "-S", "INPUT"])[1]):
                self.module.run_command([tool, "-w", "-D", *rule])

    def journal(self, since, unit=None):
        """The unit's (by default the daemon's) journal messages logged at or
        after ``since`` (epoch seconds, fractional: a restart and its
        rollback can share a second)."""
        journalctl = self.module.get_bin_path("journalctl")
        if not journalctl:
            return ""
        since_second = f"@{int(since)}"
        out = self.module.run_command(
            [
                *(journalctl, "--unit", unit or self.unit, "--since", since_second),
                *("--no-pager", "--output", "short-unix"),
            ]
        )[1]
        messages = []
        for line in out.splitlines():
            match = JOURNAL_LINE.match(line)
            if not match:
                messages.append(line)  # no timestamp to go by: keep it
            elif float(match.group(1)) >= since:
                messages.append(match.group(2))
        return "\n".join(messages)

    def journal_errors(self, since):
        return "\n".join(error_lines(self.journal(since)))

    def main_pid(self):
        """The unit's main process (0 when it has none)."""
        rc, out, _err = self.systemctl_run("show", "--property=MainPID", "--value", self.unit)
        return int(out.strip()) if rc == 0 and out.strip().isdecimal() else 0

    def api_get(self, path):
        """GET ``path`` on the Unix socket: the parsed answer, or None."""
        try:
            status, body = request(UnixHTTPConnection(self.params["socket"], timeout=5), "GET", path)
        except (OSError, http.client.HTTPException):
            return None
        return body if status == 200 and isinstance(body, dict) else None

    def settings(self, text):
        """daemon.json's settings from its text, or None when it is no JSON object."""
        return parse(text)[0]

    def tls_files(self, config):
        """The TLS files dockerd loads when it starts: the unit's --tlscacert,
        --tlscert and --tlskey, else daemon.json's."""
        try:
            argv = effective_exec_start(self.unit, read_text) or []
        except (OSError, UnicodeDecodeError):
            argv = []
        given = daemon_flags(argv)
        return sorted(
            {given.get(key) or (config or {}).get(key) for key in ("tlscacert", "tlscert", "tlskey")}
            - {None, ""}
        )

    def changed_since_start(self, paths):
        """The files among ``paths`` written after the daemon's main process
        started: dockerd has not loaded them (the roles install TLS files with
        Ansible's copy, which the stash does not see)."""
        started = process_started(self.main_pid()) if paths else None
        if started is None:
            return []
        stale = []
        for path in paths:
            try:
                if os.stat(path).st_mtime > started:
                    stale.append(path)
            except OSError:
                continue
        return stale

    def decide(self, pending):
        """Reload or restart (dockerlab.docker's _reload.decide) for what the
        stash says changed since the daemon last started, and the TLS files
        written since it started."""
        path = self.params["daemon_json"]
        before = after = None
        if pending == [path]:
            try:
                after = self.settings(read_text(path))
            except (OSError, UnicodeDecodeError):
                after = None
            pending = sorted({*pending, *self.changed_since_start(self.tls_files(after))})
        if pending == [path]:
            saved, text = self.stash.saved_text(path)
            before = self.settings(text) if saved else None
        version = (
            parse_version((self.api_get("/version") or {}).get("Version")) if pending == [path] else None
        )
        return decide(pending, path, before, after, version), after

    def reload_and_verify(self, keys, config):
        """SIGHUP through ``systemctl reload``, then wait until the daemon
        shows it took ``keys`` (GET /info, or its journal for keys /info does
        not show). Returns ("ok" | "refused" | "not taken", why)."""
        since = time.time()
        pid = self.main_pid()
        rc, _out, err = self.systemctl_run("reload", self.unit)
        if rc != 0:
            return "not taken", f"systemctl reload {self.unit} failed: {err.strip()}"
        hidden = [key for key in keys if key not in shown_in_info(keys)]
        deadline = time.monotonic() + min(self.params["timeout"], RELOAD_WAIT)
        why = "the daemon did not answer GET /info"
        while True:
            journal = self.journal(since)
            refused = reload_errors(journal)
            if refused:
                return "refused", refused[-1]
            info = self.api_get("/info")
            if info is not None:
                differs = not_taken(keys, config, info)
                logged = not hidden or RELOADED_MARKER in journal
                if not differs and logged and self.main_pid() == pid:
                    return "ok", ""
                why = "; ".join(
                    f"{key} is {seen!r} in GET /info, not {wanted!r}"
                    for key, (wanted, seen) in differs.items()
                )
                if not why and not logged:
                    why = f"dockerd logged no {RELOADED_MARKER!r} for {', '.join(hidden)}"
                elif not why:
                    why = f"the daemon's main process changed from {pid} to {self.main_pid()}"
            if time.monotonic() >= deadline:
                return "not taken", why
            time.sleep(0.2)

    def roll_back(self, refusal, daemon_error):
        """Put the stash's files back (the versions the daemon last ran
        with) and return their paths; fail, saying how to do it by hand,
        when that fails."""
        try:
            restored = self.stash.restore()
        except OSError as exc:
            self.module.fail_json(
                msg=(
                    f"{refusal} and restoring the previous files failed: {exc}. Restore them by hand "
                    f"from {self.stash.manifest}."
                ),
                daemon_error=daemon_error,
                **self.result,
            )
        self.result.update(rolled_back=True, restored_files=restored)
        return restored

    def refuse_silent_plugins(self, pending):
        """Fail before dockerd is reloaded or restarted when daemon.json
        names an authorization plugin that does not answer (dockerd would
        exit), rolling back the stash's files first."""
        try:
            config = self.settings(read_text(self.params["daemon_json"])) or {}
        except (OSError, UnicodeDecodeError):
            return
        plugins = configured_plugins([], config)
        silent = silent_plugins(plugins)
        if silent:
            # Once more a second later: a plugin that was restarting.
            time.sleep(1)
            silent = silent_plugins(plugins)
        if not silent:
            return
        why = "; ".join(silent)
        restored = []
        if pending and not self.module.check_mode:
            restored = self.roll_back(f"an authorization plugin does not answer ({why})", why)
            self.stash.clear()
        back = (
            f"the previous files were put back ({', '.join(restored)})"
            if restored
            else "there was no earlier configuration to put back: fix the plugin or daemon.json"
        )
        if any(line.startswith(f"{PLUGIN_NAME}:") for line in silent):
            back += (
                f". {PLUGIN_NAME} is this collection's plugin: start it with"
                f" `systemctl start {SOCKET_UNIT_NAME}`, or run the role docker_access, which does"
            )
        self.module.fail_json(
            msg=(
                f"{self.params['daemon_json']} names an authorization plugin that does not answer ({why}): "
                f"dockerd would exit. Nothing was reloaded or restarted; {back}."
            ),
            daemon_error=why,
            **self.result,
        )

    def reload(self, decision, config, pending):
        """Apply a reloadable change without a restart. Returns True when the
        daemon took it; False when it must be restarted instead. A change
        dockerd refuses is rolled back with a second reload, and fails."""
        self.result.update(changed=True, reloaded=True, applied="reload")
        outcome, why = self.reload_and_verify(decision["keys"], config)
        if outcome == "ok":
            self.result["pid"] = self.main_pid()
            self.result["msg"] = f"Reloaded {self.unit}: {decision['reason']}."
            self.stash.clear()
            return True
        if outcome == "not taken":
            self.result.update(
                reloaded=False,
                reason=f"{decision['reason']}, but it did not take them ({why}): restarting",
            )
            return False
        restored = self.roll_back(f"dockerd refused to reload {', '.join(pending)} ({why})", why)
        previous = self.settings(read_text(self.params["daemon_json"])) or {}
        outcome2, why2 = self.reload_and_verify(decision["keys"], previous)
        if outcome2 == "ok":
            self.stash.clear()
        self.result["pid"] = self.main_pid()
        back = (
            "the previous settings were put back and reloaded; the daemon kept running"
            if outcome2 == "ok"
            else f"the previous settings were put back, but reloading them did not take ({why2})"
        )
        self.module.fail_json(
            msg=(
                f"{self.unit} refused to reload {', '.join(decision['keys'])} and was rolled back "
                f"({', '.join(restored)}): {back}. The daemon said: {why}"
            ),
            daemon_error=why,
            **self.result,
        )

    def run(self):
        pending = self.stash.pending()
        if self.params["only_if_pending"] and not pending:
            return self.result
        if self.params["state"] == "started":
            active = self.systemctl_run("is-active", self.unit)[1]
            if active.strip() == "active":
                return self.result
            decision, config = {"action": "start", "reason": f"{self.unit} was not active", "keys": []}, None
        elif self.params["mode"] == "restart":
            decision, config = {"action": "restart", "reason": "mode is restart", "keys": []}, None
        else:
            decision, config = self.decide(pending)
        self.result.update(changed=True, applied=decision["action"], reason=decision["reason"])
        self.result["changed_keys"] = decision["keys"]
        self.refuse_silent_plugins(pending)
        if decision["action"] == "reload":
            if self.module.check_mode:
                self.result["reloaded"] = True
                return self.result
            if self.reload(decision, config, pending):
                return self.result
            self.result["applied"] = "restart"
        self.result["restarted"] = True
        if self.module.check_mode:
            return self.result
        wall_start = time.time()
        self.sockets = changed_sockets(pending, self.stash.saved_text)
        self.result["sockets"] = self.sockets
        self.had_bridge = bridge_exists(self.params["socket"])
        start = time.monotonic()
        ok, why = self.restart_and_wait(pending)
        self.result["ansible_facts"] = {RESTARTED_FACT: True}
        if ok:
            self.result["downtime"] = round(time.monotonic() - start, 3)
            self.result["pid"] = self.main_pid()
            verb = "Started" if decision["action"] == "start" else "Restarted"
            self.result["msg"] = f"{verb} {self.unit}: {self.result['reason']}."
            self.stash.clear()
            return self.result
        daemon_error = self.journal_errors(wall_start)
        daemon_error = f"{why}; {daemon_error}" if daemon_error else why
        if not pending:
            self.module.fail_json(
                msg=(
                    f"{self.unit} did not come back after the restart ({why}), and there is no "
                    f"earlier configuration to roll back to. The daemon said: {daemon_error}"
                ),
                daemon_error=daemon_error,
                **self.result,
            )
        restored = self.roll_back(f"{self.unit} refused the new configuration ({daemon_error})", daemon_error)
        # The previous configuration may have had no TLS listener, or one
        # with other certificates: the Unix socket answering is what proves
        # the daemon is back.
        ok2, why2 = self.restart_and_wait(restored, tls_check=False)
        if not ok2:
            self.module.fail_json(
                msg=(
                    f"{self.unit} refused the new configuration and was rolled back "
                    f"({', '.join(restored)}), but did not come back with the previous one "
                    f"either ({why2}). The daemon said: {daemon_error}. Look at "
                    f"`journalctl -u {self.unit}`."
                ),
                daemon_error=daemon_error,
                **self.result,
            )
        self.result["downtime"] = round(time.monotonic() - start, 3)
        self.stash.clear()
        self.module.fail_json(
            msg=(
                f"{self.unit} refused the new configuration and was rolled back to the previous "
                f"one ({', '.join(restored)}); it runs again. The daemon said: {daemon_error}"
            ),
            daemon_error=daemon_error,
            **self.result,
        )


def main():
    module = AnsibleModule(
        argument_spec={
            "unit": {"type": "str", "default": "docker.service"},
            "timeout": {"type": "int", "default": 60},
            "socket": {"type": "path", "default": DEFAULT_SOCKET},
            "tls": {
                "type": "dict",
                "options": {
                    "host": {"type": "str", "default": "127.0.0.1"},
                    "port": {"type": "int", "default": 2376},
                    "ca_cert": {"type": "path", "required": True},
                    "cert": {"type": "path", "required": True},
                    "key": {"type": "path", "required": True, "no_log": False},
                },
            },
            "tls_bundle": {"type": "path", "default": "/root/.docker"},
            "only_if_pending": {"type": "bool", "default": False},
            "mode": {"type": "str", "default": "auto", "choices": ["auto", "restart"]},
            "daemon_json": {"type": "path", "default": DEFAULT_PATH},
            "state": {"type": "str", "default": "restarted", "choices": ["restarted", "started"]},
            "stash_dir": {"type": "path", "default": DEFAULT_STASH_DIR},
        },
        supports_check_mode=True,
    )
    if module.params["timeout"] < 1:
        module.fail_json(msg=f"timeout must be at least 1 second, got {module.params['timeout']}.")
    module.exit_json(**Restarter(module).run())


if __name__ == "__main__":
    main()

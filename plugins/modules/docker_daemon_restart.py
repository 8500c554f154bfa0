#!/usr/bin/python
# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docker_daemon_restart
short_description: Restart the Docker daemon safely, and roll back a configuration it refuses
description:
  - Reloads systemd when unit files changed, resets the unit's start-rate
    counter, restarts the daemon, then waits until C(GET /_ping) answers on the
    Unix socket and on the daemon's TLS listener with a client certificate,
    within O(timeout) seconds.
  - The TLS listener is the one given in O(tls); without it, the one the unit
    makes dockerd listen on (a C(tcp://) host with C(--tlsverify) in its
    ExecStart after its drop-ins, as M(dockerlab.docker.docker_daemon_listener)
    writes it), checked with the client bundle in O(tls_bundle) when there is
    one there.
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
  - On success the stash is cleared; the current files are the new known-good
    configuration.
  - With O(only_if_pending=true) it restarts only when the stash holds changes
    that no successful restart has confirmed yet, which is the case after a run
    was interrupted between a change and its restart.
  - Reports how long the API was unavailable.
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
  state:
    description:
      - C(restarted) restarts the daemon. C(started) only starts it when
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
    description: Reports that the daemon would be restarted, without restarting it.
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
- name: Restart Docker, wait for the Unix socket and the unit's TLS listener (root's bundle)
  dockerlab.docker.docker_daemon_restart:
    timeout: 60

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
  description: Whether the daemon was restarted (would be, in check mode).
  returned: always
  type: bool
  sample: true
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

import http.client
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
from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import DEFAULT_PATH, parse
from ansible_collections.dockerlab.docker.plugins.module_utils._files import (
    DEFAULT_STASH_DIR,
    Stash,
    read_text,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._host_read import RESTARTED_FACT
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import (
    command_listeners,
    local_address,
    split_tcp,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import effective_exec_start

_ERROR_MARKERS = ("failed to start daemon", "level=fatal", "level=error", "unable to", "failed")
_NOISE_MARKERS = ("level=info", "level=warning", "level=debug")
# Warnings that mean the daemon came up broken, quoted even so.
_BROKEN_MARKERS = ("could not create bridge network", "Unable to enable local routing")
# journalctl --output short-unix: "1732851399.052225 HOST dockerd[4644]: MESSAGE".
JOURNAL_LINE = re.compile(r"^(\d+(?:\.\d+)?) \S+ [^:]+: (.*)$")
# After /_ping answers, how long the default bridge may take to appear.
BRIDGE_GRACE = 5.0


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
    tcp:// host with --tlsverify in its effective ExecStart, to reach from
    the host itself with the client bundle in ``bundle``; None when there is
    none, no complete bundle, or the files cannot be read."""
    files = {name: f"{bundle}/{name}" for name in ("ca.pem", "cert.pem", "key.pem")} if bundle else {}
    try:
        if not files or any(read(path) is None for path in files.values()):
            return None
        config = parse(read(daemon_json))[0] or {}
        argv = effective_exec_start(unit, read)
    except (OSError, UnicodeDecodeError):
        return None
    for item in command_listeners(argv, config, unit):
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
        self.systemctl = module.get_bin_path("systemctl", required=True)
        self.result = {
            "changed": False,
            "restarted": False,
            "daemon_reload": False,
            "rolled_back": False,
            "restored_files": [],
            "tls_listener": "",
            "downtime": 0.0,
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

    def journal(self, since):
        """The unit's journal messages logged at or after ``since`` (epoch
        seconds, fractional: a restart and its rollback can share a second)."""
        journalctl = self.module.get_bin_path("journalctl")
        if not journalctl:
            return ""
        since_second = f"@{int(since)}"
        out = self.module.run_command(
            [journalctl, "--unit", self.unit, "--since", since_second, "--no-pager", "--output", "short-unix"]
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

    def run(self):
        pending = self.stash.pending()
        if self.params["only_if_pending"] and not pending:
            return self.result
        if self.params["state"] == "started":
            active = self.systemctl_run("is-active", self.unit)[1]
            if active.strip() == "active":
                return self.result
        self.result.update(changed=True, restarted=True)
        if self.module.check_mode:
            return self.result
        wall_start = time.time()
        self.had_bridge = bridge_exists(self.params["socket"])
        start = time.monotonic()
        ok, why = self.restart_and_wait(pending)
        self.result["ansible_facts"] = {RESTARTED_FACT: True}
        if ok:
            self.result["downtime"] = round(time.monotonic() - start, 3)
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
        try:
            restored = self.stash.restore()
        except OSError as exc:
            self.module.fail_json(
                msg=(
                    f"{self.unit} refused the new configuration ({daemon_error}) and restoring "
                    f"the previous files failed: {exc}. Restore them by hand from "
                    f"{self.stash.manifest}."
                ),
                daemon_error=daemon_error,
                **self.result,
            )
        self.result.update(rolled_back=True, restored_files=restored)
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

#!/usr/bin/python
# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docker_authz_plugin
short_description: Install dockerlab's authorization plugin for dockerd, and its policy
description:
  - Installs the authorization plugin this collection ships (C(dockerlab-authz)),
    a Python standard-library program, and the policy it enforces, or removes them.
    It does not enable the plugin; daemon.json's C(authorization-plugins) does
    (M(dockerlab.docker.docker_daemon_config), applied with a reload by
    M(dockerlab.docker.docker_daemon_restart)).
  - "B(The program.) This collection's module_utils C(_authz_server), C(_authz),
    C(_api) and C(_files), copied as they are under
    C(/usr/local/lib/dockerlab/authz), and a launcher that runs them with
    C(python3 -I)."
  - "B(The units.) C(dockerlab-authz.socket) makes systemd hold the plugin's
    socket, C(/run/docker/plugins/dockerlab-authz.sock) (mode 0600), where
    dockerd looks for a plugin of that name; C(dockerlab-authz.service) is
    started on its first connection and again whenever it dies. Calls dockerd
    makes meanwhile wait in the socket's queue instead of failing. The service
    unit's first line records the hash of the program and the units."
  - "B(The policy.) C(/etc/dockerlab/authz/policy.json): the users (client
    certificate names) who are O(restricted) and those who are O(revoked). The
    plugin reads it again when it changes; a policy change restarts nothing.
    Restricted users may do what a lab user needs (pull, list, create,
    start, stop and remove their own containers, exec into them) and nothing
    that reaches the host (privileged containers, host paths, added
    capabilities, the host's namespaces, devices, disabled confinement,
    other users' containers); revoked users may do nothing. Everyone else
    (root and the docker group on the Unix socket, other certificates) is
    allowed everything."
  - Refuses a policy that is not valid (a name that is not a user name, root
    restricted, a user both restricted and revoked), naming the users, before
    anything changes.
  - With O(state=present), checks that the plugin answers dockerd's
    C(/Plugin.Activate) on its socket before it returns, since a daemon.json that
    names a plugin that does not answer makes dockerd exit.
  - A changed program or unit restarts the service; it stops taking calls,
    answers those it took, and exits, while systemd keeps the new ones queued.
  - With O(state=absent), refuses to run while O(daemon_json) still names the
    plugin (every API call would fail); remove it there and reload first.
    It stops and disables the units and removes the files it wrote, the
    program's directory with them. The owner file (C(/var/lib/dockerlab/authz/owners.json), which
    restricted user created which container) is kept.
  - Only the Python standard library is needed on the managed host.
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
options:
  state:
    description: Whether the plugin is installed.
    type: str
    choices: [present, absent]
    default: present
  restricted:
    description:
      - Users (client certificate names, as the role issues them) whom the
        policy restricts.
    type: list
    elements: str
    default: []
  revoked:
    description: Users whose certificates are refused everything.
    type: list
    elements: str
    default: []
  daemon_json:
    description: The daemon configuration file O(state=absent) checks.
    type: path
    default: /etc/docker/daemon.json
  timeout:
    description: Seconds to wait for the plugin to answer on its socket.
    type: int
    default: 15
attributes:
  check_mode:
    support: full
    description: Validates the policy and reports which files would change, without writing.
  diff_mode:
    support: full
    description: The policy file's and the units' text before and after.
  platform:
    platforms: posix
    support: full
    description: Linux hosts with systemd and Docker (Debian 12 and 13 are tested).
seealso:
  - name: Docker's authorization plugins
    description: The protocol dockerd speaks to the plugin.
    link: https://docs.docker.com/engine/extend/plugins_authorization/
"""

EXAMPLES = r"""
- name: Install the plugin with its policy
  dockerlab.docker.docker_authz_plugin:
    restricted: [student1, student2]
    revoked: [former-student]

- name: Enable it, with a reload (the handler runs docker_daemon_restart)
  dockerlab.docker.docker_daemon_config:
    options:
      authorization-plugins: [dockerlab-authz]
  notify: docker_engine_restart
"""

RETURN = r"""
plugin:
  description: The name dockerd knows the plugin by.
  returned: always
  type: str
  sample: dockerlab-authz
socket:
  description: The plugin's socket.
  returned: always
  type: str
  sample: /run/docker/plugins/dockerlab-authz.sock
changed_files:
  description: The files written or removed (that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/dockerlab/authz/policy.json]
restarted:
  description: Whether the running plugin was restarted for a new program or unit.
  returned: always
  type: bool
  sample: false
policy:
  description: The policy as written.
  returned: when O(state=present)
  type: dict
  sample: {restricted: [student1], revoked: []}
"""

import contextlib
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockerlab.docker.plugins.module_utils import _authz_install as install
from ansible_collections.dockerlab.docker.plugins.module_utils._api import authz_plugin_answers
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import configured_plugins
from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import parse
from ansible_collections.dockerlab.docker.plugins.module_utils._files import (
    read_text,
    text_diff,
    write_atomic,
)

SERVICE = f"{install.PLUGIN_NAME}.service"
SOCKET = install.SOCKET_UNIT_NAME


def wanted_files(restricted, revoked):
    """[(path, text, mode)] of everything the plugin is made of."""
    files = [(path, text, 0o644) for path, text in sorted(install.program_files().items())]
    files += [
        (install.PROGRAM, install.launcher_text(), 0o755),
        (install.SOCKET_UNIT, install.socket_unit_text(), 0o644),
        (install.SERVICE_UNIT, install.service_text(install.inputs_hash()), 0o644),
        (install.POLICY_FILE, install.policy_text(restricted, revoked), 0o644),
    ]
    return files


def file_differs(path, text, mode):
    if read_text(path) != text:
        return True
    return (os.stat(path).st_mode & 0o7777) != mode


def names_plugin(daemon_json):
    """Whether daemon.json names the plugin in authorization-plugins (one
    that cannot be read or parsed names none)."""
    try:
        config, _error = parse(read_text(daemon_json))
    except (OSError, UnicodeDecodeError):
        return False
    return install.PLUGIN_NAME in configured_plugins([], config or {})


class AuthzPlugin:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.result = {
            "changed": False,
            "plugin": install.PLUGIN_NAME,
            "socket": install.PLUGIN_SOCKET,
            "changed_files": [],
            "restarted": False,
        }
        self.diffs = []

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, **extra, **self.result)

    def systemctl(self, *args, check=True):
        path = self.module.get_bin_path("systemctl", required=True)
        rc, out, err = self.module.run_command([path, *args])
        if check and rc != 0:
            self.fail(f"systemctl {' '.join(args)} exited {rc}: {(err or out).strip()}")
        return rc, out.strip()

    def run(self):
        if self.params["state"] == "absent":
            return self.remove()
        return self.install()

    def install(self):
        restricted = sorted(set(self.params["restricted"]))
        revoked = sorted(set(self.params["revoked"]))
        errors = install.policy_errors(restricted, revoked)
        if errors:
            self.fail(f"The authorization policy is not valid: {' '.join(errors)} Nothing was changed.")
        self.result["policy"] = {"restricted": restricted, "revoked": revoked}
        changed = [(p, t, m) for p, t, m in wanted_files(restricted, revoked) if file_differs(p, t, m)]
        self.result["changed_files"] = [path for path, _t, _m in changed]
        for path, text, _mode in changed:
            if path.endswith((".json", ".socket", ".service")):
                self.diffs.append(text_diff(path, read_text(path), text))
        running = self.systemctl("is-active", "--quiet", SOCKET, check=False)[0] == 0
        enabled = self.systemctl("is-enabled", "--quiet", SOCKET, check=False)[0] == 0
        self.result["changed"] = bool(changed) or not (running and enabled)
        if self.module.check_mode:
            return self.result
        for path, text, mode in changed:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            write_atomic(path, text, mode, 0, 0)
        os.makedirs(os.path.dirname(install.OWNERS_FILE), mode=0o700, exist_ok=True)
        units_changed = any(
            path in (install.SOCKET_UNIT, install.SERVICE_UNIT) for path in self.result["changed_files"]
        )
        if units_changed:
            self.systemctl("daemon-reload")
        if install.SOCKET_UNIT in self.result["changed_files"] and running:
            self.systemctl("restart", SOCKET)
        if not (running and enabled):
            self.systemctl("enable", "--now", SOCKET)
        program_changed = any(path != install.POLICY_FILE for path in self.result["changed_files"])
        if program_changed and self.systemctl("is-active", "--quiet", SERVICE, check=False)[0] == 0:
            self.systemctl("restart", SERVICE)
            self.result["restarted"] = True
        self.wait_answer()
        return self.result

    def wait_answer(self):
        deadline = time.monotonic() + self.params["timeout"]
        each = max(1, min(5, self.params["timeout"]))
        while True:
            ok, why = authz_plugin_answers(install.PLUGIN_SOCKET, timeout=each)
            if ok:
                return
            if time.monotonic() > deadline:
                _rc, journal = self.systemctl("--no-pager", "-n", "20", "status", SERVICE, check=False)
                self.fail(
                    f"The authorization plugin does not answer on its socket "
                    f"within {self.params['timeout']} s "
                    f"({why}); dockerd must not be told to use it. systemctl status {SERVICE}: {journal}"
                )
            time.sleep(0.2)

    def remove(self):
        paths = [install.SERVICE_UNIT, install.SOCKET_UNIT, install.POLICY_FILE, install.PROGRAM]
        paths += sorted(install.program_files())
        present = [path for path in paths if os.path.lexists(path)]
        self.result["changed_files"] = present
        self.result["changed"] = bool(present)
        if not present:
            return self.result
        if names_plugin(self.params["daemon_json"]) and self.module.check_mode:
            # A check run did not write the daemon.json that stops naming it.
            self.module.warn(
                f"{self.params['daemon_json']} names {install.PLUGIN_NAME}: it must stop naming it, "
                "with a reload, before the plugin is removed."
            )
        elif names_plugin(self.params["daemon_json"]):
            self.result["changed"] = False
            self.fail(
                f"{self.params['daemon_json']} still names {install.PLUGIN_NAME} in authorization-plugins: "
                "without the plugin every API call fails. Remove it there and reload dockerd first "
                "(docker_access_authz false does it in that order). Nothing was changed."
            )
        for path in present:
            if path.endswith((".json", ".socket", ".service")):
                self.diffs.append(text_diff(path, read_text(path), None))
        if self.module.check_mode:
            return self.result
        self.systemctl("disable", "--now", SOCKET, SERVICE, check=False)
        for path in present:
            os.unlink(path)
        # The program's directory is the module's own; the policy's only if empty.
        shutil.rmtree(install.LIB_DIR, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(install.POLICY_FILE))
        self.systemctl("daemon-reload")
        return self.result


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "restricted": {"type": "list", "elements": "str", "default": []},
            "revoked": {"type": "list", "elements": "str", "default": []},
            "daemon_json": {"type": "path", "default": "/etc/docker/daemon.json"},
            "timeout": {"type": "int", "default": 15},
        },
        supports_check_mode=True,
    )
    plugin = AuthzPlugin(module)
    result = plugin.run()
    if module._diff and plugin.diffs:
        result["diff"] = plugin.diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()

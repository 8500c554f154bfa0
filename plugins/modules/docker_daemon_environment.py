#!/usr/bin/python
# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docker_daemon_environment
short_description: Set environment variables of dockerd's unit (e.g. its proxy) through a systemd drop-in
description:
  - "Writes C(/etc/systemd/system/<unit>.d/<name>.conf), a drop-in with one
    C(Environment=\"NAME=value\") line per variable of O(environment), in the
    order of their names, under a header line saying that Ansible manages it.
    The vendor unit is never edited."
  - "Values are quoted as systemd reads them: the whole assignment in double
    quotes, C(\\) and C(\") escaped with a backslash, and C(%) written as
    C(%%) (systemd expands C(%) specifiers there; C($) needs no escaping, it
    expands no variables in C(Environment=))."
  - An empty O(environment) removes the drop-in; where there is none, that
    changes nothing.
  - Refuses a name that is not a valid variable name (letters, digits and
    underscores, not starting with a digit) and a value that is not a string
    or holds a newline or another control character, naming the variable,
    before anything changes.
  - Before changing the drop-in, saves its previous version in the rollback
    stash (see M(dockerlab.docker.docker_daemon_restart)), which reloads
    systemd, restarts the daemon and restores the drop-in if the daemon does
    not come back.
  - Does not reload systemd or restart the daemon; returns
    RV(daemon_reload_needed) and expects a handler running
    M(dockerlab.docker.docker_daemon_restart).
  - "The values are visible to every local user (C(systemctl show docker -p
    Environment)) and in the task's diff: a password in a proxy URL is not
    a secret there."
  - "Variables of the unit's C(EnvironmentFile=) (Debian's
    C(/etc/default/docker)) override these; for the proxy, Docker 23 and
    newer also take C(proxies) in daemon.json, which overrides them."
  - Only the Python standard library is needed on the managed host.
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
options:
  environment:
    description:
      - The variables, name to value (strings). Empty removes the drop-in.
      - For dockerd's proxy, C(HTTP_PROXY), C(HTTPS_PROXY) and C(NO_PROXY),
        and the same in lower case (role docker_engine writes both).
    type: dict
    required: true
  name:
    description: File name of the drop-in, without C(.conf).
    type: str
    default: dockerlab-proxy
  unit:
    description: The systemd unit of the daemon.
    type: str
    default: docker.service
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
- name: Make dockerd pull through a proxy
  dockerlab.docker.docker_daemon_environment:
    environment:
      HTTP_PROXY: http://proxy.lab:3128
      HTTPS_PROXY: http://proxy.lab:3128
      NO_PROXY: localhost,127.0.0.1,.lab
  notify: docker_engine_restart

- name: No proxy (removes the drop-in)
  dockerlab.docker.docker_daemon_environment:
    environment: {}
  notify: docker_engine_restart
"""

RETURN = r"""
path:
  description: The drop-in file.
  returned: always
  type: str
  sample: /etc/systemd/system/docker.service.d/dockerlab-proxy.conf
environment:
  description: The variables the drop-in sets (empty when it is removed).
  returned: always
  type: dict
  sample: {"HTTP_PROXY": "http://proxy.lab:3128", "NO_PROXY": "localhost,.lab"}
sha256:
  description: The sha256 of the drop-in's text as wanted (empty when it is removed).
  returned: always
  type: str
  sample: 6c3b4b4b5d0e9d7c2f0f5f1b1c0f2b7a4f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c
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
    text_sha256,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._proxy import (
    DROPIN_NAME,
    UNIT,
    name_error,
    render,
    value_error,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import SYSTEMD_DIR


def file_name_error(what, value):
    """Why ``value`` cannot be the unit's or the drop-in's file name, or None."""
    if not value or "/" in value or value in (".", ".."):
        return f"{what} {value!r} is not a file name: give it without a directory"
    return None


class DaemonEnvironment:
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.dropin_dir = os.path.join(self.params["systemd_dir"], f"{self.params['unit']}.d")
        self.path = os.path.join(self.dropin_dir, f"{self.params['name']}.conf")
        self.result = {
            "changed": False,
            "path": self.path,
            "environment": {},
            "sha256": "",
            "daemon_reload_needed": False,
        }

    def fail(self, msg):
        self.module.fail_json(msg=msg, **self.result)

    def validate(self):
        for what in ("unit", "name"):
            why = file_name_error(what, self.params[what])
            if why:
                self.fail(f"{why}. Nothing was changed.")
        for name, value in self.params["environment"].items():
            why = name_error(name)
            if why:
                self.fail(f"environment: {why}. Nothing was changed.")
            why = value_error(value)
            if why:
                self.fail(f"environment: the value of {name} {why}. Nothing was changed.")

    def run(self):
        self.validate()
        environment = self.params["environment"]
        try:
            before = read_text(self.path)
        except (OSError, UnicodeDecodeError) as exc:
            self.fail(f"Failed to read the drop-in {self.path}: {exc}")
        after = render(environment)
        changed = before != after
        self.result.update(
            changed=changed,
            daemon_reload_needed=changed,
            environment=dict(environment),
            sha256=text_sha256(after) or "",
        )
        if self.module._diff:
            self.result["diff"] = text_diff(self.path, before, after)
        if not changed or self.module.check_mode:
            return self.result
        try:
            replace_unit_file(self.path, after, self.params["stash_dir"])
        except OSError as exc:
            self.fail(f"Failed to {'remove' if after is None else 'write'} the drop-in {self.path}: {exc}")
        return self.result


def main():
    module = AnsibleModule(
        argument_spec={
            "environment": {"type": "dict", "required": True},
            "name": {"type": "str", "default": DROPIN_NAME},
            "unit": {"type": "str", "default": UNIT},
            "systemd_dir": {"type": "path", "default": SYSTEMD_DIR},
            "stash_dir": {"type": "path", "default": DEFAULT_STASH_DIR},
        },
        supports_check_mode=True,
    )
    module.exit_json(**DaemonEnvironment(module).run())


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: docker_daemon_config
short_description: Merge settings into the Docker daemon's daemon.json, keeping what is there
description:
  - Reads the Docker daemon configuration file (C(/etc/docker/daemon.json)),
    merges O(options) into it and writes it back atomically when the result
    differs. Keys set by hand and not named in O(options) are kept. Nested
    objects (for example C(log-opts)) are merged key by key; lists and
    scalars are replaced.
  - The comparison is on the parsed JSON, so a file whose content already
    matches is never rewritten, whatever its formatting.
  - A file that is not valid JSON, or whose top level is not an object, fails
    the task before anything changes; the file is left byte for byte as it was.
  - "Refuses O(reserved_keys) (by default C(hosts)) in the file and in
    O(options): the listeners of the daemon live in the systemd unit's C(-H)
    flags, and dockerd refuses to start when a directive is given both as a
    flag and in the file."
  - Before changing the file, saves its previous version in the rollback stash
    (see M(dockerlab.docker.docker_daemon_restart)), which restores it if the daemon refuses
    the new configuration.
  - "Before it writes (and in check mode too), asks dockerd whether it would
    start with the new file: C(dockerd --validate --config-file CANDIDATE)
    with the flags of O(unit)'s ExecStart after its drop-ins, where the
    installed dockerd has C(--validate) (Docker 23 and newer). A
    configuration dockerd refuses (an unknown key, a bad value, a directive
    given both as a flag and in the file) fails the task, quoting dockerd,
    before the file changes. Docker 20.10 has no C(--validate): there
    M(dockerlab.docker.docker_daemon_restart) finds a refusal when it
    restarts, and rolls back. dockerd does not check log options this way."
  - Does not restart the daemon; notify a handler that runs
    M(dockerlab.docker.docker_daemon_restart) when the task changed.
  - Only the Python standard library is needed on the managed host.
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
options:
  path:
    description: The daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
  options:
    description: Settings to merge into the file, as daemon.json keys and values.
    type: dict
    default: {}
  remove_keys:
    description:
      - Keys to remove from the file (after the merge) where they are present,
        e.g. C(userns-remap) when remapping is turned off.
    type: list
    elements: str
    default: []
  reserved_keys:
    description:
      - Keys that must be in neither the file nor O(options), each refused with
        an explanation. C(hosts) conflicts with the C(-H) flags of the unit;
        C(tls), C(tlsverify), C(tlscacert), C(tlscert) and C(tlskey) conflict with
        a TLS listener configured by flags (M(dockerlab.docker.docker_daemon_listener)).
    type: list
    elements: str
    default: [hosts]
  replace_keys:
    description:
      - Keys whose value in O(options) replaces the file's instead of being
        merged into it, e.g. C(log-opts) when the log driver changes (the old
        driver's options would make dockerd refuse to start).
    type: list
    elements: str
    default: []
  validate:
    description:
      - Check the new file with C(dockerd --validate) before writing it, where
        dockerd can (Docker 23 and newer); V(false) never asks dockerd.
    type: bool
    default: true
  unit:
    description: The systemd unit whose ExecStart flags dockerd validates the file with.
    type: str
    default: docker.service
  stash_dir:
    description: Directory of the rollback stash shared with M(dockerlab.docker.docker_daemon_restart).
    type: path
    default: /var/lib/dockerlab/rollback
attributes:
  check_mode:
    support: full
    description: Validates the file and reports whether it would change, without writing.
  diff_mode:
    support: full
    description: The file's text before and after (after as it would be written).
  platform:
    platforms: posix
    support: full
    description: Linux hosts with systemd and Docker (Debian 12 and 13 are tested).
"""

EXAMPLES = r"""
- name: Keep containers running through daemon restarts, keep other keys
  dockerlab.docker.docker_daemon_config:
    options:
      live-restore: true
      registry-mirrors:
        - http://dockerlab-registry:5000
  notify: docker_engine_restart

- name: Only validate the existing file (fails on invalid JSON or 'hosts')
  dockerlab.docker.docker_daemon_config:
    options: {}
  check_mode: true
"""

RETURN = r"""
path:
  description: The configuration file.
  returned: always
  type: str
  sample: /etc/docker/daemon.json
config:
  description: The configuration after the task (as it would be, in check mode).
  returned: always
  type: dict
  sample: {"live-restore": true, "log-level": "info"}
changed_keys:
  description: Top-level keys whose value the task set, changed or removed.
  returned: always
  type: list
  elements: str
  sample: [live-restore]
validated:
  description:
    - C(ok) when dockerd accepted the new file, C(refused) when it did not
      (the task then fails); C(unsupported) when the installed dockerd has no
      C(--validate) (before Docker 23) or none is installed; C(skipped) when
      the file does not change or O(validate=false).
  returned: always
  type: str
  sample: ok
daemon_error:
  description: What C(dockerd --validate) said of the new file, the path being O(path)'s.
  returned: when dockerd refused the new file
  type: str
  sample: >-
    unable to configure the Docker daemon with file /etc/docker/daemon.json:
    the following directives don't match any configuration option: bogus
"""

import json
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import (
    DEFAULT_PATH,
    VALIDATE_SINCE,
    apply,
    parse,
    render,
    validate_argv,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._files import (
    DEFAULT_STASH_DIR,
    Stash,
    read_text,
    text_diff,
    write_atomic,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._reload import parse_version
from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import effective_exec_start

RESERVED_REASONS = {
    "hosts": (
        "the daemon's listeners are -H flags of docker.service (the unit and its "
        "drop-in), and dockerd refuses to start when a directive is set both ways: "
        "'the following directives are specified both as a flag and in the "
        "configuration file: hosts'"
    ),
}
TLS_REASON = (
    "the TLS listener is configured by flags in the docker.service drop-in, and dockerd "
    "refuses to start when a directive is set both as a flag and in the configuration file"
)


def reserved_errors(reserved, current, options, path):
    """Messages for every reserved key found in the file or in the options."""
    errors = []
    for key in reserved:
        reason = RESERVED_REASONS.get(key, TLS_REASON if key.startswith("tls") else "")
        suffix = f": {reason}" if reason else ""
        if key in current:
            errors.append(
                f"{path} sets '{key}' ({json.dumps(current[key])}), which this configuration "
                f"manages elsewhere{suffix}. Remove '{key}' from {path} (to keep a TCP "
                "listener, configure it with docker_access_tcp_* instead)."
            )
        if key in options:
            errors.append(
                f"The options set '{key}', which this configuration manages elsewhere{suffix}. "
                f"Remove '{key}' from docker_engine_daemon_options."
            )
    return errors


class DaemonConfig:
    def __init__(self, module):
        self.module = module
        self.path = module.params["path"]

    def validate(self, text):
        """("ok" | "refused" | "unsupported", dockerd's words): what dockerd
        --validate says of ``text`` as the unit would start it."""
        dockerd = self.module.get_bin_path("dockerd")
        if not dockerd:
            return "unsupported", "dockerd is not installed"
        rc, out, err = self.module.run_command([dockerd, "--version"])
        version = parse_version(out.replace("Docker version", "").strip()) if rc == 0 else None
        if version is None or version < VALIDATE_SINCE:
            return "unsupported", f"{out.strip() or err.strip()}: no --validate before Docker 23"
        argv = effective_exec_start(self.module.params["unit"], read_text) or [dockerd]
        directory = tempfile.mkdtemp(prefix="dockerlab-validate-")
        try:
            candidate = os.path.join(directory, "daemon.json")
            write_atomic(candidate, text, 0o600)
            rc, out, err = self.module.run_command(validate_argv(dockerd, argv, candidate))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        said = " ".join((err.strip() or out.strip()).split())
        return ("ok" if rc == 0 else "refused"), said.replace(candidate, self.path)

    def run(self):
        params = self.module.params
        try:
            before_text = read_text(self.path)
        except (OSError, UnicodeDecodeError) as exc:
            self.module.fail_json(
                msg=f"Failed to read {self.path}: {exc}. Nothing was changed.", path=self.path
            )
        current, error = parse(before_text)
        if error:
            self.module.fail_json(
                msg=f"{self.path} {error}. Fix or remove the file; nothing was changed.", path=self.path
            )
        errors = reserved_errors(params["reserved_keys"], current, params["options"], self.path)
        if errors:
            self.module.fail_json(msg=" ".join(errors) + " Nothing was changed.", path=self.path)
        desired = apply(current, params["options"], params["remove_keys"], params["replace_keys"])
        changed_keys = sorted(
            {k for k in desired if current.get(k, object()) != desired[k]} | (set(current) - set(desired))
        )
        changed = desired != current
        result = {
            "changed": changed,
            "path": self.path,
            "config": desired,
            "changed_keys": changed_keys,
            "validated": "skipped",
        }
        after_text = render(desired) if changed else before_text
        if self.module._diff:
            result["diff"] = text_diff(self.path, before_text, after_text)
        if changed and params["validate"]:
            result["validated"], said = self.validate(after_text)
            if result["validated"] == "refused":
                self.module.fail_json(
                    msg=(
                        f"dockerd would not start with the new {self.path} (changing "
                        f"{', '.join(changed_keys)}): {said} Nothing was changed."
                    ),
                    daemon_error=said,
                    **result,
                )
        if changed and not self.module.check_mode:
            directory = os.path.dirname(self.path)
            try:
                if not os.path.isdir(directory):
                    os.makedirs(directory, exist_ok=True)
                    os.chmod(directory, 0o755)  # noqa: S103 - CIS 3.6 wants 0755, whatever the umask
                Stash(params["stash_dir"]).save(self.path)
                mode = os.stat(self.path).st_mode & 0o7777 if before_text is not None else 0o644
                write_atomic(self.path, after_text, mode)
            except OSError as exc:
                self.module.fail_json(msg=f"Failed to write {self.path}: {exc}", **result)
        return result


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": DEFAULT_PATH},
            "options": {"type": "dict", "default": {}},
            # daemon.json keys, not key material.
            "remove_keys": {"type": "list", "elements": "str", "default": [], "no_log": False},
            "reserved_keys": {"type": "list", "elements": "str", "default": ["hosts"], "no_log": False},
            "replace_keys": {"type": "list", "elements": "str", "default": [], "no_log": False},
            "validate": {"type": "bool", "default": True},
            "unit": {"type": "str", "default": "docker.service"},
            "stash_dir": {"type": "path", "default": DEFAULT_STASH_DIR},
        },
        supports_check_mode=True,
    )
    module.exit_json(**DaemonConfig(module).run())


if __name__ == "__main__":
    main()

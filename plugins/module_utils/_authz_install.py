# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What installing the authorization plugin writes: its program (this
collection's own module_utils, copied as they are), its systemd units, its
policy file, and the hash of them that says whether a host has them as
wanted.

Private to this collection: docker_authz_plugin writes the files, and the
filter access_plan compares the host's with the same functions. The
plugin's name, socket and policy file, and the reading of that file, live
in _authz_config (docker_host_audit reads them there without this program). Standard library only.
"""

import hashlib
import json
import re

from ansible_collections.dockerlab.docker.plugins.module_utils import (
    _api,
    _authz,
    _authz_config,
    _authz_server,
    _files,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import (
    PLUGIN_NAME,
    PLUGIN_SOCKET,
    POLICY_FILE,
    SOCKET_UNIT_NAME,
)

SOCKET_UNIT = f"/etc/systemd/system/{SOCKET_UNIT_NAME}"
SERVICE_UNIT = f"/etc/systemd/system/{PLUGIN_NAME}.service"
LIB_DIR = "/usr/local/lib/dockerlab/authz"
PROGRAM = f"{LIB_DIR}/{PLUGIN_NAME}"
OWNERS_FILE = "/var/lib/dockerlab/authz/owners.json"
# The package the program's modules keep their names in, so that their
# imports of each other work unchanged.
_PACKAGE = "ansible_collections/dockerlab/docker/plugins/module_utils"
_MODULES = (_api, _authz, _authz_config, _authz_server, _files)
# What the header line of the service unit says before the inputs' hash
# (docker_host_facts reads it back).
INPUTS_MARK = "# dockerlab-inputs: "
# A user name as useradd takes it (and a certificate's CN as the role issues it).
_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$")


def _source(module):
    """A module's source text, from a file, AnsiballZ's zip or Ansible's
    collection loader (which gives bytes)."""
    text = module.__loader__.get_source(module.__name__)
    return text.decode("utf-8") if isinstance(text, bytes) else text


def program_files():
    """{path on the host: text} of the plugin's modules, under LIB_DIR."""
    return {
        f"{LIB_DIR}/{_PACKAGE}/{module.__name__.rsplit('.', 1)[1]}.py": _source(module) for module in _MODULES
    }


def launcher_text():
    """The program systemd runs: python3 -I (no environment, no user site,
    no working directory on the path) with the plugin's own modules first."""
    return (
        "#!/usr/bin/python3 -I\n"
        "# dockerlab's authorization plugin for dockerd; written by dockerlab.docker.docker_authz_plugin.\n"
        "import sys\n\n"
        f"sys.path.insert(0, {LIB_DIR!r})\n"
        "from ansible_collections.dockerlab.docker.plugins.module_utils._authz_server import main\n\n"
        "main()\n"
    )


def socket_unit_text():
    """The socket unit: systemd holds the plugin's socket, so that dockerd's
    calls wait while the plugin (re)starts, and starts it on the first one."""
    return (
        "# Written by dockerlab.docker.docker_authz_plugin.\n"
        "[Unit]\n"
        "Description=dockerlab authorization plugin socket (dockerd asks it about every API call)\n"
        "Documentation=https://docs.docker.com/engine/extend/plugins_authorization/\n\n"
        "[Socket]\n"
        f"ListenStream={PLUGIN_SOCKET}\n"
        "SocketMode=0600\n"
        "DirectoryMode=0700\n\n"
        "[Install]\n"
        "WantedBy=sockets.target\n"
    )


def service_text(inputs):
    """The service systemd starts on the socket's first connection."""
    return (
        f"{INPUTS_MARK}{inputs}\n"
        "# Written by dockerlab.docker.docker_authz_plugin.\n"
        "[Unit]\n"
        "Description=dockerlab authorization plugin for dockerd\n"
        f"Requires={SOCKET_UNIT_NAME}\n"
        f"After={SOCKET_UNIT_NAME}\n"
        # However often it is killed, it is started again (no start limit).
        "StartLimitIntervalSec=0\n\n"
        "[Service]\n"
        f"ExecStart=/usr/bin/python3 -I {PROGRAM} --policy {POLICY_FILE} --owners {OWNERS_FILE}\n"
        # Started again at once when it dies; the socket keeps the calls meanwhile.
        "Restart=always\n"
        # Stopping or killing the main process leaves its workers to answer
        # the calls they took; they exit by themselves (_authz_server.serve).
        "KillMode=process\n"
        "RestartSec=0\n"
        "NoNewPrivileges=true\n"
        "ProtectHome=true\n"
        "PrivateTmp=true\n"
    )


def inputs_hash():
    """sha256 of the program and the units: the service unit records it, so
    that a caller tells from the host read alone whether they are current."""
    data = [sorted(program_files().items()), launcher_text(), socket_unit_text()]
    return hashlib.sha256(json.dumps(data).encode("utf-8")).hexdigest()


def policy_errors(restricted, revoked, unrestricted=()):
    """What is wrong with a policy, as sentences naming the users; [] when
    nothing. ``unrestricted``: users who must not be in the other two."""
    errors = []
    for kind, users in (("restricted", restricted), ("revoked", revoked)):
        bad = [str(user) for user in users if not _USER.match(str(user))]
        if bad:
            errors.append(
                f"{kind} user(s) {', '.join(bad)} are not user names (lower case, at most 32 characters)."
            )
    if "root" in restricted:
        errors.append("root cannot be restricted: root is always allowed (the way back in).")
    both = sorted(set(restricted) & set(revoked))
    if both:
        errors.append(f"user(s) {', '.join(both)} are both restricted and revoked.")
    both = sorted(set(restricted) & set(unrestricted))
    if both:
        errors.append(f"user(s) {', '.join(both)} are both restricted and unrestricted.")
    return errors


def policy_text(restricted, revoked):
    """The policy file the plugin reads (_authz_server.Policy)."""
    data = {"restricted": sorted(set(restricted)), "revoked": sorted(set(revoked))}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def policy_sha256(restricted, revoked):
    """sha256 of policy_text, as docker_host_facts reports a file's."""
    return _files.text_sha256(policy_text(restricted, revoked))

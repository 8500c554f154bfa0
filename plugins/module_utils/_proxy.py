# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Environment variables of the daemon's unit, through a systemd drop-in:
which names and values a drop-in can hold, how it is written (systemd's
quoting), and the proxy variables dockerd reads.

Private to this collection: docker_daemon_environment writes the drop-in,
and the filter engine_plan predicts its text (and so its sha256, which
docker_host_facts reads) with the same function, on the controller.
Standard library only (this runs on the managed host too).
"""

import re

from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import SYSTEMD_DIR

# The drop-in docker_daemon_environment writes by default, and the one
# docker_engine manages the proxy variables in.
UNIT = "docker.service"
DROPIN_NAME = "dockerlab-proxy"
DROPIN_PATH = f"{SYSTEMD_DIR}/{UNIT}.d/{DROPIN_NAME}.conf"
HEADER = "# Managed by Ansible (docker_daemon_environment): manual changes will be lost.\n"

# A name a shell, systemd and Go's os.Getenv all take the same way.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def name_error(name):
    """Why ``name`` cannot be an environment variable of the drop-in, or None."""
    if not isinstance(name, str) or not _NAME.match(name):
        return (
            f"{name!r} is not a valid variable name: use letters, digits and underscores, "
            "not starting with a digit"
        )
    return None


def value_error(value):
    """Why ``value`` cannot be written in a drop-in line, or None. A drop-in
    holds one assignment per line: a newline (or another control character)
    cannot be written in one."""
    if not isinstance(value, str):
        return "is not a string: quote it"
    if "\n" in value:
        return "contains a newline, which a drop-in line cannot hold"
    odd = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
    if odd is not None:
        return f"contains the control character {odd!r}, which a drop-in line cannot hold"
    return None


def quote(name, value):
    """``"NAME=value"`` as systemd reads an Environment= assignment: the whole
    assignment in double quotes, a backslash and a double quote escaped
    with a backslash, and a percent sign doubled (systemd expands %
    specifiers in Environment=; it expands no $VARIABLES there)."""
    text = f"{name}={value}".replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{text}"'


def render(environment):
    """The drop-in's text for ``environment`` (name: value), one
    Environment= line per variable in the order of their names; None when
    it is empty (the drop-in is removed). The names and values must be
    valid (name_error, value_error)."""
    if not environment:
        return None
    lines = "".join(f"Environment={quote(name, environment[name])}\n" for name in sorted(environment))
    return f"{HEADER}[Service]\n{lines}"


def proxy_environment(http_proxy, https_proxy, no_proxy):
    """The environment that makes dockerd use the given proxies: HTTP_PROXY,
    HTTPS_PROXY and NO_PROXY where they are set, each also in lower case,
    as dockerd sets them itself from daemon.json's "proxies" (Docker 23 and
    newer): Go reads the upper case first, the tools dockerd runs (git,
    through libcurl) only the lower case http_proxy. ``no_proxy`` is a list
    of hosts, domains and networks, joined with commas; empty entries are
    left out."""
    joined = ",".join(entry.strip() for entry in no_proxy or [] if entry and entry.strip())
    environment = {}
    for name, value in (("HTTP_PROXY", http_proxy), ("HTTPS_PROXY", https_proxy), ("NO_PROXY", joined)):
        if value:
            environment[name] = value
            environment[name.lower()] = value
    return environment

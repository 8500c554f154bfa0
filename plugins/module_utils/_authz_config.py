# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockerd's authorization plugins as a host has them: the name and paths of
dockerlab's own plugin, the reading of its policy file, the plugins
dockerd is told to use (its command line and daemon.json), and which of
them would not answer it.

Private to this collection, and small on purpose: docker_host_audit
imports it without the plugin's program, which _authz_install (the
installer's, which takes these names from here) brings along, and the
controller's filters read daemon.json with it without the HTTP client,
which only asking a plugin needs. Standard library only.
"""

import json
import os

# The name dockerd knows dockerlab's plugin by (daemon.json's
# authorization-plugins), and the socket it finds it on (moby's plugin
# discovery: NAME.sock in /run/docker/plugins).
PLUGIN_NAME = "dockerlab-authz"
PLUGINS_DIR = "/run/docker/plugins"
# The systemd socket unit that holds the plugin's socket (started, it
# starts the plugin on the first call).
SOCKET_UNIT_NAME = f"{PLUGIN_NAME}.socket"


def plugin_socket(name, directory=PLUGINS_DIR):
    """Where dockerd looks for a plugin's Unix socket (moby's pkg/plugins discovery)."""
    return f"{directory}/{name}.sock"


def plugin_answers(socket_path, timeout=5):
    """(True, "") when an authorization plugin answers dockerd's
    ``POST /Plugin.Activate`` on ``socket_path``, else (False, why): the
    API client's authz_plugin_answers, imported only when asked."""
    from ansible_collections.dockerlab.docker.plugins.module_utils._api import authz_plugin_answers

    return authz_plugin_answers(socket_path, timeout=timeout)


PLUGIN_SOCKET = plugin_socket(PLUGIN_NAME, PLUGINS_DIR)
# Where dockerd finds plugins by a spec file instead of a socket (moby's
# pkg/plugins discovery, besides PLUGINS_DIR).
PLUGIN_SPEC_DIRS = ("/etc/docker/plugins", "/usr/lib/docker/plugins")
# The plugin's policy: {"restricted": [users], "revoked": [users]}.
POLICY_FILE = "/etc/dockerlab/authz/policy.json"
# How dockerd is told to use a plugin: the flag (given once per plugin) and
# the daemon.json key (a list of names).
FLAG = "--authorization-plugin"
CONFIG_KEY = "authorization-plugins"


def read_policy(text):
    """(restricted, revoked) of a policy file's text, or None when it is not one."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    lists = [data.get("restricted") or [], data.get("revoked") or []]
    if not all(isinstance(users, list) and all(isinstance(u, str) for u in users) for users in lists):
        return None
    return sorted(lists[0]), sorted(lists[1])


def command_plugins(argv):
    """The plugin names of a dockerd command line's ``--authorization-plugin
    NAME`` and ``--authorization-plugin=NAME``, in order."""
    names = []
    argv = list(argv or [])
    for i, arg in enumerate(argv):
        if arg == FLAG and i + 1 < len(argv):
            names.append(argv[i + 1])
        elif arg.startswith(FLAG + "="):
            names.append(arg[len(FLAG) + 1 :])
    return names


def configured_plugins(argvs, config):
    """The authorization plugins dockerd is told to use: those of the
    command lines in ``argvs`` (None for one not found), then daemon.json's
    (``config``), in order and each once."""
    named = config.get(CONFIG_KEY) if isinstance(config, dict) else None
    names = [name for argv in argvs for name in command_plugins(argv)]
    names += [str(name) for name in named] if isinstance(named, list) else []
    return [name for i, name in enumerate(names) if name and name not in names[:i]]


def plugin_silence(name, plugins_dir=PLUGINS_DIR, spec_dirs=PLUGIN_SPEC_DIRS, answers=plugin_answers):
    """Why dockerd would find authorization plugin ``name`` silent, or ""
    when it would not: its socket in ``plugins_dir`` does not answer
    /Plugin.Activate, or it has neither a socket nor a spec file (one in
    ``spec_dirs`` counts as present; dockerd finds the address there)."""
    sock = plugin_socket(str(name), plugins_dir)
    if os.path.exists(sock):
        ok, why = answers(sock)
        return "" if ok else why
    if any(os.path.exists(f"{d}/{name}.{ext}") for d in spec_dirs for ext in ("spec", "json")):
        return ""
    return f"neither {sock} nor a spec file exists"


def silent_plugins(names, plugins_dir=PLUGINS_DIR, spec_dirs=PLUGIN_SPEC_DIRS, answers=plugin_answers):
    """Why each authorization plugin in ``names`` would not answer dockerd,
    as "NAME: why"; [] when every one answers (or ``names`` is no list)."""
    out = []
    for name in names if isinstance(names, list) else []:
        why = plugin_silence(name, plugins_dir, spec_dirs, answers)
        if why:
            out.append(f"{name}: {why}")
    return out

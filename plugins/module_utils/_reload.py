# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reload or restart: which daemon.json changes dockerd applies on SIGHUP
(``systemctl reload docker``), and how to tell from ``GET /info`` that it
did.

Private to this collection: docker_daemon_restart decides and verifies with
these, and its unit tests call them directly. Standard library only (this
runs on the managed host).

The keys are those of moby's ``Daemon.Reload`` (daemon/reload.go and
reload_unix.go), read for Docker 20.10, 26.1 and 28.5; a key that a version
does not reload is not in that version's set, and a change to it restarts
the daemon. dockerd ignores the keys it does not reload on SIGHUP (no error,
and it logs "Reloaded configuration" all the same), so only this list tells.
"""

import re

# Applied on SIGHUP by every Docker version this collection supports (20.10,
# 26.1, 28.5): Daemon.Reload with reloadPlatform (daemon/reload.go,
# reload_unix.go), and authorization-plugins, which the reload of
# cmd/dockerd applies (a plugin it names must answer first: dockerd exits
# when it does not; docker_daemon_restart checks that before either). GET
# /info keeps showing the plugins dockerd started with, so the journal's
# "Reloaded configuration" is what says it was taken.
_RELOADABLE = frozenset(
    {
        "authorization-plugins",
        "debug",
        "default-cgroupns-mode",
        "default-ipc-mode",
        "default-runtime",
        "default-shm-size",
        "features",
        "insecure-registries",
        "labels",
        "live-restore",
        "max-concurrent-downloads",
        "max-concurrent-uploads",
        "max-download-attempts",
        "network-diagnostic-port",
        "registry-mirrors",
        "runtimes",
        "shutdown-timeout",
    }
)
# Reloaded up to (not including) this (major, minor) version: Docker 28
# deprecated the key and ignores it on reload.
_RELOADABLE_UNTIL = {
    "allow-nondistributable-artifacts": (28, 0),
}
# Keys that dockerd, reloading a daemon.json without them, keeps at the value
# it runs with instead of resetting (config.IsValueSet in the reload helpers):
# removing one takes a restart.
_KEPT_WHEN_REMOVED = frozenset(
    {
        "debug",
        "default-cgroupns-mode",
        "default-ipc-mode",
        "default-runtime",
        "default-shm-size",
        "insecure-registries",
        "labels",
        "live-restore",
        "registry-mirrors",
        "runtimes",
        "shutdown-timeout",
    }
)

# Values dockerd reports in GET /info without being told: never a difference.
_INSECURE_DEFAULTS = frozenset({"127.0.0.0/8", "::1/128"})


def parse_version(text):
    """(major, minor) of a Docker version string (``20.10.24+dfsg1``,
    ``26.1.5+dfsg1-9``, ``28.5.2``), or None when it is not one."""
    match = re.match(r"\s*v?(\d+)\.(\d+)", str(text or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def reloadable_keys(version):
    """The daemon.json keys a dockerd of ``version`` ((major, minor)) applies
    on SIGHUP."""
    keys = set(_RELOADABLE)
    keys.update(key for key, until in _RELOADABLE_UNTIL.items() if version < until)
    return frozenset(keys)


def changed_keys(before, after):
    """The top-level keys whose value differs between two daemon.json
    settings dicts, added and removed ones included; sorted."""
    return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))


def decide(changed_files, daemon_json, before, after, version):
    """Whether applying the pending changes needs a restart or a reload does.

    ``changed_files`` are the paths changed since the daemon last started
    with a known-good configuration; ``before`` and ``after`` are daemon.json's
    settings as the daemon runs them and as they are now (dicts, or None when
    unknown); ``version`` is the running daemon's (major, minor), or None when
    it did not answer. Returns ``{"action": "reload" | "restart", "reason":
    str, "keys": [changed daemon.json keys]}``."""

    def restart(reason, keys=()):
        return {"action": "restart", "reason": reason, "keys": list(keys)}

    others = sorted(path for path in changed_files if path != daemon_json)
    if not changed_files:
        return restart("no pending change is recorded, so what changed is unknown")
    if others:
        return restart(f"{', '.join(others)} changed; dockerd reads it only when it starts")
    if before is None or after is None:
        return restart(f"{daemon_json} as the daemon runs it, or as it is now, cannot be read")
    keys = changed_keys(before, after)
    if not keys:
        return restart(f"{daemon_json} changed, but no setting in it did")
    if version is None:
        return restart("the daemon did not say its version, so what it can reload is unknown", keys)
    fixed = [key for key in keys if key not in reloadable_keys(version)]
    release = f"{version[0]}.{version[1]}"
    if fixed:
        return restart(f"dockerd {release} applies {', '.join(fixed)} only when it starts", keys)
    kept = [key for key in keys if key not in after and key in _KEPT_WHEN_REMOVED]
    if kept:
        return restart(
            f"{', '.join(kept)} was removed, and dockerd {release} keeps the value it runs with when it "
            "reloads a daemon.json without it",
            keys,
        )
    return {
        "action": "reload",
        "reason": f"dockerd {release} reloads every changed key ({', '.join(keys)}) on SIGHUP",
        "keys": keys,
    }


def _mirror(url):
    return str(url).rstrip("/")


def _observed(key, config, info):
    """(wanted, seen) for a key GET /info shows, or None when it shows none."""
    registry = info.get("RegistryConfig") or {}
    if key == "registry-mirrors":
        return (
            sorted(_mirror(m) for m in config.get(key) or []),
            sorted(_mirror(m) for m in registry.get("Mirrors") or []),
        )
    if key == "insecure-registries":
        seen = set(registry.get("InsecureRegistryCIDRs") or []) - _INSECURE_DEFAULTS
        for name, index in (registry.get("IndexConfigs") or {}).items():
            if isinstance(index, dict) and index.get("Secure") is False:
                seen.add(name)
        return sorted(set(config.get(key) or []) - _INSECURE_DEFAULTS), sorted(seen)
    if key == "debug":
        return bool(config.get(key, False)), bool(info.get("Debug"))
    if key == "labels":
        return sorted(config.get(key) or []), sorted(info.get("Labels") or [])
    if key == "live-restore":
        return bool(config.get(key, False)), bool(info.get("LiveRestoreEnabled"))
    if key == "default-runtime":
        return config.get(key) or "runc", info.get("DefaultRuntime") or "runc"
    if key == "runtimes":
        wanted = sorted(config.get(key) or {})
        return wanted, sorted(name for name in info.get("Runtimes") or {} if name in wanted)
    return None


def not_taken(keys, config, info):
    """The keys among ``keys`` whose value GET /info (``info``) shows and does
    not match daemon.json's settings (``config``): ``{key: (wanted, seen)}``.
    Keys /info does not show are left to the daemon's journal."""
    differs = {}
    for key in keys:
        pair = _observed(key, config, info)
        if pair is not None and pair[0] != pair[1]:
            differs[key] = pair
    return differs


def shown_in_info(keys):
    """The keys among ``keys`` whose value GET /info shows."""
    probe = {"RegistryConfig": {}, "Plugins": {}}
    return [key for key in keys if _observed(key, {}, probe) is not None]

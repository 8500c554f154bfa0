"""plugins/module_utils/_reload: which daemon.json changes dockerd reloads,
per version, and what GET /info must show after a reload."""

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._reload import (
    changed_keys,
    decide,
    not_taken,
    parse_version,
    reloadable_keys,
    shown_in_info,
)

PATH = "/etc/docker/daemon.json"
MIRROR = "http://172.17.0.1:5000"
V20, V26, V28 = (20, 10), (26, 1), (28, 5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20.10.24+dfsg1", (20, 10)),
        ("26.1.5+dfsg1-9+b2", (26, 1)),
        ("28.5.2", (28, 5)),
        ("v27.0.1", (27, 0)),
        ("", None),
        (None, None),
        ("dev", None),
    ],
)
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("version", [V20, V26, V28])
@pytest.mark.parametrize(
    "key",
    [
        "registry-mirrors",
        "insecure-registries",
        "debug",
        "labels",
        "live-restore",
        "max-concurrent-downloads",
        "authorization-plugins",
    ],
)
def test_keys_every_supported_version_reloads(version, key):
    assert key in reloadable_keys(version)


@pytest.mark.parametrize("version", [V20, V26, V28])
@pytest.mark.parametrize(
    "key",
    [
        "log-driver",
        "log-opts",
        "log-level",
        "userland-proxy",
        "icc",
        "no-new-privileges",
    ],
)
def test_keys_no_version_reloads(version, key):
    assert key not in reloadable_keys(version)


def test_docker_28_no_longer_reloads_allow_nondistributable_artifacts():
    assert "allow-nondistributable-artifacts" in reloadable_keys(V26)
    assert "allow-nondistributable-artifacts" not in reloadable_keys(V28)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({}, {}, []),
        ({"debug": True}, {"debug": True}, []),
        ({"debug": True}, {"debug": False}, ["debug"]),
        ({}, {"registry-mirrors": [MIRROR]}, ["registry-mirrors"]),
        ({"labels": ["a=1"], "icc": False}, {"icc": False}, ["labels"]),
        ({"log-opts": {"max-size": "10m"}}, {"log-opts": {"max-size": "20m"}}, ["log-opts"]),
    ],
)
def test_changed_keys(before, after, expected):
    assert changed_keys(before, after) == expected


def test_only_reloadable_keys_reload():
    result = decide([PATH], PATH, {"icc": False}, {"icc": False, "registry-mirrors": [MIRROR]}, V20)
    assert result == {
        "action": "reload",
        "reason": "dockerd 20.10 reloads every changed key (registry-mirrors) on SIGHUP",
        "keys": ["registry-mirrors"],
    }


@pytest.mark.parametrize(
    ("pending", "before", "after", "version", "reason"),
    [
        ([], {}, {}, V26, "no pending change is recorded, so what changed is unknown"),
        (
            [PATH, "/etc/docker/tls/server-cert.pem"],
            {},
            {"debug": True},
            V26,
            "/etc/docker/tls/server-cert.pem changed; dockerd reads it only when it starts",
        ),
        (
            ["/etc/systemd/system/docker.service.d/dockerlab-listener.conf"],
            None,
            None,
            V26,
            "/etc/systemd/system/docker.service.d/dockerlab-listener.conf changed; "
            "dockerd reads it only when it starts",
        ),
        (
            [PATH],
            None,
            {"debug": True},
            V26,
            f"{PATH} as the daemon runs it, or as it is now, cannot be read",
        ),
        ([PATH], {"debug": True}, {"debug": True}, V26, f"{PATH} changed, but no setting in it did"),
        (
            [PATH],
            {},
            {"debug": True},
            None,
            "the daemon did not say its version, so what it can reload is unknown",
        ),
        (
            [PATH],
            {},
            {"debug": True, "log-level": "warn"},
            V26,
            "dockerd 26.1 applies log-level only when it starts",
        ),
        (
            [PATH],
            {"allow-nondistributable-artifacts": []},
            {"allow-nondistributable-artifacts": ["r:5000"]},
            V28,
            "dockerd 28.5 applies allow-nondistributable-artifacts only when it starts",
        ),
        (
            [PATH],
            {"registry-mirrors": [MIRROR], "debug": True},
            {"debug": True},
            V20,
            "registry-mirrors was removed, and dockerd 20.10 keeps the value it runs with when it reloads "
            "a daemon.json without it",
        ),
    ],
    ids=[
        "nothing-pending",
        "tls-file",
        "drop-in",
        "unreadable",
        "no-key-changed",
        "no-version",
        "log-level",
        "deprecated-in-28",
        "removed-mirrors",
    ],
)
def test_what_restarts(pending, before, after, version, reason):
    result = decide(pending, PATH, before, after, version)
    assert (result["action"], result["reason"]) == ("restart", reason)


def test_removing_a_key_the_reload_resets_reloads():
    result = decide([PATH], PATH, {"max-concurrent-downloads": 6}, {}, V26)
    assert result["action"] == "reload"


def info(**overrides):
    base = {
        "Debug": False,
        "LiveRestoreEnabled": True,
        "Labels": [],
        "DefaultRuntime": "runc",
        "Runtimes": {"runc": {"path": "runc"}},
        "RegistryConfig": {
            "Mirrors": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Secure": True}},
        },
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("keys", "config", "answer"),
    [
        (
            ["registry-mirrors"],
            {"registry-mirrors": [MIRROR]},
            info(RegistryConfig={"Mirrors": [f"{MIRROR}/"]}),
        ),
        (
            ["registry-mirrors"],
            {"registry-mirrors": [f"{MIRROR}/"]},
            info(RegistryConfig={"Mirrors": [MIRROR]}),
        ),
        (["debug"], {"debug": True}, info(Debug=True)),
        (["debug"], {}, info()),
        (["labels"], {"labels": ["b=2", "a=1"]}, info(Labels=["a=1", "b=2"])),
        (["live-restore"], {"live-restore": True}, info()),
        (
            ["insecure-registries"],
            {"insecure-registries": ["10.1.0.0/16", "registry.lab:5000"]},
            info(
                RegistryConfig={
                    "InsecureRegistryCIDRs": ["10.1.0.0/16", "127.0.0.0/8"],
                    "IndexConfigs": {"registry.lab:5000": {"Secure": False}, "docker.io": {"Secure": True}},
                }
            ),
        ),
        (
            ["runtimes"],
            {"runtimes": {"crun": {"path": "/usr/bin/crun"}}},
            info(Runtimes={"runc": {}, "crun": {}}),
        ),
        (["default-runtime"], {}, info()),
        (["max-concurrent-downloads", "shutdown-timeout"], {"max-concurrent-downloads": 6}, info()),
    ],
)
def test_values_the_daemon_took(keys, config, answer):
    assert not_taken(keys, config, answer) == {}


@pytest.mark.parametrize(
    ("keys", "config", "answer", "expected"),
    [
        (
            ["registry-mirrors"],
            {"registry-mirrors": [MIRROR]},
            info(),
            {"registry-mirrors": ([MIRROR], [])},
        ),
        (
            ["registry-mirrors"],
            {},
            info(RegistryConfig={"Mirrors": [f"{MIRROR}/"]}),
            {"registry-mirrors": ([], [MIRROR])},
        ),
        (["debug"], {"debug": True}, info(), {"debug": (True, False)}),
        (["live-restore"], {"live-restore": False}, info(), {"live-restore": (False, True)}),
        (["labels"], {"labels": ["a=1"]}, info(), {"labels": (["a=1"], [])}),
        (
            ["insecure-registries"],
            {"insecure-registries": ["registry.lab:5000"]},
            info(),
            {"insecure-registries": (["registry.lab:5000"], [])},
        ),
        (["default-runtime"], {"default-runtime": "crun"}, info(), {"default-runtime": ("crun", "runc")}),
        (["runtimes"], {"runtimes": {"crun": {}}}, info(), {"runtimes": (["crun"], [])}),
    ],
)
def test_values_the_daemon_did_not_take(keys, config, answer, expected):
    assert not_taken(keys, config, answer) == expected


def test_keys_info_shows_and_the_ones_left_to_the_journal():
    keys = ["registry-mirrors", "max-concurrent-downloads", "debug", "shutdown-timeout", "features"]
    assert shown_in_info(keys) == ["registry-mirrors", "debug"]

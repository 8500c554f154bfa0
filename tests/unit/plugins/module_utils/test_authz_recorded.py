"""plugins/module_utils/_authz on requests recorded from real clients: what
dockerd sent an authorization plugin while the docker CLI of a lab host did
the walkthrough and tried each way out of a container
(tests/lab/authz_capture.sh, one fixture per Docker version). Each case is
judged as if a restricted user had sent it."""

import json
from pathlib import Path

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._authz import decide

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "authz").glob("docker-*.json"))
# The rule that refuses each case; None: every request of the case is allowed.
EXPECTED = {
    "pull": None,
    "images": None,
    "create": None,
    "start": None,
    "ps": None,
    "exec": None,
    "exec-privileged": "privileged",
    "stop": None,
    "privileged": "privileged",
    "bind-root": "host-path",
    "bind-socket": "host-path",
    "mount-bind": "host-path",
    "volume-bind": "host-path",
    "volume-named": None,
    "cap-sys-admin": "capabilities",
    "cap-all": "capabilities",
    "pid-host": "host-namespace",
    "ipc-host": "host-namespace",
    "uts-host": "host-namespace",
    "net-host": "host-namespace",
    "userns-host": "host-namespace",
    "device": "devices",
    "seccomp-unconfined": "seccomp",
    "apparmor-unconfined": "apparmor",
    "nnp-false": "no-new-privileges",
    "systempaths-unconfined": "masked-paths",
    "cgroup-parent": "cgroup-parent",
    "hardened": None,
    "rm": None,
}
# The walkthrough's container, which the restricted user created.
OWN = "capture-app"


def cases():
    for path in FIXTURES:
        recorded = json.loads(path.read_text())
        for name, requests in recorded["cases"].items():
            yield pytest.param(recorded["docker"], name, requests, id=f"{recorded['docker']}-{name}")


def test_there_are_recordings_of_each_docker_version():
    versions = sorted(json.loads(path.read_text())["docker"].split(".")[0] for path in FIXTURES)
    assert versions == ["20", "26", "28"]


@pytest.mark.parametrize(("docker", "name", "requests"), list(cases()))
def test_each_recorded_case_is_judged_as_the_policy_says(docker, name, requests):
    assert name in EXPECTED, f"{name} (Docker {docker}) has no expected outcome"
    assert requests, f"{name}: nothing was recorded"
    refused = set()
    for request in requests:
        decision = decide(
            {**request, "User": "alice", "UserAuthNMethod": "TLS"},
            {"alice"},
            owns_container=lambda ref: ref == OWN,
            owns_exec=lambda _id: True,
        )
        if not decision.allow:
            refused.add(decision.rule)
    assert refused == ({EXPECTED[name]} if EXPECTED[name] else set()), (docker, name, refused)


def test_every_expected_case_was_recorded_for_every_version():
    for path in FIXTURES:
        recorded = json.loads(path.read_text())
        assert sorted(recorded["cases"]) == sorted(EXPECTED), path.name

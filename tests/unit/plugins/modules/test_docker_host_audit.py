"""plugins/modules/docker_host_audit: the pure checks on realistic inputs, owners and
modes of real temporary files, the error paths, and the module against the
real local Docker engine with containers created (never started) for it."""

import collections
import datetime
import functools
import grp
import http.server
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_config import (
    PLUGIN_NAME,
    command_plugins,
    configured_plugins,
    plugin_silence,
    silent_plugins,
)
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_install import policy_text
from ansible_collections.dockerlab.docker.plugins.module_utils._authz_server import Handler, UnixServer
from ansible_collections.dockerlab.docker.plugins.module_utils._daemon_json import DEFAULT_PATH, parse
from ansible_collections.dockerlab.docker.plugins.module_utils._files import read_text
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import daemon_flags
from ansible_collections.dockerlab.docker.plugins.modules import docker_host_audit
from ansible_collections.dockerlab.docker.plugins.modules.docker_host_audit import (
    RANK,
    SEVERITIES,
    authorization_findings,
    certificate_end,
    container_findings,
    daemon_no_new_privileges,
    dockerd_pids,
    listener_findings,
    mode_findings,
    read_proc_file,
    revoked_bundle_finding,
    sensitive_mount,
    settings_findings,
    socket_mounted,
    status_no_new_privs,
    user_home,
)
from ansible_collections.dockerlab.docker.tests.unit import x509_certs

SOCKET = "/var/run/docker.sock"
IMAGE = "digitalocean/flask-helloworld:latest"
ANY_IPV4 = "0.0.0.0"  # noqa: S104 - an address under test; nothing binds to it here
REMEDIATION_TCP = "Listen with mutual TLS (docker_access_tcp: tls) or not at all (docker_access_tcp: off)."
HOST_EXPOSED = "only local users and containers sharing the host network"
# What `docker create IMAGE` with no hardening option gives, in the order the module reports it.
DEFAULT_CONTAINER = [
    ("container-capabilities-not-dropped", "info", "5.4"),
    ("container-runs-as-root", "low", "4.1"),
    ("container-no-memory-limit", "low", "5.11"),
    ("container-no-cpu-shares", "info", "5.12"),
    ("container-rootfs-writable", "info", "5.13"),
    ("container-new-privileges-allowed", "low", "5.26"),
    ("container-no-healthcheck", "info", "5.27"),
    ("container-no-pids-limit", "low", "5.29"),
]
DEFAULT_DAEMON = [
    ("daemon-live-restore-off", "low", "2.15"),
    ("daemon-icc-on", "low", "2.2"),
    ("daemon-userns-off", "info", "2.9"),
    ("daemon-new-privileges-allowed", "low", "2.14"),
    ("daemon-userland-proxy-on", "info", "2.16"),
    ("daemon-log-unbounded", "info", "2.13"),
]
# Findings that depend on this machine (its dockerd and unit files, its
# docker group), not on the paths a test hands the module. The authorization
# plugins come from dockerd's command line too (tests that decide them set
# the command line: dockerd_cmdline).
HOST_DEPENDENT = (
    "daemon-authorization-plugin-silent",
    "daemon-no-authorization",
    "daemon-tcp-",
    "daemon-tls-",
    "docker-group-members",
    "file-docker-service",
    "file-docker-socket",
)


def summary(findings):
    return [(f["id"], f["severity"], f["cis"]) for f in findings]


def identity(path):
    return path


# --- daemon command line and listeners ---------------------------------------------------


def listener(url, *, tls=False, tlsverify=False, source="the running dockerd"):
    return {"url": url, "source": source, "tls": tls, "tlsverify": tlsverify}


def test_an_unauthenticated_listener_on_every_interface_is_critical():
    assert listener_findings([listener("tcp://0.0.0.0:2375")]) == [
        {
            "id": "daemon-tcp-unauthenticated",
            "severity": "critical",
            "title": "Unauthenticated TCP listener",
            "target": "daemon",
            "evidence": "tcp://0.0.0.0:2375 without --tlsverify (from the running dockerd): anyone who can "
            "reach it on port 2375 controls the daemon, which is root on the host",
            "remediation": REMEDIATION_TCP,
            "cis": "2.7",
        }
    ]


def test_an_unauthenticated_listener_on_loopback_is_high():
    assert listener_findings(
        [listener("tcp://127.0.0.1:2375", source="docker.service and its drop-ins")]
    ) == [
        {
            "id": "daemon-tcp-unauthenticated",
            "severity": "high",
            "title": "Unauthenticated TCP listener",
            "target": "daemon",
            "evidence": "tcp://127.0.0.1:2375 without --tlsverify (from docker.service and its drop-ins): "
            f"{HOST_EXPOSED} on port 2375 controls the daemon, which is root on the host",
            "remediation": REMEDIATION_TCP,
            "cis": "2.7",
        }
    ]


@pytest.mark.parametrize(
    ("url", "severity"),
    [
        ("tcp://[::]:2375", "critical"),
        ("tcp://192.168.1.10:2375", "critical"),
        ("tcp://docker.example.com:2375", "critical"),
        ("0.0.0.0:2375", "critical"),
        ("tcp://[::1]:2375", "high"),
        ("tcp://localhost:2375", "high"),
        ("tcp://:2375", "high"),
    ],
)
def test_the_severity_of_an_unauthenticated_listener_follows_its_address(url, severity):
    assert summary(listener_findings([listener(url)])) == [("daemon-tcp-unauthenticated", severity, "2.7")]


def test_tls_without_verification_is_reported_as_such():
    found = listener_findings([listener("tcp://0.0.0.0:2376", tls=True)])
    assert summary(found) == [("daemon-tcp-tls-without-verify", "critical", "2.7")]
    assert found[0]["title"] == "TCP listener with TLS but no client verification"
    assert found[0]["evidence"] == (
        "tcp://0.0.0.0:2376 with --tls but not --tlsverify (from the running dockerd): anyone who can "
        "reach it on port 2376 controls the daemon, which is root on the host"
    )


def test_tls_without_verification_on_loopback_is_high():
    found = listener_findings([listener("tcp://127.0.0.1:2376", tls=True)])
    assert summary(found) == [("daemon-tcp-tls-without-verify", "high", "2.7")]


@pytest.mark.parametrize("url", ["tcp://0.0.0.0:2376", "tcp://127.0.0.1:2376"])
def test_a_listener_with_tlsverify_is_fine(url):
    assert listener_findings([listener(url, tls=True, tlsverify=True)]) == []


def test_a_listener_seen_twice_is_reported_once():
    found = listener_findings(
        [
            listener("tcp://0.0.0.0:2375"),
            listener("tcp://0.0.0.0:2375", source="docker.service and its drop-ins"),
            listener("tcp://127.0.0.1:2375"),
        ]
    )
    assert [f["evidence"].split(" ", 1)[0] for f in found] == ["tcp://0.0.0.0:2375", "tcp://127.0.0.1:2375"]
    assert "(from the running dockerd)" in found[0]["evidence"]


@pytest.mark.parametrize("url", ["fd://", "unix:///var/run/docker.sock", "unix:///run/user/1000/docker.sock"])
def test_local_listeners_are_not_findings(url):
    assert listener_findings([listener(url)]) == []


# --- containers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "socket_path"),
    [
        (SOCKET, SOCKET),
        ("/var/run", SOCKET),
        ("/var/run/", SOCKET),
        ("/run", "/run/docker.sock"),
        ("/", SOCKET),
    ],
)
def test_socket_mounted_the_socket_or_a_directory_above_it(source, socket_path):
    assert socket_mounted(source, socket_path, identity) is True


@pytest.mark.parametrize(
    "source",
    ["/var/run/docker", "/var/lib/docker", "/run/containerd", "/home", "/srv/app", "/var/run/docker.sock.d"],
)
def test_socket_mounted_ignores_unrelated_paths(source):
    assert socket_mounted(source, SOCKET, identity) is False


@pytest.fixture
def socket_tree(short_tmp):
    """A real tree like Debian's: var/run is a symlink to ../run, where the
    socket really is; srv/run-link is another symlink to the same place."""
    (short_tmp / "run").mkdir()
    (short_tmp / "var" / "lib" / "docker").mkdir(parents=True)
    (short_tmp / "var" / "run").symlink_to("../run")
    (short_tmp / "srv").mkdir()
    (short_tmp / "srv" / "run-link").symlink_to(short_tmp / "run")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(short_tmp / "run" / "docker.sock"))
    return short_tmp


@pytest.mark.parametrize(
    ("source", "exposed"),
    [
        ("var/run/docker.sock", True),
        ("run/docker.sock", True),
        ("var/run", True),
        ("run", True),  # the socket path names var/run; the bind names the real directory
        ("srv/run-link", True),  # a symlink to the directory above the socket
        ("", True),
        ("var", False),  # var/run inside the bind is a symlink, resolved in the container
        ("var/lib/docker", False),
        ("srv", False),  # srv/run-link inside the bind is a symlink too
    ],
)
def test_socket_mounted_resolves_symlinks_on_the_host(socket_tree, source, exposed):
    socket_path = str(socket_tree / "var" / "run" / "docker.sock")
    bind = str(socket_tree / source) if source else str(socket_tree)
    assert socket_mounted(bind, socket_path, os.path.realpath) is exposed


@pytest.mark.parametrize(
    ("source", "exposed"),
    [
        ("/", "/"),
        ("/etc", "/etc"),
        ("/etc/", "/etc"),
        ("/proc", "/proc"),
        ("/sys", "/sys"),
        ("/boot", "/boot"),
        ("/root", "/root"),
        ("/var/lib/docker", "/var/lib/docker"),
        ("/var/lib", "/var/lib/docker"),
        ("/var", "/var/lib/docker"),
    ],
)
def test_sensitive_mount(source, exposed):
    assert sensitive_mount(source, identity) == exposed


@pytest.mark.parametrize(
    "source",
    ["/etc/ssl", "/etc/nginx/conf.d", "/var/lib/docker/volumes/data/_data", "/var/log", "/srv/app", "/run"],
)
def test_sensitive_mount_ignores_ordinary_paths(source):
    assert sensitive_mount(source, identity) is None


def test_sensitive_mount_follows_a_symlink_to_a_sensitive_path(tmp_path):
    (tmp_path / "config").symlink_to("/etc")
    assert sensitive_mount(str(tmp_path / "config")) == "/etc"


def inspected(*, host=None, config=None, mounts=(), name="web", status="created"):
    """GET /containers/{id}/json as dockerd 20.10 answers it for
    `docker create digitalocean/flask-helloworld` (trimmed), with changes."""
    return {
        "Id": "8a7433e54965c03ade567015a09db70fc9bba4e75cbec305ac263a520d372ada",
        "Created": "2026-11-29T01:08:59.923626012Z",
        "Path": "python3",
        "Args": ["app.py"],
        "State": {"Status": status, "Running": status == "running", "Pid": 0, "ExitCode": 0},
        "Image": "sha256:c00c2e63e832fb89348d61182d1f02eafd202a6bce9538e2f67e1afae8dd18c0",
        "Name": f"/{name}",
        "Driver": "overlay2",
        "Platform": "linux",
        "AppArmorProfile": "",
        "HostConfig": {
            "Binds": None,
            "LogConfig": {"Type": "json-file", "Config": {}},
            "NetworkMode": "default",
            "PortBindings": {},
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "CapAdd": None,
            "CapDrop": None,
            "CgroupnsMode": "host",
            "IpcMode": "private",
            "PidMode": "",
            "Privileged": False,
            "PublishAllPorts": False,
            "ReadonlyRootfs": False,
            "SecurityOpt": None,
            "UTSMode": "",
            "UsernsMode": "",
            "ShmSize": 67108864,
            "Runtime": "runc",
            "CpuShares": 0,
            "Memory": 0,
            "NanoCpus": 0,
            "Devices": [],
            "PidsLimit": None,
            "MaskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/sys/firmware"],
            "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            **(host or {}),
        },
        "Mounts": list(mounts),
        "Config": {
            "Hostname": "8a7433e54965",
            "User": "",
            "ExposedPorts": {"5000/tcp": {}},
            "Env": ["PYTHONUNBUFFERED=1"],
            "Cmd": ["python3", "app.py"],
            "Image": IMAGE,
            "WorkingDir": "/app",
            "Entrypoint": None,
            **(config or {}),
        },
    }


# What dockerd 20.10 records for --user 10001:10001 --memory 256m --cpu-shares 512
# --read-only --security-opt no-new-privileges --health-cmd true --pids-limit 100 --cap-drop ALL.
HARDENED_HOST = {
    "CapDrop": ["ALL"],
    "SecurityOpt": ["no-new-privileges"],
    "Memory": 268435456,
    "CpuShares": 512,
    "ReadonlyRootfs": True,
    "PidsLimit": 100,
}
HARDENED_CONFIG = {"User": "10001:10001", "Healthcheck": {"Test": ["CMD-SHELL", "true"]}}


def hardened(*, host=None, config=None, mounts=(), status="created"):
    """A fully hardened container with changes: only the changes give findings."""
    return inspected(
        host={**HARDENED_HOST, **(host or {})},
        config={**HARDENED_CONFIG, **(config or {})},
        mounts=mounts,
        status=status,
    )


def bind(source, destination, rw=True):
    return {
        "Type": "bind",
        "Source": source,
        "Destination": destination,
        "Mode": "" if rw else "ro",
        "RW": rw,
        "Propagation": "rprivate",
    }


def test_a_default_container_lacks_every_hardening_setting():
    found = container_findings(inspected(), SOCKET, identity)
    assert summary(found) == DEFAULT_CONTAINER
    assert {f["target"] for f in found} == {"container:web"}
    assert all(f["evidence"].endswith(" (container is created)") for f in found)
    assert [f["evidence"] for f in found[:2]] == [
        "HostConfig.CapDrop is empty (container is created)",
        "Config.User is empty (root) (container is created)",
    ]


def test_a_fully_hardened_container_has_no_finding():
    assert container_findings(hardened(), SOCKET, identity) == []


@pytest.mark.parametrize(
    ("host", "config", "expected"),
    [
        ({}, {"User": ""}, ("container-runs-as-root", "low", "4.1")),
        ({}, {"User": "0"}, ("container-runs-as-root", "low", "4.1")),
        ({}, {"User": "root"}, ("container-runs-as-root", "low", "4.1")),
        ({}, {"User": "0:0"}, ("container-runs-as-root", "low", "4.1")),
        ({}, {"User": "root:docker"}, ("container-runs-as-root", "low", "4.1")),
        ({"Memory": 0}, {}, ("container-no-memory-limit", "low", "5.11")),
        ({"CpuShares": 0}, {}, ("container-no-cpu-shares", "info", "5.12")),
        ({"ReadonlyRootfs": False}, {}, ("container-rootfs-writable", "info", "5.13")),
        ({"SecurityOpt": None}, {}, ("container-new-privileges-allowed", "low", "5.26")),
        (
            {"SecurityOpt": ["no-new-privileges=false"]},
            {},
            ("container-new-privileges-allowed", "low", "5.26"),
        ),
        ({}, {"Healthcheck": None}, ("container-no-healthcheck", "info", "5.27")),
        ({}, {"Healthcheck": {"Test": ["NONE"]}}, ("container-no-healthcheck", "info", "5.27")),
        ({"PidsLimit": None}, {}, ("container-no-pids-limit", "low", "5.29")),
        ({"PidsLimit": 0}, {}, ("container-no-pids-limit", "low", "5.29")),
        ({"PidsLimit": -1}, {}, ("container-no-pids-limit", "low", "5.29")),
        ({"CapDrop": ["NET_RAW"]}, {}, ("container-capabilities-not-dropped", "info", "5.4")),
    ],
)
def test_each_missing_hardening_setting_is_one_finding(host, config, expected):
    assert summary(container_findings(hardened(host=host, config=config), SOCKET, identity)) == [expected]


@pytest.mark.parametrize(
    ("host", "config"),
    [
        ({}, {"User": "10001"}),
        ({}, {"User": "app:app"}),
        ({"SecurityOpt": ["no-new-privileges:true"]}, {}),
        ({"SecurityOpt": ["no-new-privileges=true"]}, {}),
        ({"CapDrop": ["CAP_ALL"]}, {}),
    ],
)
def test_equivalent_hardening_spellings_are_accepted(host, config):
    assert container_findings(hardened(host=host, config=config), SOCKET, identity) == []


# --- no new privileges: what is in effect -------------------------------------------------

DAEMON_NNP = {"no-new-privileges": True}
NNP_PID = 4242
LACKS_NNP = 'SecurityOpt lacks no-new-privileges and daemon.json "no-new-privileges" is not true'
REMEDIATION_LACKS_NNP = (
    'Add --security-opt no-new-privileges, or set "no-new-privileges": true in daemon.json '
    "(dockerd applies it to the containers it creates afterwards)."
)
REMEDIATION_ADD_NNP = "Recreate it with --security-opt no-new-privileges."
CONTAINER_ID = "8a7433e54965c03ade567015a09db70fc9bba4e75cbec305ac263a520d372ada"
OTHER_ID = "ed187fcfdfa3e7ac3dbcf269c72b182b4c4721e23cd82f6405de0d7ea0df58ce"
# /proc/PID/cgroup of a container's main process as the host shows it:
# cgroup v1 with the cgroupfs driver (as on the machines here), and cgroup v2
# with the systemd driver.
CGROUPS = {
    "v1 cgroupfs": "".join(
        f"{line}:/docker/{{id}}\n"
        for line in ("9:name=systemd", "8:pids", "7:blkio", "4:memory", "1:cpu", "0:")
    ),
    "v2 systemd": "0::/system.slice/docker-{id}.scope\n",
}
# /proc/PID/status of a container's main process (Linux 6.1, trimmed).
STATUS = """Name:\tpython3
Umask:\t0022
State:\tS (sleeping)
Tgid:\t{pid}
Ngid:\t0
Pid:\t{pid}
PPid:\t4218
TracerPid:\t0
Uid:\t0\t0\t0\t0
Gid:\t0\t0\t0\t0
NSpid:\t{pid}\t1
CapPrm:\t00000000a80425fb
CapEff:\t00000000a80425fb
CapBnd:\t00000000a80425fb
CapAmb:\t0000000000000000
{nnp}Seccomp:\t2
Seccomp_filters:\t1
voluntary_ctxt_switches:\t152
"""


def with_security_opt(security_opt, *, status="created", pid=0):
    """A container hardened in all but no-new-privileges: SecurityOpt as given."""
    info = hardened(host={"SecurityOpt": security_opt}, status=status)
    info["State"]["Pid"] = pid
    return info


def running(security_opt):
    return with_security_opt(security_opt, status="running", pid=NNP_PID)


@pytest.fixture
def proc(tmp_path):
    """A /proc of real files under tmp_path: ``proc.add(pid, nnp, cgroup)``
    writes PID/status (with ``NoNewPrivs:\\t{nnp}``, or without the field
    when nnp is None) and PID/cgroup; ``proc.read`` is the module's reader
    rooted there."""
    root = tmp_path / "proc"

    def add(pid, nnp, cgroup=None):
        (root / str(pid)).mkdir(parents=True)
        cgroup = CGROUPS["v1 cgroupfs"].format(id=CONTAINER_ID) if cgroup is None else cgroup
        field = "" if nnp is None else f"NoNewPrivs:\t{nnp}\n"
        (root / str(pid) / "status").write_text(STATUS.format(pid=pid, nnp=field))
        (root / str(pid) / "cgroup").write_text(cgroup)
        return root / str(pid)

    return SimpleNamespace(add=add, read=functools.partial(read_proc_file, root=str(root)))


def new_privileges_found(info, daemon_config, read_proc):
    found = container_findings(info, SOCKET, identity, daemon_config, read_proc)
    return [(f["id"], f["severity"], f["cis"], f["evidence"], f["remediation"]) for f in found]


def gains(evidence, remediation, state="created"):
    return [
        ("container-new-privileges-allowed", "low", "5.26", f"{evidence} (container is {state})", remediation)
    ]


@pytest.mark.parametrize(
    ("daemon_config", "security_opt"),
    [
        (DAEMON_NNP, None),
        (DAEMON_NNP, []),
        (DAEMON_NNP, ["apparmor=docker-default", "label=disable"]),
        (DAEMON_NNP, ["no-new-privileges"]),
        (DAEMON_NNP, ["no-new-privileges=true"]),
        ({}, ["no-new-privileges"]),
        ({}, ["no-new-privileges=true"]),
        ({}, ["no-new-privileges:true"]),
        ({}, ["no-new-privileges=1"]),
        ({}, ["no-new-privileges=True"]),
        ({}, ["no-new-privileges:TRUE"]),
        ({"no-new-privileges": False}, ["no-new-privileges=t"]),
        ({}, ["no-new-privileges=false", "no-new-privileges"]),  # the last one wins, as in dockerd
    ],
)
def test_no_new_privileges_in_effect_by_configuration_is_no_finding(proc, daemon_config, security_opt):
    assert new_privileges_found(with_security_opt(security_opt), daemon_config, proc.read) == []


@pytest.mark.parametrize(
    ("daemon_config", "security_opt"),
    [
        ({}, None),
        ({}, []),
        ({"no-new-privileges": False}, None),
        ({}, ["apparmor=docker-default", "label=disable"]),
    ],
)
def test_a_container_saying_nothing_under_a_daemon_without_it_may_gain_privileges(
    proc, daemon_config, security_opt
):
    found = new_privileges_found(with_security_opt(security_opt), daemon_config, proc.read)
    assert found == gains(LACKS_NNP, REMEDIATION_LACKS_NNP)


@pytest.mark.parametrize("daemon_config", [DAEMON_NNP, {}])
@pytest.mark.parametrize(
    "security_opt",
    [
        ["no-new-privileges=false"],
        ["no-new-privileges:false"],
        ["no-new-privileges=0"],
        ["no-new-privileges=False"],
        ["no-new-privileges:f"],
        ["no-new-privileges", "label=disable", "no-new-privileges=FALSE"],  # the last one wins
    ],
)
def test_a_container_saying_false_may_gain_privileges_whatever_the_daemon_says(
    proc, daemon_config, security_opt
):
    option = security_opt[-1]
    found = new_privileges_found(with_security_opt(security_opt), daemon_config, proc.read)
    assert found == gains(f"SecurityOpt has {option}", f"Recreate it without --security-opt {option}.")


def test_the_finding_on_a_daemon_without_no_new_privileges_in_full(proc):
    assert container_findings(with_security_opt(None, status="exited"), SOCKET, identity, {}, proc.read) == [
        {
            "id": "container-new-privileges-allowed",
            "severity": "low",
            "title": "Processes may gain privileges",
            "target": "container:web",
            "evidence": f"{LACKS_NNP} (container is exited)",
            "remediation": REMEDIATION_LACKS_NNP,
            "cis": "5.26",
        }
    ]


@pytest.mark.parametrize("cgroup", list(CGROUPS))
@pytest.mark.parametrize(
    ("nnp", "daemon_config", "security_opt", "remediation"),
    [
        # The kernel says no: no finding, even where the configuration says yes.
        (1, {}, None, None),
        (1, {}, ["no-new-privileges=false"], None),
        (1, DAEMON_NNP, ["no-new-privileges"], None),
        # The kernel says yes: a finding, even where the configuration says no
        # (dockerd fixed the setting when it created the container, before
        # daemon.json had it).
        (0, DAEMON_NNP, None, REMEDIATION_ADD_NNP),
        (0, {}, ["no-new-privileges"], REMEDIATION_ADD_NNP),
        (0, {}, None, REMEDIATION_ADD_NNP),
        (
            0,
            DAEMON_NNP,
            ["no-new-privileges:false"],
            "Recreate it without --security-opt no-new-privileges:false.",
        ),
    ],
)
def test_the_kernel_decides_for_a_running_container(
    proc, cgroup, nnp, daemon_config, security_opt, remediation
):
    proc.add(NNP_PID, nnp, CGROUPS[cgroup].format(id=CONTAINER_ID))
    found = new_privileges_found(running(security_opt), daemon_config, proc.read)
    if remediation is None:
        assert found == []
    else:
        assert found == gains(f"NoNewPrivs 0 in /proc/{NNP_PID}/status", remediation, "running")


def cannot_tell(proc, kind, nnp):
    """A /proc where the running container's NoNewPrivs cannot be told; a
    status file there, if any, says ``nnp``."""
    if kind == "process gone":
        return
    if kind == "another pid namespace":
        # State.Pid is dockerd's view; here it is some other container's process.
        proc.add(NNP_PID, nnp, CGROUPS["v1 cgroupfs"].format(id=OTHER_ID))
    elif kind == "status unreadable":
        path = proc.add(NNP_PID, nnp)
        (path / "status").unlink()
        (path / "status").mkdir()
    elif kind == "cgroup unreadable":
        path = proc.add(NNP_PID, nnp)
        (path / "cgroup").unlink()
    elif kind == "status without NoNewPrivs":  # kernels before 4.10
        proc.add(NNP_PID, None)
    elif kind == "status not text":
        path = proc.add(NNP_PID, nnp)
        (path / "status").write_bytes(b"\xff\xfeNoNewPrivs:\t" + str(nnp).encode())


@pytest.mark.parametrize(
    "kind",
    [
        "process gone",
        "another pid namespace",
        "status unreadable",
        "cgroup unreadable",
        "status without NoNewPrivs",
        "status not text",
    ],
)
@pytest.mark.parametrize(("daemon_config", "allowed"), [(DAEMON_NNP, False), ({}, True)])
def test_a_running_container_is_judged_by_its_configuration_where_proc_cannot_tell(
    proc, kind, daemon_config, allowed
):
    # Where a status file is there, it says the opposite of the configuration.
    cannot_tell(proc, kind, 0 if daemon_config else 1)
    found = new_privileges_found(running(None), daemon_config, proc.read)
    assert found == (gains(LACKS_NNP, REMEDIATION_LACKS_NNP, "running") if allowed else [])


@pytest.mark.parametrize(
    ("status", "running_flag", "pid"),
    [
        ("exited", False, NNP_PID),  # a PID left in the state is not read
        ("created", False, 0),
        ("running", True, 0),
        ("running", True, -1),
    ],
)
@pytest.mark.parametrize(("daemon_config", "nnp", "allowed"), [(DAEMON_NNP, 0, False), ({}, 1, True)])
def test_proc_is_read_only_for_a_running_container_with_a_pid(
    proc, status, running_flag, pid, daemon_config, nnp, allowed
):
    for each in sorted({NNP_PID, pid}):
        proc.add(each, nnp)
    info = with_security_opt(None, status=status, pid=pid)
    info["State"]["Running"] = running_flag
    found = new_privileges_found(info, daemon_config, proc.read)
    assert found == (gains(LACKS_NNP, REMEDIATION_LACKS_NNP, status) if allowed else [])


def test_the_reader_gives_none_for_what_it_cannot_read(tmp_path):
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "status").mkdir()
    assert read_proc_file(7, "status", root=str(tmp_path)) is None
    assert read_proc_file(8, "status", root=str(tmp_path)) is None


def test_no_new_privs_as_this_kernel_writes_it():
    # This process's own status, then one of a process started with no_new_privs set.
    assert status_no_new_privs(read_proc_file("self", "status")) in (0, 1)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    text = subprocess.run(
        [setpriv, "--no-new-privs", "cat", "/proc/self/status"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    assert status_no_new_privs(text) == 1


def test_a_privileged_container_is_critical():
    assert container_findings(hardened(host={"Privileged": True}, status="exited"), SOCKET, identity) == [
        {
            "id": "container-privileged",
            "severity": "critical",
            "title": "Privileged container",
            "target": "container:web",
            "evidence": "HostConfig.Privileged is true: every capability, every device, no confinement "
            "(container is exited)",
            "remediation": "Recreate it without --privileged; add only the capabilities it needs.",
            "cis": "5.5",
        }
    ]


@pytest.mark.parametrize("rw", [True, False])
def test_the_docker_socket_bound_in_is_critical_even_read_only(rw):
    info = hardened(host={"Binds": [f"{SOCKET}:{SOCKET}"]}, mounts=[bind(SOCKET, SOCKET, rw)])
    assert container_findings(info, SOCKET, identity) == [
        {
            "id": "container-docker-socket",
            "severity": "critical",
            "title": "Docker socket mounted in the container",
            "target": "container:web",
            "evidence": f"bind {SOCKET} -> {SOCKET} exposes {SOCKET} (container is created)",
            "remediation": "Remove the bind: whoever controls the socket is root on the host.",
            "cis": "5.32",
        }
    ]


@pytest.mark.parametrize(
    ("source", "destination"), [("/run", "/hostrun"), ("/var/run", "/hostrun"), ("/", "/host")]
)
def test_the_docker_socket_through_a_parent_directory_is_critical(source, destination):
    info = hardened(mounts=[bind(source, destination)])
    found = container_findings(info, "/run/docker.sock", os.path.realpath)
    assert summary(found) == [("container-docker-socket", "critical", "5.32")]
    assert found[0]["evidence"] == (
        f"bind {source} -> {destination} exposes /run/docker.sock (container is created)"
    )


@pytest.mark.parametrize(
    ("source", "rw", "severity", "exposed"),
    [
        ("/etc", True, "high", "/etc"),
        ("/etc", False, "medium", "/etc"),
        ("/var/lib", True, "high", "/var/lib/docker"),
        ("/proc", False, "medium", "/proc"),
    ],
)
def test_a_sensitive_host_path_mounted(source, rw, severity, exposed):
    found = container_findings(hardened(mounts=[bind(source, "/host", rw)]), SOCKET, identity)
    assert summary(found) == [("container-sensitive-mount", severity, "5.6")]
    mode = "read-write" if rw else "read-only"
    assert found[0]["evidence"] == f"bind {source} -> /host ({mode}) exposes {exposed} (container is created)"


def test_volumes_and_ordinary_binds_are_not_findings():
    mounts = [
        {
            "Type": "volume",
            "Name": "data",
            "Source": "/var/lib/docker/volumes/data/_data",
            "Destination": "/data",
            "Driver": "local",
            "Mode": "z",
            "RW": True,
            "Propagation": "",
        },
        bind("/srv/app/static", "/app/static", rw=False),
        bind("/etc/ssl/certs", "/etc/ssl/certs", rw=False),
    ]
    assert container_findings(hardened(mounts=mounts), SOCKET, identity) == []


@pytest.mark.parametrize(
    ("cap_add", "expected"),
    [
        (["CAP_SYS_ADMIN"], [("high", "Capability added: SYS_ADMIN", "SYS_ADMIN")]),
        (["CAP_CHOWN"], [("medium", "Capability added: CHOWN", "CHOWN")]),
        (["ALL"], [("critical", "Capability added: ALL", "ALL")]),
        (["sys_admin", "CAP_SYS_ADMIN"], [("high", "Capability added: SYS_ADMIN", "SYS_ADMIN")]),
        (
            ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
            [
                ("high", "Capabilities added: NET_ADMIN, SYS_ADMIN", "NET_ADMIN, SYS_ADMIN"),
                ("medium", "Capabilities added: CHOWN, NET_BIND_SERVICE", "CHOWN, NET_BIND_SERVICE"),
            ],
        ),
        (
            ["ALL", "CAP_SYS_PTRACE", "CAP_CHOWN"],
            [
                ("critical", "Capabilities added: ALL, SYS_PTRACE", "ALL, SYS_PTRACE"),
                ("medium", "Capability added: CHOWN", "CHOWN"),
            ],
        ),
        (
            ["CAP_SYS_MODULE", "CAP_DAC_READ_SEARCH"],
            [("high", "Capabilities added: DAC_READ_SEARCH, SYS_MODULE", "DAC_READ_SEARCH, SYS_MODULE")],
        ),
    ],
)
def test_added_capabilities_give_one_finding_per_group(cap_add, expected):
    found = container_findings(hardened(host={"CapAdd": cap_add}), SOCKET, identity)
    assert [(f["id"], f["cis"]) for f in found] == [("container-cap-add", "5.4")] * len(expected)
    assert [(f["severity"], f["title"], f["evidence"]) for f in found] == [
        (severity, title, f"HostConfig.CapAdd has {caps} (container is created)")
        for severity, title, caps in expected
    ]


@pytest.mark.parametrize(
    ("key", "fid", "severity", "cis", "flag"),
    [
        ("PidMode", "container-host-pid", "high", "5.16", "--pid=host"),
        ("NetworkMode", "container-host-network", "high", "5.10", "--network=host"),
        ("IpcMode", "container-host-ipc", "medium", "5.17", "--ipc=host"),
        ("UTSMode", "container-host-uts", "low", "5.21", "--uts=host"),
    ],
)
def test_a_host_namespace_shared(key, fid, severity, cis, flag):
    found = container_findings(hardened(host={key: "host"}), SOCKET, identity)
    assert summary(found) == [(fid, severity, cis)]
    assert found[0]["evidence"] == f"HostConfig.{key} is host (container is created)"
    assert found[0]["remediation"] == f"Recreate it without {flag}."


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("PidMode", "container:8a7433e54965"),
        ("NetworkMode", "bridge"),
        ("NetworkMode", "none"),
        ("IpcMode", "shareable"),
        ("IpcMode", "container:8a7433e54965"),
    ],
)
def test_namespaces_not_of_the_host_are_fine(key, value):
    assert container_findings(hardened(host={key: value}), SOCKET, identity) == []


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("seccomp=unconfined", ("container-seccomp-unconfined", "medium", "5.22")),
        ("seccomp:unconfined", ("container-seccomp-unconfined", "medium", "5.22")),
        ("apparmor=unconfined", ("container-apparmor-unconfined", "medium", "5.1")),
        ("apparmor:unconfined", ("container-apparmor-unconfined", "medium", "5.1")),
    ],
)
def test_unconfined_security_profiles(option, expected):
    info = hardened(host={"SecurityOpt": ["no-new-privileges", option, "label=disable"]})
    assert summary(container_findings(info, SOCKET, identity)) == [expected]


@pytest.mark.parametrize(
    "option", ["apparmor=docker-default", "seccomp=/etc/docker/seccomp.json", "label=disable"]
)
def test_confining_security_options_are_fine(option):
    info = hardened(host={"SecurityOpt": ["no-new-privileges", option]})
    assert container_findings(info, SOCKET, identity) == []


@pytest.mark.parametrize(
    ("bindings", "evidence"),
    [
        ({"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "8080"}]}, "0.0.0.0:8080->5000/tcp"),
        ({"5000/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "0.0.0.0:8080->5000/tcp"),
        ({"5000/tcp": [{"HostIp": "::", "HostPort": "8080"}]}, ":::8080->5000/tcp"),
        (
            {
                "5000/tcp": [
                    {"HostIp": ANY_IPV4, "HostPort": "0"},
                    {"HostIp": "127.0.0.1", "HostPort": "8080"},
                ],
                "53/udp": [{"HostIp": ANY_IPV4, "HostPort": "5353"}],
            },
            "0.0.0.0:0->5000/tcp, 0.0.0.0:5353->53/udp",
        ),
    ],
)
def test_ports_published_on_every_interface(bindings, evidence):
    found = container_findings(hardened(host={"PortBindings": bindings}), SOCKET, identity)
    assert summary(found) == [("container-port-all-interfaces", "low", "5.14")]
    assert found[0]["evidence"] == f"{evidence} (container is created)"


@pytest.mark.parametrize(
    "bindings",
    [
        {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "1337"}]},
        {"5000/tcp": [{"HostIp": "::1", "HostPort": "1337"}]},
        {"5000/tcp": [{"HostIp": "192.168.1.10", "HostPort": "80"}]},
        {"5000/tcp": None},
        {},
        None,
    ],
)
def test_ports_bound_to_one_interface_are_fine(bindings):
    assert container_findings(hardened(host={"PortBindings": bindings}), SOCKET, identity) == []


def test_a_container_without_a_name_is_named_by_its_short_id():
    info = hardened(host={"Privileged": True})
    del info["Name"]
    assert [f["target"] for f in container_findings(info, SOCKET, identity)] == ["container:8a7433e54965"]


# --- daemon settings ----------------------------------------------------------------------

HARDENED_DAEMON = {
    "live-restore": True,
    "icc": False,
    "userns-remap": "default",
    "no-new-privileges": True,
    "userland-proxy": False,
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m", "max-file": "3"},
}


def test_an_empty_daemon_configuration_misses_every_setting():
    found = settings_findings({}, {})
    assert summary(found) == DEFAULT_DAEMON
    assert {f["target"] for f in found} == {"daemon"}
    assert found[-1]["evidence"] == "log-driver json-file without log-opts max-size"


def test_a_hardened_daemon_configuration_has_no_finding():
    assert (
        settings_findings(HARDENED_DAEMON, {"LiveRestoreEnabled": True, "LoggingDriver": "json-file"}) == []
    )


def test_the_running_daemon_wins_over_daemon_json():
    # daemon.json was changed but the daemon not restarted: what runs counts.
    info = {"LiveRestoreEnabled": False, "SecurityOptions": ["name=seccomp,profile=default"]}
    assert summary(settings_findings(HARDENED_DAEMON, info)) == [("daemon-live-restore-off", "low", "2.15")]


def test_settings_read_from_the_running_daemon():
    info = {
        "LiveRestoreEnabled": True,
        "LoggingDriver": "journald",
        "SecurityOptions": ["name=seccomp,profile=default", "name=userns"],
    }
    assert [f["id"] for f in settings_findings({}, info)] == [
        "daemon-icc-on",
        "daemon-new-privileges-allowed",
        "daemon-userland-proxy-on",
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"icc": True}, "daemon-icc-on"),
        ({"userland-proxy": True}, "daemon-userland-proxy-on"),
        ({"no-new-privileges": False}, "daemon-new-privileges-allowed"),
        ({"userns-remap": ""}, "daemon-userns-off"),
        ({"log-opts": {"max-file": "3"}}, "daemon-log-unbounded"),
    ],
)
def test_each_daemon_setting_undone_is_one_finding(change, expected):
    config = {**HARDENED_DAEMON, **change}
    assert [f["id"] for f in settings_findings(config, {"LiveRestoreEnabled": True})] == [expected]


def test_a_log_driver_other_than_json_file_needs_no_max_size():
    config = {**HARDENED_DAEMON, "log-driver": "local", "log-opts": {}}
    assert settings_findings(config, {"LiveRestoreEnabled": True}) == []


# --- authorization (CIS 2.12) -------------------------------------------------------------

NO_AUTHZ = {
    "id": "daemon-no-authorization",
    "severity": "low",
    "title": "No authorization plugin for Docker client commands",
    "target": "daemon",
    "evidence": 'dockerd has no --authorization-plugin and daemon.json "authorization-plugins" is empty: '
    "whoever reaches the daemon may do everything",
    "remediation": "Enable dockerlab's authorization plugin (docker_access_authz: true, with "
    "docker_access_tcp: tls) and name the users it restricts (docker_access_restricted_users).",
    "cis": "2.12",
}
SILENT_EFFECT = (
    "dockerd fails every API call while a plugin it uses does not answer, "
    "and does not start or reload with it"
)


def silent(name, why, remediation):
    return {
        "id": "daemon-authorization-plugin-silent",
        "severity": "high",
        "title": f"Authorization plugin {name} does not answer",
        "target": "daemon",
        "evidence": f"{why}: {SILENT_EFFECT}",
        "remediation": remediation,
        "cis": "",
    }


OURS_SILENT = (
    "Start it (systemctl start dockerlab-authz.socket) or install it again with the docker_access role "
    "(docker_access_authz: true)."
)
OTHER_SILENT = "Start the plugin, or stop naming it (authorization-plugins or the flag)."


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["dockerd", "--authorization-plugin", "dockerlab-authz"], ["dockerlab-authz"]),
        (["dockerd", "-H", "fd://", "--authorization-plugin=dockerlab-authz"], ["dockerlab-authz"]),
        (["dockerd", "--authorization-plugin", "a", "--authorization-plugin=b"], ["a", "b"]),
        # Not dockerd's flag, and the flag without its value.
        (["dockerd", "--authorization-plugins", "a", "--authorization-plugin"], []),
        (["dockerd", "-H", "fd://"], []),
        (None, []),
    ],
)
def test_the_plugins_of_a_dockerd_command_line(argv, names):
    assert command_plugins(argv) == names


@pytest.mark.parametrize(
    ("argvs", "config", "names"),
    [
        ([None, None], {}, []),
        ([None, None], {"authorization-plugins": []}, []),
        ([None, None], {"authorization-plugins": ["dockerlab-authz"]}, ["dockerlab-authz"]),
        # Not a list: dockerd does not start with it, and uses no plugin.
        ([None, None], {"authorization-plugins": "dockerlab-authz"}, []),
        ([["dockerd", "--authorization-plugin=a"], None], {}, ["a"]),
        # The running dockerd and its unit name the same one: once, the command lines first.
        (
            [["dockerd", "--authorization-plugin=a"], ["dockerd", "--authorization-plugin", "a"]],
            {"authorization-plugins": ["b", "a"]},
            ["a", "b"],
        ),
    ],
)
def test_the_plugins_dockerd_is_told_to_use(argvs, config, names):
    assert configured_plugins(argvs, config) == names


class NotAPluginHandler(http.server.BaseHTTPRequestHandler):
    """Answers every POST with 200 and the activation of a volume driver."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.dumps({"Implements": ["VolumeDriver"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.plugins.v1.2+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args):
        pass


@pytest.fixture
def authz_plugin():
    """Start dockerlab's plugin server on a Unix socket: ``start(path,
    handler=Handler)``; the plugin's handler answers /Plugin.Activate as
    dockerd expects."""
    servers = []

    def start(path, handler=Handler):
        path.parent.mkdir(parents=True, exist_ok=True)
        server = UnixServer(str(path), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def unanswered_socket(path):
    """A Unix socket file nobody listens on, as a plugin that died leaves it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    return path


def test_a_plugin_answering_on_its_socket_is_not_silent(short_tmp, authz_plugin):
    authz_plugin(short_tmp / "dockerlab-authz.sock")
    assert plugin_silence("dockerlab-authz", str(short_tmp), ()) == ""


def test_a_socket_nobody_answers_on_is_silent(short_tmp):
    sock = unanswered_socket(short_tmp / "dockerlab-authz.sock")
    assert plugin_silence("dockerlab-authz", str(short_tmp), ()) == f"{sock}: [Errno 111] Connection refused"


def test_a_socket_answering_what_is_not_an_authorization_plugin_is_silent(short_tmp, authz_plugin):
    sock = short_tmp / "dockerlab-authz.sock"
    authz_plugin(sock, NotAPluginHandler)
    assert (
        plugin_silence("dockerlab-authz", str(short_tmp), ())
        == f"{sock} answered 200, not an authorization plugin's activation"
    )


@pytest.mark.parametrize("where", [0, 1])
@pytest.mark.parametrize("ext", ["spec", "json"])
def test_a_spec_file_counts_as_present(tmp_path, short_tmp, where, ext):
    spec_dirs = (tmp_path / "etc", tmp_path / "lib")
    spec_dirs[where].mkdir()
    (spec_dirs[where] / f"other-authz.{ext}").write_text("unix:///run/other-authz/plugin.sock\n")
    assert plugin_silence("other-authz", str(short_tmp), tuple(map(str, spec_dirs))) == ""


def test_a_plugin_without_socket_or_spec_file_is_silent(tmp_path, short_tmp):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "another.spec").write_text("unix:///run/another.sock\n")
    assert (
        plugin_silence("other-authz", str(short_tmp), (str(tmp_path / "etc"),))
        == f"neither {short_tmp}/other-authz.sock nor a spec file exists"
    )


def test_silent_plugins_names_each_plugin_that_would_not_answer(tmp_path, short_tmp, authz_plugin):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "byspec.json").write_text('{"Name": "byspec", "Addr": "unix:///run/elsewhere.sock"}\n')
    authz_plugin(short_tmp / "good.sock")
    dead = unanswered_socket(short_tmp / "dead.sock")
    assert silent_plugins(["good", "byspec", "dead", "gone"], str(short_tmp), (str(specs),)) == [
        f"dead: {dead}: [Errno 111] Connection refused",
        f"gone: neither {short_tmp}/gone.sock nor a spec file exists",
    ]
    assert silent_plugins("gone", str(short_tmp), (str(specs),)) == []


def test_no_authorization_plugin_fails_cis_2_12():
    assert authorization_findings([], {}) == [NO_AUTHZ]


def test_plugins_that_answer_are_no_finding():
    assert authorization_findings(["dockerlab-authz", "other-authz"], {"dockerlab-authz": ""}) == []


def test_each_plugin_that_does_not_answer_is_high():
    why = "/run/docker/plugins/dockerlab-authz.sock: [Errno 111] Connection refused"
    assert authorization_findings(
        ["other-authz", PLUGIN_NAME, "third"],
        {"other-authz": "neither x nor a spec file exists", PLUGIN_NAME: why, "third": ""},
    ) == [
        silent("other-authz", "neither x nor a spec file exists", OTHER_SILENT),
        silent(PLUGIN_NAME, why, OURS_SILENT),
    ]


@pytest.mark.parametrize(
    ("text", "end"),
    [
        # The example of Python's ssl.cert_time_to_seconds; a one-digit day is padded with a space.
        ("notAfter=Jan  5 09:34:43 2018 GMT\n", 1515144883),
        ("notAfter=Dec 31 23:59:59 2099 GMT", 4102444799),
    ],
)
def test_the_end_of_a_certificate_as_openssl_prints_it(text, end):
    assert certificate_end(text) == end


@pytest.mark.parametrize(
    "text",
    ["", "notBefore=Jan  5 09:34:43 2018 GMT", "notAfter=yesterday", "Could not read certificate from x"],
)
def test_what_is_not_an_end_date_gives_none(text):
    assert certificate_end(text) is None


CAROL_BUNDLE = "/home/carol/.docker/cert.pem"
NOW = 1_750_000_000.0


def test_an_expired_certificate_of_a_revoked_user_is_no_finding():
    assert revoked_bundle_finding("carol", CAROL_BUNDLE, NOW - 1, NOW, True) is None
    assert revoked_bundle_finding("carol", CAROL_BUNDLE, NOW, NOW, True) is None


def revoked(path, evidence, user="carol"):
    return {
        "id": "revoked-bundle-present",
        "severity": "medium",
        "title": f"Revoked user {user} still has a valid client certificate",
        "target": path,
        "evidence": f"{user} is revoked in the authorization policy, but {path} is {evidence}",
        "remediation": f"Delete {user}'s client bundle in {os.path.dirname(path)} and keep {user} revoked "
        "until the certificate expires: dockerd checks no revocation list.",
        "cis": "",
    }


@pytest.mark.parametrize(
    ("enforced", "refused"),
    [
        (True, "dockerd accepts it and only dockerlab-authz refuses the user"),
        (False, "dockerd does not use dockerlab-authz, so nothing refuses it"),
    ],
)
def test_a_valid_certificate_of_a_revoked_user_is_a_finding(enforced, refused):
    assert revoked_bundle_finding("carol", CAROL_BUNDLE, NOW + 1, NOW, enforced) == revoked(
        CAROL_BUNDLE, f"valid until 2025-06-15 15:06:41 UTC; {refused}"
    )


def test_a_certificate_whose_end_is_unknown_counts_as_valid():
    assert revoked_bundle_finding(
        "carol", CAROL_BUNDLE, "no openssl on the host to read it", NOW, True
    ) == revoked(
        CAROL_BUNDLE,
        "present, its expiry unknown (no openssl on the host to read it); "
        "dockerd accepts it and only dockerlab-authz refuses the user",
    )


@pytest.mark.parametrize(
    ("name", "home"), [("root", pwd.getpwnam("root").pw_dir), ("dockerlab-unit-nobody", None)]
)
def test_the_home_of_a_user_of_this_host(name, home):
    assert user_home(name) == home


def test_a_name_no_user_can_have_has_no_home():
    assert user_home("a\0b") is None


# --- owners and modes ---------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing the owner needs root")


def make_file(path, mode, uid=0, gid=0):
    path.write_text("{}\n")
    os.chown(path, uid, gid)
    path.chmod(mode)
    return str(path)


@needs_root
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o400])
def test_a_file_with_the_right_owner_and_mode_gives_nothing(tmp_path, mode):
    path = make_file(tmp_path / "daemon.json", mode)
    assert (
        mode_findings(path, os.stat(path), "root", "root", 0o644, "file-daemon-json", ("3.17", "3.18")) == []
    )


@needs_root
@pytest.mark.parametrize(
    ("mode", "max_mode", "evidence", "remediation"),
    [
        (0o666, 0o644, "mode 0666, expected 0644 or stricter", "chmod 0644"),
        (0o664, 0o644, "mode 0664, expected 0644 or stricter", "chmod 0644"),
        (0o4755, 0o755, "mode 4755, expected 0755 or stricter", "chmod 0755"),
        (0o440, 0o400, "mode 0440, expected 0400 or stricter", "chmod 0400"),
    ],
)
def test_a_loose_mode_is_reported_with_the_mode_cis_id(tmp_path, mode, max_mode, evidence, remediation):
    path = make_file(tmp_path / "daemon.json", mode)
    assert mode_findings(
        path, os.stat(path), "root", "root", max_mode, "file-daemon-json", ("3.17", "3.18")
    ) == [
        {
            "id": "file-daemon-json",
            "severity": "medium",
            "title": f"{path} has loose permissions",
            "target": path,
            "evidence": evidence,
            "remediation": f"{remediation} {path}",
            "cis": "3.18",
        }
    ]


@needs_root
def test_a_wrong_owner_is_reported_with_the_owner_cis_id(tmp_path):
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    path = make_file(tmp_path / "daemon.json", 0o644, nobody.pw_uid, nobody.pw_gid)
    assert mode_findings(
        path, os.stat(path), "root", "root", 0o644, "file-daemon-json", ("3.17", "3.18")
    ) == [
        {
            "id": "file-daemon-json",
            "severity": "medium",
            "title": f"{path} has the wrong owner",
            "target": path,
            "evidence": f"owned by nobody:{group}, expected root:root",
            "remediation": f"chown root:root {path}",
            "cis": "3.17",
        }
    ]


@needs_root
def test_owner_and_mode_both_wrong_give_two_findings_owner_first(tmp_path):
    path = make_file(tmp_path / "server-key.pem", 0o644, 54321, 54321)
    found = mode_findings(
        path,
        os.stat(path),
        "root",
        "root",
        0o400,
        "daemon-tls-file-permissions",
        ("3.13", "3.14"),
        "high",
        "TLS server key",
    )
    assert [(f["cis"], f["severity"], f["title"], f["evidence"]) for f in found] == [
        ("3.13", "high", "TLS server key has the wrong owner", "owned by 54321:54321, expected root:root"),
        ("3.14", "high", "TLS server key has loose permissions", "mode 0644, expected 0400 or stricter"),
    ]


@needs_root
def test_the_group_is_checked_only_when_given(tmp_path):
    nogroup = pwd.getpwnam("nobody").pw_gid
    path = make_file(tmp_path / "docker.service", 0o644, 0, nogroup)
    assert (
        mode_findings(path, os.stat(path), "root", None, 0o644, "file-docker-service", ("3.1", "3.2")) == []
    )
    found = mode_findings(path, os.stat(path), "root", "root", 0o644, "file-docker-service", ("3.1", "3.2"))
    assert [(f["cis"], f["evidence"]) for f in found] == [
        ("3.1", f"owned by root:{grp.getgrgid(nogroup).gr_name}, expected root:root")
    ]


@needs_root
def test_a_directory_mode(tmp_path):
    directory = tmp_path / "docker"
    directory.mkdir()
    directory.chmod(0o775)
    found = mode_findings(
        str(directory), os.stat(directory), "root", "root", 0o755, "file-etc-docker", ("3.5", "3.6")
    )
    assert [(f["cis"], f["evidence"]) for f in found] == [("3.6", "mode 0775, expected 0755 or stricter")]


# --- the module: error paths and file checks, with paths of its own -------------------------


@pytest.fixture
def docker_gid():
    try:
        return grp.getgrnam("docker").gr_gid
    except KeyError:
        pytest.skip("no docker group here: the socket checks expect root:docker")


@pytest.fixture
def audit(run_module, tmp_path, short_tmp, monkeypatch):
    """Run the module with a daemon.json of the test's own (absent unless
    written), and an authorization setup of its own, empty unless written:
    the plugins' socket directory (``plugin_dir``) and spec directories
    (``spec_dirs``), dockerlab's policy file (``policy_file``) and the
    home directories of the users of this host (``homes``: {user: path})."""
    etc = tmp_path / "docker"
    etc.mkdir(mode=0o755)
    etc.chmod(0o755)
    daemon_json = etc / "daemon.json"
    plugin_dir = short_tmp / "plugins"
    spec_dirs = (tmp_path / "etc-docker-plugins", tmp_path / "usr-lib-docker-plugins")
    policy_file = tmp_path / "authz" / "policy.json"
    homes = {}
    monkeypatch.setattr(docker_host_audit, "PLUGINS_DIR", str(plugin_dir))
    monkeypatch.setattr(docker_host_audit, "PLUGIN_SPEC_DIRS", tuple(map(str, spec_dirs)))
    monkeypatch.setattr(docker_host_audit, "POLICY_FILE", str(policy_file))
    monkeypatch.setattr(docker_host_audit, "user_home", homes.get)

    def run(socket_path, *, check_mode=False, **args):
        return run_module(
            docker_host_audit,
            {"socket": str(socket_path), "daemon_json": str(daemon_json), **args},
            check_mode=check_mode,
        )

    run.daemon_json = daemon_json
    run.plugin_dir, run.spec_dirs, run.policy_file, run.homes = plugin_dir, spec_dirs, policy_file, homes
    return run


def own(result):
    """The findings a test decides, without those about this machine's own dockerd and units."""
    return [f for f in result["findings"] if not f["id"].startswith(HOST_DEPENDENT)]


def unreachable(socket_path, why):
    return {
        "id": "daemon-unreachable",
        "severity": "high",
        "title": "The Docker API does not answer on the Unix socket",
        "target": "daemon",
        "evidence": f"{socket_path}: {why}",
        "remediation": "Start docker.service; the containers could not be audited.",
        "cis": "",
    }


# The settings of an empty daemon.json, as the module sorts them after the unreachable daemon.
UNREACHABLE_REST = [
    ("daemon-icc-on", "low"),
    ("daemon-live-restore-off", "low"),
    ("daemon-new-privileges-allowed", "low"),
    ("daemon-log-unbounded", "info"),
    ("daemon-userland-proxy-on", "info"),
    ("daemon-userns-off", "info"),
]


def stale_socket(path, mode=0o660, gid=0):
    """A Unix socket file nobody listens on, as a crashed dockerd leaves it."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    os.chown(path, 0, gid)
    path.chmod(mode)
    return path


@needs_root
@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("missing", "[Errno 2] No such file or directory"),
        ("stale", "[Errno 111] Connection refused"),
        ("not dockerd", 'GET /version answered HTTP 404: {"message":"page not found"}'),
    ],
)
def test_a_daemon_that_does_not_answer_is_one_high_finding(
    audit, short_tmp, unix_ping_server, docker_gid, kind, why
):
    path = short_tmp / "docker.sock"
    if kind == "stale":
        stale_socket(path, gid=docker_gid)
    elif kind != "missing":
        unix_ping_server(path)
        os.chown(path, 0, docker_gid)
        path.chmod(0o660)
    result = audit(path)
    assert result["changed"] is False
    assert "failed" not in result
    assert own(result)[0] == unreachable(path, why)
    assert [(f["id"], f["severity"]) for f in own(result)[1:]] == UNREACHABLE_REST
    assert not any(f["target"].startswith("container:") for f in result["findings"])
    assert result["daemon"]["reachable"] is False
    assert result["daemon"]["containers"] == 0


@needs_root
@pytest.mark.parametrize(("mode", "severity"), [(0o666, "critical"), (0o664, "critical"), (0o670, "medium")])
def test_the_socket_file_is_checked_even_when_the_daemon_is_down(audit, short_tmp, mode, severity):
    path = stale_socket(short_tmp / "docker.sock", mode)
    found = [f for f in audit(path)["findings"] if f["id"] == "file-docker-sock"]
    assert [(f["severity"], f["cis"], f["title"], f["evidence"]) for f in found] == [
        (
            severity,
            "3.15",
            "the Docker socket has the wrong owner",
            "owned by root:root, expected root:docker",
        ),
        (
            severity,
            "3.16",
            "the Docker socket has loose permissions",
            f"mode {mode:04o}, expected 0660 or stricter",
        ),
    ]
    assert {f["target"] for f in found} == {str(path)}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"live-restore": tru}', "is not valid JSON: Expecting value: line 1 column 18 (char 17)"),
        (
            "{'icc': false}",
            "is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ('{"a": 1}\n{"b": 2}\n', "is not valid JSON: Extra data: line 2 column 1 (char 9)"),
        # dockerd refuses a file whose top level is not an object as well.
        ('["live-restore"]', "must hold a JSON object at the top level, not list"),
        ("true", "must hold a JSON object at the top level, not bool"),
    ],
)
def test_an_invalid_daemon_json_is_a_high_finding_naming_the_file(audit, short_tmp, text, error):
    audit.daemon_json.write_text(text)
    audit.daemon_json.chmod(0o644)
    result = audit(short_tmp / "missing.sock")
    assert "failed" not in result
    invalid = [f for f in result["findings"] if f["id"] == "daemon-json-invalid"]
    assert invalid == [
        {
            "id": "daemon-json-invalid",
            "severity": "high",
            "title": "daemon.json is not valid JSON",
            "target": str(audit.daemon_json),
            "evidence": f"{audit.daemon_json} {error}",
            "remediation": "Fix the file: dockerd refuses to start with it.",
            "cis": "",
        }
    ]
    # The rest of the audit goes on as for an empty file.
    assert [(f["id"], f["severity"]) for f in own(result)] == [
        ("daemon-json-invalid", "high"),
        ("daemon-unreachable", "high"),
        *UNREACHABLE_REST,
    ]


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("not utf-8", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
        ("directory", "[Errno 21] Is a directory: '{path}'"),
    ],
)
def test_a_daemon_json_that_cannot_be_read_is_a_high_finding_naming_why(audit, short_tmp, kind, why):
    if kind == "directory":
        audit.daemon_json.mkdir()
    else:
        audit.daemon_json.write_bytes(b"\xff\xfe{}")
    result = audit(short_tmp / "missing.sock")
    assert "failed" not in result, result.get("msg")
    invalid = [f for f in result["findings"] if f["id"] == "daemon-json-invalid"]
    assert [(f["severity"], f["target"], f["evidence"]) for f in invalid] == [
        (
            "high",
            str(audit.daemon_json),
            f"{audit.daemon_json} cannot be read: {why.format(path=audit.daemon_json)}",
        )
    ]


@needs_root
def test_loose_daemon_json_and_etc_docker_are_reported(audit, short_tmp):
    audit.daemon_json.parent.chmod(0o777)
    make_file(audit.daemon_json, 0o666, 54321, 0)
    found = [f for f in audit(short_tmp / "missing.sock")["findings"] if f["id"].startswith("file-")]
    assert [(f["id"], f["cis"], f["target"], f["evidence"]) for f in found] == [
        ("file-etc-docker", "3.6", str(audit.daemon_json.parent), "mode 0777, expected 0755 or stricter"),
        ("file-daemon-json", "3.17", str(audit.daemon_json), "owned by 54321:root, expected root:root"),
        ("file-daemon-json", "3.18", str(audit.daemon_json), "mode 0666, expected 0644 or stricter"),
    ]


@needs_root
def test_hosts_and_tls_files_from_daemon_json(audit, short_tmp, tmp_path):
    ca, key = tmp_path / "ca.pem", tmp_path / "server-key.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    ca.chmod(0o644)
    audit.daemon_json.write_text(
        '{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"],'
        f' "tls": true, "tlscacert": "{ca}", "tlskey": "{key}"}}'
    )
    result = audit(short_tmp / "missing.sock")
    source = str(audit.daemon_json)
    assert [item for item in result["daemon"]["listeners"] if item["source"] == source] == [
        {"url": "unix:///var/run/docker.sock", "source": source, "tls": True, "tlsverify": False},
        {"url": "tcp://0.0.0.0:2375", "source": source, "tls": True, "tlsverify": False},
    ]
    found = [
        f
        for f in result["findings"]
        if f["target"] in (str(ca), str(key)) or f"(from {source})" in f["evidence"]
    ]
    assert [(f["id"], f["severity"], f["cis"], f["title"]) for f in found] == [
        (
            "daemon-tcp-tls-without-verify",
            "critical",
            "2.7",
            "TCP listener with TLS but no client verification",
        ),
        ("daemon-tls-file-missing", "high", "3.13", "TLS server key missing"),
        ("daemon-tls-file-permissions", "medium", "3.10", "TLS CA certificate has loose permissions"),
    ]
    assert found[1]["evidence"] == f"[Errno 2] No such file or directory: '{key}'"
    assert found[2]["evidence"] == "mode 0644, expected 0444 or stricter"


# --- the module: finding this host's dockerd --------------------------------------------------

NESTED_URL = "tcp://0.0.0.0:23759"


@pytest.fixture
def without_systemctl(monkeypatch, tmp_path):
    """A PATH without systemctl, as on a host not run by systemd."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def named_dockerd():
    """Every process named dockerd that /proc shows, in any PID namespace."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as handle:
                if handle.read() == "dockerd\n":
                    pids.append(pid)
        except OSError:
            pass
    return pids


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [a.decode() for a in handle.read().split(b"\0") if a]
    except OSError:
        return []


@pytest.fixture
def fake_dockerd(short_tmp):
    """Start a shell script named dockerd (so its comm is dockerd) that
    waits on its stdin: ``start(*args, nested=False)`` returns its PID as
    seen from here. ``nested=True`` starts it in a new PID namespace, which
    is what a dockerd inside a container looks like from the host."""
    script = short_tmp / "dockerd"
    script.write_text("#!/bin/sh\nread line\n")
    script.chmod(0o755)
    unshare = shutil.which("unshare")  # now: a test may empty PATH afterwards
    processes = []

    def start(*args, nested=False):
        marker = f"dockerlab-unit-{secrets.token_hex(4)}"
        argv = [str(script), *args, marker]
        if nested:
            if os.geteuid() != 0 or unshare is None:
                pytest.skip("a new PID namespace needs root and unshare(1)")
            # unshare --fork ignores SIGTERM; --kill-child takes the namespace down with it.
            argv = [unshare, "--pid", "--kill-child", *argv]
        process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        processes.append(process)
        deadline = time.monotonic() + 5
        while True:
            found = [pid for pid in named_dockerd() if marker in cmdline(pid)]
            if found:
                return found[0]
            if process.poll() is not None:
                pytest.skip(f"{argv[0]} failed here: {process.stderr.read().decode().strip()}")
            assert time.monotonic() < deadline, f"{argv} did not show up in /proc"
            time.sleep(0.02)

    yield start
    for process in processes:
        process.kill()
        process.wait(timeout=5)
        process.stdin.close()
        process.stderr.close()


def test_dockerd_pids_finds_a_dockerd_in_this_pid_namespace(fake_dockerd):
    assert fake_dockerd() in dockerd_pids()


def test_dockerd_pids_leaves_out_a_dockerd_in_another_pid_namespace(fake_dockerd):
    nested = fake_dockerd("-H", NESTED_URL, nested=True)
    assert os.readlink(f"/proc/{nested}/ns/pid") != os.readlink("/proc/self/ns/pid")
    pids = dockerd_pids()
    assert nested not in pids
    assert {os.readlink(f"/proc/{pid}/ns/pid") for pid in pids} <= {os.readlink("/proc/self/ns/pid")}


def test_the_audit_runs_on_a_host_without_systemctl(audit, short_tmp, without_systemctl):
    result = audit(short_tmp / "missing.sock", unit="dockerlab-unit-none.service")
    assert "failed" not in result, result.get("msg")
    assert own(result)[0]["id"] == "daemon-unreachable"


def test_the_listeners_of_a_dockerd_in_a_container_are_not_this_hosts(
    fake_dockerd, without_systemctl, audit, short_tmp
):
    fake_dockerd("-H", NESTED_URL, nested=True)
    result = audit(short_tmp / "missing.sock", unit="dockerlab-unit-none.service")
    running = {
        item["url"] for item in result["daemon"]["listeners"] if item["source"] == "the running dockerd"
    }
    assert NESTED_URL not in running
    first = dockerd_pids()[:1]
    assert running == (set(daemon_flags(cmdline(first[0]))["hosts"]) if first else set())
    assert not any(NESTED_URL in f["evidence"] for f in result["findings"])


# --- the module: dockerd's authorization plugins and dockerlab's policy ------------------------

AUTHZ_IDS = ("daemon-no-authorization", "daemon-authorization-plugin-silent", "revoked-bundle-present")


@pytest.fixture
def dockerd_cmdline(monkeypatch):
    """This machine's dockerd command line as the audit reads it, set by the
    test (a dockerd with the test's flags cannot run here): extend the list."""
    argv = ["/usr/bin/dockerd", "-H", "fd://"]
    monkeypatch.setattr(docker_host_audit.Auditor, "running_argv", lambda _self: argv)
    return argv


def audit_authz(audit, short_tmp, **args):
    """The audit with no daemon and no unit: what it says about authorization."""
    result = audit(short_tmp / "missing.sock", unit="dockerlab-unit-none.service", **args)
    assert "failed" not in result, result.get("msg")
    return result


def authz_found(result):
    return [f for f in result["findings"] if f["id"] in AUTHZ_IDS]


def policy_report(audit, *, enabled=False, answers=False, restricted=(), revoked=(), readable=False):
    return {
        "enabled": enabled,
        "answers": answers,
        "restricted": list(restricted),
        "revoked": list(revoked),
        "policy_file": str(audit.policy_file),
        "readable": readable,
    }


def write_policy(audit, restricted, revoked):
    audit.policy_file.parent.mkdir(parents=True, exist_ok=True)
    audit.policy_file.write_text(policy_text(restricted, revoked))


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_daemon_without_authorization_plugin_fails_cis_2_12(audit, short_tmp, dockerd_cmdline, check_mode):
    result = audit_authz(audit, short_tmp, check_mode=check_mode)
    assert result["changed"] is False
    assert authz_found(result) == [NO_AUTHZ]
    assert result["authorization"] == {"plugins": [], "dockerlab_policy": policy_report(audit)}


def name_plugin(audit, dockerd_cmdline, how, name=PLUGIN_NAME):
    if how == "daemon.json":
        audit.daemon_json.write_text(f'{{"authorization-plugins": ["{name}"]}}\n')
    elif how == "flag":
        dockerd_cmdline.extend(["--authorization-plugin", name])
    else:
        dockerd_cmdline.append(f"--authorization-plugin={name}")


@pytest.mark.parametrize("how", ["daemon.json", "flag", "flag="])
def test_the_policy_on_passes_cis_2_12_and_is_reported(audit, short_tmp, dockerd_cmdline, authz_plugin, how):
    name_plugin(audit, dockerd_cmdline, how)
    authz_plugin(audit.plugin_dir / f"{PLUGIN_NAME}.sock")
    write_policy(audit, ["bob", "alice"], ["carol"])
    result = audit_authz(audit, short_tmp)
    assert authz_found(result) == []
    assert result["authorization"] == {
        "plugins": [PLUGIN_NAME],
        "dockerlab_policy": policy_report(
            audit, enabled=True, answers=True, restricted=["alice", "bob"], revoked=["carol"], readable=True
        ),
    }


def test_the_plugin_answering_but_not_enabled_is_reported_so(audit, short_tmp, dockerd_cmdline, authz_plugin):
    authz_plugin(audit.plugin_dir / f"{PLUGIN_NAME}.sock")
    result = audit_authz(audit, short_tmp)
    assert authz_found(result) == [NO_AUTHZ]
    assert result["authorization"]["dockerlab_policy"] == policy_report(audit, answers=True)


@pytest.mark.parametrize("kind", ["missing", "nobody listening"])
def test_a_plugin_that_does_not_answer_is_one_high_finding(audit, short_tmp, dockerd_cmdline, kind):
    # Named on the command line and in daemon.json (dockerd would refuse to start): reported once.
    name_plugin(audit, dockerd_cmdline, "flag")
    name_plugin(audit, dockerd_cmdline, "daemon.json")
    sock = audit.plugin_dir / f"{PLUGIN_NAME}.sock"
    if kind == "missing":
        why = f"neither {sock} nor a spec file exists"
    else:
        unanswered_socket(sock)
        why = f"{sock}: [Errno 111] Connection refused"
    result = audit_authz(audit, short_tmp)
    assert authz_found(result) == [silent(PLUGIN_NAME, why, OURS_SILENT)]
    assert result["authorization"] == {
        "plugins": [PLUGIN_NAME],
        "dockerlab_policy": policy_report(audit, enabled=True),
    }


def test_another_plugin_with_a_spec_file_is_present(audit, short_tmp, dockerd_cmdline):
    name_plugin(audit, dockerd_cmdline, "daemon.json", "other-authz")
    audit.spec_dirs[1].mkdir()
    (audit.spec_dirs[1] / "other-authz.spec").write_text("unix:///run/other-authz/plugin.sock\n")
    result = audit_authz(audit, short_tmp)
    assert authz_found(result) == []
    assert result["authorization"] == {"plugins": ["other-authz"], "dockerlab_policy": policy_report(audit)}


@pytest.mark.parametrize(
    "text",
    [None, "{", "[]", '{"restricted": "alice"', b"\xff\xfe{}", "directory"],
    ids=["missing", "not JSON", "not an object", "cut short", "not UTF-8", "directory"],
)
def test_a_policy_file_that_is_not_one_is_reported_unreadable(audit, short_tmp, dockerd_cmdline, text):
    audit.policy_file.parent.mkdir(parents=True)
    if text == "directory":
        audit.policy_file.mkdir()
    elif isinstance(text, bytes):
        audit.policy_file.write_bytes(text)
    elif text is not None:
        audit.policy_file.write_text(text)
    result = audit_authz(audit, short_tmp)
    assert result["authorization"]["dockerlab_policy"] == policy_report(audit)


def client_bundle(audit, tmp_path, user, *, days, now=None):
    """``user``'s home in ``audit.homes``, with a client certificate in
    ~/.docker/cert.pem valid from a day before ``now`` for ``days`` after it."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = x509_certs.ec_key()
    cert = x509_certs.certificate(
        user, key, x509_certs.name("dockerlab CA"), key, now=now, days=days, usage="client"
    )
    home = tmp_path / "home" / user
    (home / ".docker").mkdir(parents=True)
    path = home / ".docker" / "cert.pem"
    path.write_bytes(x509_certs.pem(cert))
    audit.homes[user] = str(home)
    return str(path), cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")


@pytest.fixture
def revoked_users(audit, tmp_path):
    """A policy revoking carol (a certificate valid 30 days more), dave
    (one expired 9 days ago), erin (a user here without a bundle) and frank
    (no user here), and restricting alice (a valid certificate, still
    allowed): {user: (path, end)} of those with a bundle."""
    write_policy(audit, ["alice"], ["carol", "dave", "erin", "frank"])
    ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=10)
    bundles = {
        "alice": client_bundle(audit, tmp_path, "alice", days=30),
        "carol": client_bundle(audit, tmp_path, "carol", days=30),
        "dave": client_bundle(audit, tmp_path, "dave", days=1, now=ago),
    }
    (tmp_path / "home" / "erin").mkdir()
    audit.homes["erin"] = str(tmp_path / "home" / "erin")
    return bundles


ENFORCED = "dockerd accepts it and only dockerlab-authz refuses the user"
NOT_ENFORCED = "dockerd does not use dockerlab-authz, so nothing refuses it"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl reads the certificates' end")
@pytest.mark.parametrize(("enabled", "refused"), [(True, ENFORCED), (False, NOT_ENFORCED)])
def test_only_the_valid_certificates_of_revoked_users_are_findings(
    audit, short_tmp, dockerd_cmdline, authz_plugin, revoked_users, enabled, refused
):
    if enabled:
        name_plugin(audit, dockerd_cmdline, "daemon.json")
        authz_plugin(audit.plugin_dir / f"{PLUGIN_NAME}.sock")
    result = audit_authz(audit, short_tmp)
    path, end = revoked_users["carol"]
    found = [f for f in result["findings"] if f["id"] == "revoked-bundle-present"]
    assert found == [revoked(path, f"valid until {end}; {refused}")]
    assert result["authorization"]["dockerlab_policy"] == policy_report(
        audit,
        enabled=enabled,
        answers=enabled,
        restricted=["alice"],
        revoked=["carol", "dave", "erin", "frank"],
        readable=True,
    )


def test_without_openssl_every_revoked_users_certificate_counts_as_valid(
    audit, short_tmp, dockerd_cmdline, revoked_users, without_systemctl
):
    found = [f for f in audit_authz(audit, short_tmp)["findings"] if f["id"] == "revoked-bundle-present"]
    unknown = f"present, its expiry unknown (no openssl on the host to read it); {NOT_ENFORCED}"
    assert found == [
        revoked(revoked_users["carol"][0], unknown),
        revoked(revoked_users["dave"][0], unknown, user="dave"),
    ]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl reads the certificates' end")
def test_a_certificate_openssl_cannot_read_counts_as_valid(audit, short_tmp, dockerd_cmdline, tmp_path):
    write_policy(audit, [], ["carol"])
    path, _end = client_bundle(audit, tmp_path, "carol", days=30)
    with open(path, "w") as handle:
        handle.write("-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
    found = [f for f in audit_authz(audit, short_tmp)["findings"] if f["id"] == "revoked-bundle-present"]
    assert [(f["target"], f["severity"]) for f in found] == [(path, "medium")]
    assert found[0]["evidence"].startswith(
        f"carol is revoked in the authorization policy, but {path} is present, its expiry unknown "
        "(openssl cannot read it: "
    )
    assert found[0]["evidence"].endswith(f"); {NOT_ENFORCED}")


# --- the module against the real local Docker engine ------------------------------------------

# kind -> (docker create options, the finding expected: id, severity, cis, evidence)
BREAKOUTS = {
    "privileged": (
        ["--privileged"],
        (
            "container-privileged",
            "critical",
            "5.5",
            "HostConfig.Privileged is true: every capability, every device, no confinement",
        ),
    ),
    "socket": (
        ["-v", f"{SOCKET}:{SOCKET}"],
        ("container-docker-socket", "critical", "5.32", f"bind {SOCKET} -> {SOCKET} exposes {SOCKET}"),
    ),
    # On Debian /var/run is a symlink to /run: binding /run exposes the socket.
    "hostrun": (
        ["-v", "/run:/hostrun"],
        ("container-docker-socket", "critical", "5.32", f"bind /run -> /hostrun exposes {SOCKET}"),
    ),
    "sys-admin": (
        ["--cap-add", "SYS_ADMIN"],
        ("container-cap-add", "high", "5.4", "HostConfig.CapAdd has SYS_ADMIN"),
    ),
    "pid-host": (
        ["--pid", "host"],
        ("container-host-pid", "high", "5.16", "HostConfig.PidMode is host"),
    ),
    "port": (
        ["-p", "0.0.0.0:0:5000"],
        ("container-port-all-interfaces", "low", "5.14", "0.0.0.0:0->5000/tcp"),
    ),
}


def docker(*args, timeout=30):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


# Per test, not per module: ansible-test runs each test of a module in a
# forked process (pytest-forked), which sets a module fixture up again and
# exits without its teardown; a module-scoped fixture left six containers
# behind for each test that used it.
@pytest.fixture
def breakouts():
    """One container per breakout path, created (never started) on the local
    engine under a unique name: {kind: name}. Removed afterwards, also when
    a test or the creation fails; nothing else on the engine is touched."""
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"the local Docker engine does not answer `docker info`: {exc}")
    if info.returncode != 0:
        pytest.skip(f"the local Docker engine does not answer `docker info`: {info.stderr.strip()}")
    if docker("image", "inspect", IMAGE).returncode != 0:
        pytest.skip(f"{IMAGE} is not on the local engine (the unit tier never pulls)")
    names = {kind: f"dockerlab-unit-{secrets.token_hex(4)}-{kind}" for kind in BREAKOUTS}
    try:
        for kind, (options, _finding) in BREAKOUTS.items():
            created = docker("create", "--name", names[kind], *options, IMAGE)
            assert created.returncode == 0, f"docker create {' '.join(options)}: {created.stderr}"
        yield names
    finally:
        docker("rm", "--force", *names.values())


@pytest.fixture
def engine_audit(run_module, breakouts):
    def run(check_mode=False):
        return run_module(docker_host_audit, {}, check_mode=check_mode)

    return run


def about(result, names):
    """The findings that do not concern containers of others (which may come and go)."""
    ours = {f"container:{name}" for name in names}
    return [f for f in result["findings"] if not f["target"].startswith("container:") or f["target"] in ours]


@pytest.mark.parametrize("kind", list(BREAKOUTS))
def test_each_breakout_is_reported_for_its_container(engine_audit, breakouts, kind):
    fid, severity, cis, evidence = BREAKOUTS[kind][1]
    target = f"container:{breakouts[kind]}"
    found = [f for f in engine_audit()["findings"] if f["target"] == target]
    risk = [f for f in found if f["id"] == fid]
    assert [(f["severity"], f["cis"], f["evidence"]) for f in risk] == [
        (severity, cis, f"{evidence} (container is created)")
    ]
    # Besides it, only what any `docker create` without hardening options gives.
    assert sorted(summary(found)) == sorted([(fid, severity, cis), *engine_default_container()])


def engine_default_container():
    """DEFAULT_CONTAINER as the module judges a created container under this
    host's daemon.json: no 5.26 finding where the file sets no-new-privileges."""
    try:
        config, _error = parse(read_text(DEFAULT_PATH))
    except (OSError, UnicodeDecodeError):
        config = None
    if daemon_no_new_privileges(config or {}):
        return [item for item in DEFAULT_CONTAINER if item[0] != "container-new-privileges-allowed"]
    return DEFAULT_CONTAINER


@pytest.mark.parametrize(
    ("daemon_json", "allowed"), [('{"no-new-privileges": true}\n', False), ("{}\n", True)]
)
def test_the_engine_audit_judges_created_containers_by_its_daemon_json(
    audit, breakouts, daemon_json, allowed
):
    audit.daemon_json.write_text(daemon_json)
    audit.daemon_json.chmod(0o644)
    ours = {f"container:{name}" for name in breakouts.values()}
    found = [
        f
        for f in audit(SOCKET)["findings"]
        if f["target"] in ours and f["id"] == "container-new-privileges-allowed"
    ]
    assert sorted(f["target"] for f in found) == (sorted(ours) if allowed else [])
    assert {f["evidence"] for f in found} == ({f"{LACKS_NNP} (container is created)"} if allowed else set())


def test_the_engine_audit_changes_nothing_and_check_mode_agrees(engine_audit, breakouts):
    result = engine_audit()
    checked = engine_audit(check_mode=True)
    assert result["changed"] is False
    assert checked["changed"] is False
    assert about(checked, breakouts.values()) == about(result, breakouts.values())
    assert checked["daemon"]["version"] == result["daemon"]["version"]
    states = docker("inspect", "--format", "{{.State.Status}}", *breakouts.values())
    assert states.stdout.split() == ["created"] * len(breakouts)


def test_the_engine_audit_describes_the_daemon(engine_audit, breakouts):
    daemon = engine_audit()["daemon"]
    version = docker("version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}").stdout.split()
    assert [daemon["version"], daemon["api_version"]] == version
    assert daemon["reachable"] is True
    assert daemon["containers"] >= len(breakouts)


def test_findings_are_sorted_most_severe_first_and_counted(engine_audit, breakouts):
    result = engine_audit()
    findings = result["findings"]
    assert findings == sorted(findings, key=lambda f: (-RANK[f["severity"]], f["target"], f["id"]))
    counted = collections.Counter(f["severity"] for f in findings)
    assert result["counts"] == {name: counted[name] for name in SEVERITIES}
    assert result["max_severity"] == findings[0]["severity"] == "critical"
    assert {f["severity"] for f in findings} <= set(SEVERITIES)

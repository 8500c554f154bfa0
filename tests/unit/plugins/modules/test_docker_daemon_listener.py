"""plugins/modules/docker_daemon_listener: the drop-in written for a copy of
Debian's real docker.service, in a temporary systemd directory (the rules of
addresses, ports, flags and the inputs' hash: test_listener.py)."""

import base64
import os
import socket
from pathlib import Path

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._files import Stash, read_text
from ansible_collections.dockerlab.docker.plugins.module_utils._listener import inputs_hash, socket_listeners
from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import (
    effective_exec_start,
    exec_start_values,
    parse_unit,
    service_sockets,
    split_command,
)
from ansible_collections.dockerlab.docker.plugins.modules import docker_daemon_listener
from ansible_collections.dockerlab.docker.plugins.modules.docker_daemon_listener import render_dropin

INSTALLED_UNIT = Path("/lib/systemd/system/docker.service")
# Debian 12's docker.io unit, verbatim as packaged.
DEBIAN_UNIT = """\
[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=network-online.target docker.socket firewalld.service containerd.service
Wants=network-online.target containerd.service
Requires=docker.socket

[Service]
Type=notify
# the default is not to use systemd for cgroups because the delegate issues still
# exists and systemd currently does not support the cgroup feature set required
# for containers run by docker
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID
LimitNOFILE=1048576
# Having non-zero Limit*s causes performance problems due to accounting overhead
# in the kernel. We recommend using cgroups to do container-local accounting.
LimitNPROC=infinity
LimitCORE=infinity
# Uncomment TasksMax if your systemd version supports it.
# Only systemd 226 and above support this version.
TasksMax=infinity
TimeoutStartSec=0
# set delegate yes so that systemd does not reset the cgroups of docker containers
Delegate=yes
# kill only the docker process, not all processes in the cgroup
KillMode=process
# restart the docker process if it exits prematurely
Restart=on-failure
StartLimitBurst=3
StartLimitInterval=60s

[Install]
WantedBy=multi-user.target
"""
ANY_IPV4 = "0.0.0.0"  # noqa: S104 - an address under test; nothing binds to it here
VENDOR_EXEC = "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"


@pytest.fixture
def lab(tmp_path):
    vendor = tmp_path / "lib" / "systemd" / "system" / "docker.service"
    vendor.parent.mkdir(parents=True)
    vendor.write_text(DEBIAN_UNIT)
    tls = tmp_path / "etc" / "docker" / "tls"
    tls.mkdir(parents=True)
    for name in ("ca.pem", "server-cert.pem", "server-key.pem"):
        (tls / name).write_text(f"-----BEGIN {name}-----\n")
    systemd = tmp_path / "etc" / "systemd" / "system"
    return {
        "vendor": vendor,
        "systemd": systemd,
        "dropin_dir": systemd / "docker.service.d",
        "dropin": systemd / "docker.service.d" / "dockerlab-listener.conf",
        "stash": tmp_path / "stash",
        "ca": tls / "ca.pem",
        "cert": tls / "server-cert.pem",
        "key": tls / "server-key.pem",
    }


@pytest.fixture
def run(run_module, lab):
    def run_listener(*, check_mode=False, diff=False, **args):
        base = {
            "systemd_dir": str(lab["systemd"]),
            "vendor_unit_path": str(lab["vendor"]),
            "stash_dir": str(lab["stash"]),
            "tls_ca_cert": str(lab["ca"]),
            "tls_cert": str(lab["cert"]),
            "tls_key": str(lab["key"]),
            # Most tests here are of the -H tcp:// drop-in; those of the
            # socket unit systemd holds (auto's choice for an IP address)
            # say held_by themselves.
            "held_by": "dockerd",
        }
        return run_module(docker_daemon_listener, {**base, **args}, check_mode=check_mode, diff=diff)

    return run_listener


def lab_inputs(lab, mode="tls", address="0.0.0.0", port=2376, held="dockerd"):  # noqa: S104 - a string
    """The inputs' hash the module records for the lab's vendor unit and TLS files."""
    tls_files = (str(lab["ca"]), str(lab["cert"]), str(lab["key"]))
    return inputs_hash(mode, address, port, *tls_files, str(lab["vendor"]), VENDOR_EXEC, held)


def header(lab, mode="tls", address="0.0.0.0", port=2376):  # noqa: S104 - an address string
    inputs = lab_inputs(lab, mode, address, port)
    return (
        "# Managed by Ansible (docker_daemon_listener): manual changes will be lost.\n"
        f"# Adds a TCP listener to the command line of the vendor unit {lab['vendor']}.\n"
        f"# dockerlab-inputs: {inputs}\n"
    )


def tls_exec(lab, listen="tcp://0.0.0.0:2376"):
    return (
        f"{VENDOR_EXEC} -H {listen} --tlsverify --tlscacert={lab['ca']} "
        f"--tlscert={lab['cert']} --tlskey={lab['key']}"
    )


def write_dropin(lab, text="[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd://\n"):
    lab["dropin_dir"].mkdir(parents=True, exist_ok=True)
    lab["dropin"].write_text(text)
    return lab["dropin"].read_bytes()


def test_tls_writes_a_dropin_that_clears_exec_start_then_extends_the_vendor_command(run, lab):
    result = run(mode="tls")
    assert result["changed"] is True
    assert lab["dropin"].read_text() == (
        header(lab) + "[Service]\nExecStart=\n" + f"ExecStart={tls_exec(lab)}\n"
    )
    assert result["exec_start"] == tls_exec(lab)
    assert result["listen"] == "tcp://0.0.0.0:2376"
    assert result["daemon_reload_needed"] is True
    assert result["path"] == str(lab["dropin"])


def test_the_dropin_keeps_docker_opts_verbatim(run, lab):
    run(mode="tls")
    argv = split_command(exec_start_values(lab["dropin"].read_text())[0])[1]
    assert argv[:4] == ["/usr/sbin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"]
    assert argv[4] == "$DOCKER_OPTS"


def test_the_dropin_resets_exec_start_before_setting_it(run, lab):
    run(mode="tls")
    execs = [v for s, k, v in parse_unit(lab["dropin"].read_text()) if (s, k) == ("Service", "ExecStart")]
    assert execs == ["", tls_exec(lab)]


def test_the_dropin_is_world_readable_and_nothing_else_is_left_in_its_directory(run, lab):
    run(mode="tls")
    assert lab["dropin"].stat().st_mode & 0o7777 == 0o644
    assert [p.name for p in lab["dropin_dir"].iterdir()] == ["dockerlab-listener.conf"]


def test_tls_paths_with_spaces_stay_one_argument_each(run, lab, tmp_path):
    spaced = tmp_path / "my certs"
    spaced.mkdir()
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (spaced / name).write_text("x\n")
    run(
        mode="tls",
        tls_ca_cert=str(spaced / "ca.pem"),
        tls_cert=str(spaced / "cert.pem"),
        tls_key=str(spaced / "key.pem"),
    )
    argv = split_command(exec_start_values(lab["dropin"].read_text())[0])[1]
    assert argv[-3:] == [
        f"--tlscacert={spaced / 'ca.pem'}",
        f"--tlscert={spaced / 'cert.pem'}",
        f"--tlskey={spaced / 'key.pem'}",
    ]


def test_a_second_run_reports_no_change(run, lab):
    run(mode="tls")
    written = lab["dropin"].read_bytes()
    result = run(mode="tls")
    assert result["changed"] is False
    assert result["daemon_reload_needed"] is False
    assert lab["dropin"].read_bytes() == written


def test_check_mode_reports_the_change_and_writes_nothing(run, lab):
    result = run(mode="tls", check_mode=True)
    assert result["changed"] is True
    assert result["exec_start"] == tls_exec(lab)
    assert not lab["dropin_dir"].exists()
    assert not lab["stash"].exists()


def test_check_mode_does_not_change_an_existing_dropin(run, lab):
    before = write_dropin(lab)
    assert run(mode="insecure", port=2375, insecure_acknowledged=True, check_mode=True)["changed"] is True
    assert lab["dropin"].read_bytes() == before
    assert not lab["stash"].exists()


def test_diff_has_the_dropin_text_before_and_after_with_headers(run, lab):
    before = write_dropin(lab).decode()
    diff = run(mode="tls", diff=True)["diff"]
    assert diff == [
        {
            "before_header": str(lab["dropin"]),
            "after_header": str(lab["dropin"]),
            "before": before,
            "after": lab["dropin"].read_text(),
        }
    ]


def test_diff_of_a_new_dropin_starts_empty(run, lab):
    [diff] = run(mode="tls", check_mode=True, diff=True)["diff"]
    assert diff["before"] == ""
    assert diff["after"].endswith(f"ExecStart={tls_exec(lab)}\n")


def test_insecure_with_acknowledgement_listens_without_tls_and_warns(run, lab):
    result = run(mode="insecure", port=2375, insecure_acknowledged=True)
    assert result["changed"] is True
    assert lab["dropin"].read_text().endswith(f"ExecStart={VENDOR_EXEC} -H tcp://0.0.0.0:2375 --tls=false\n")
    assert result["warnings"] == [
        "The Docker API listens on tcp://0.0.0.0:2375 WITHOUT authentication or encryption: anyone "
        "who can reach this port is root on the host. Use this only in an isolated, "
        "deliberately vulnerable lab."
    ]


def test_insecure_warns_again_on_an_unchanged_run(run):
    run(mode="insecure", port=2375, insecure_acknowledged=True)
    result = run(mode="insecure", port=2375, insecure_acknowledged=True)
    assert result["changed"] is False
    assert len(result["warnings"]) == 1


def test_insecure_without_acknowledgement_fails_and_writes_nothing(run, lab):
    result = run(mode="insecure", port=2375)
    assert result["failed"] is True
    assert result["msg"] == (
        "mode=insecure opens the Docker API with no authentication: anyone who can "
        "reach port 2375 is root on this host. It is refused unless "
        "insecure_acknowledged=true, for deliberately vulnerable labs only. "
        "Use mode=tls for everything else. Nothing was changed."
    )
    assert not lab["dropin_dir"].exists()
    assert not lab["stash"].exists()


@pytest.mark.parametrize(
    ("args", "start_of_msg"),
    [
        ({"mode": "insecure", "port": 2375}, "mode=insecure opens the Docker API with no authentication"),
        ({"port": 70000}, "port 70000 is out of range"),
        ({"address": "999.1.1.1"}, "address: '999.1.1.1' is not a valid IPv4 address"),
        ({"mode": "bogus"}, "value of mode must be one of"),
        ({"tls_key": "/nonexistent/server-key.pem"}, "TLS file(s) missing on the host: /nonexistent/"),
        ({"vendor_unit_path": "/nonexistent/docker.service"}, "Cannot find the unit file of docker.service"),
    ],
)
def test_every_refusal_leaves_an_existing_dropin_byte_identical(run, lab, args, start_of_msg):
    before = write_dropin(lab)
    result = run(**{"mode": "tls", **args})
    assert result["failed"] is True
    assert result["msg"].startswith(start_of_msg)
    assert lab["dropin"].read_bytes() == before
    assert not lab["stash"].exists()


def test_a_clashing_dropin_leaves_ours_byte_identical(run, lab):
    before = write_dropin(lab)
    (lab["dropin_dir"] / "10-override.conf").write_text("[Service]\nExecStart=\nExecStart=/usr/bin/dockerd\n")
    assert run(mode="insecure", port=2375, insecure_acknowledged=True)["failed"] is True
    assert lab["dropin"].read_bytes() == before


def test_tls_does_not_warn(run):
    assert run(mode="tls")["warnings"] == []


def test_absent_removes_the_dropin(run, lab):
    run(mode="tls")
    result = run(mode="absent", diff=True)
    assert result["changed"] is True
    assert result["daemon_reload_needed"] is True
    assert not lab["dropin"].exists()
    assert [item["after"] for item in result["diff"]] == [""]
    assert result["exec_start"] == result["listen"] == result["held_by"] == result["socket_path"] == ""


def test_absent_without_a_dropin_changes_nothing(run, lab):
    result = run(mode="absent")
    assert result["changed"] is False
    assert not lab["dropin_dir"].exists()
    assert not lab["stash"].exists()


def test_absent_in_check_mode_keeps_the_dropin(run, lab):
    before = write_dropin(lab)
    assert run(mode="absent", check_mode=True)["changed"] is True
    assert lab["dropin"].read_bytes() == before


def test_absent_needs_no_tls_files_nor_a_vendor_unit(run_module, lab):
    write_dropin(lab)
    result = run_module(
        docker_daemon_listener,
        {"mode": "absent", "systemd_dir": str(lab["systemd"]), "stash_dir": str(lab["stash"])},
    )
    assert result["changed"] is True
    assert not lab["dropin"].exists()


@pytest.mark.parametrize("port", [0, -1, 65536, 70000])
def test_a_port_out_of_range_fails_naming_it_and_keeps_the_dropin(run, lab, port):
    before = write_dropin(lab)
    result = run(mode="tls", port=port)
    assert result["failed"] is True
    assert result["msg"] == (
        f"port {port} is out of range: use a TCP port from 1 to 65535 "
        "(2376 is Docker's convention for TLS, 2375 without)."
    )
    assert lab["dropin"].read_bytes() == before
    assert not lab["stash"].exists()


@pytest.mark.parametrize("port", [1, 2375, 65535])
def test_a_port_in_range_is_used(run, port):
    assert run(mode="tls", port=port, check_mode=True)["listen"] == f"tcp://0.0.0.0:{port}"


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("999.1.1.1", "'999.1.1.1' is not a valid IPv4 address"),
        ("1.2.3", "'1.2.3' is not a valid IPv4 address"),
        ("1::2::3", "'1::2::3' is not a valid IPv6 address"),
        ("[fe80::1::2]", "'[fe80::1::2]' is not a valid IPv6 address"),
        ("not an address!", "'not an address!' is neither an IP address nor a valid host name"),
        ("-bad-.example", "'-bad-.example' is neither an IP address nor a valid host name"),
        ("host_name.example", "'host_name.example' is neither an IP address nor a valid host name"),
        ("a..b", "'a..b' is neither an IP address nor a valid host name"),
        ("x" * 64 + ".example", f"'{'x' * 64}.example' is neither an IP address nor a valid host name"),
        ("", "the address is empty"),
    ],
)
def test_a_bad_address_fails_naming_it_and_keeps_the_dropin(run, lab, address, why):
    before = write_dropin(lab)
    result = run(mode="tls", address=address)
    assert result["failed"] is True
    assert result["msg"] == f"address: {why}. Use an IPv4 or IPv6 address or a host name, e.g. 0.0.0.0."
    assert lab["dropin"].read_bytes() == before
    assert not lab["stash"].exists()


@pytest.mark.parametrize(
    ("address", "listen"),
    [
        (ANY_IPV4, "tcp://0.0.0.0:2376"),
        ("192.168.56.10", "tcp://192.168.56.10:2376"),
        ("::", "tcp://[::]:2376"),
        ("fd00::10", "tcp://[fd00::10]:2376"),
        ("[::1]", "tcp://[::1]:2376"),
        ("docker-host.lab.example", "tcp://docker-host.lab.example:2376"),
        ("localhost", "tcp://localhost:2376"),
    ],
)
def test_a_good_address_is_rendered_in_the_listener(run, lab, address, listen):
    result = run(mode="tls", address=address)
    assert result["listen"] == listen
    assert f" -H {listen} --tlsverify " in lab["dropin"].read_text()


def test_a_percent_sign_is_escaped_so_systemd_does_not_expand_it(run, lab, tmp_path):
    odd = tmp_path / "tls%i"
    odd.mkdir()
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (odd / name).write_text("x\n")
    result = run(
        mode="tls",
        address="fe80::1%eth0",
        tls_ca_cert=str(odd / "ca.pem"),
        tls_cert=str(odd / "cert.pem"),
        tls_key=str(odd / "key.pem"),
    )
    assert result["listen"] == "tcp://[fe80::1%eth0]:2376"
    assert result["exec_start"].endswith(
        f" -H tcp://[fe80::1%%eth0]:2376 --tlsverify --tlscacert={tmp_path}/tls%%i/ca.pem "
        f"--tlscert={tmp_path}/tls%%i/cert.pem --tlskey={tmp_path}/tls%%i/key.pem"
    )


def test_an_ipv6_address_is_one_argument_in_brackets(run, lab):
    run(mode="tls", address="fd00::10")
    argv = split_command(exec_start_values(lab["dropin"].read_text())[0])[1]
    assert argv[argv.index("tcp://[fd00::10]:2376") - 1] == "-H"


def test_another_dropin_that_sets_exec_start_fails_naming_it(run, lab):
    lab["dropin_dir"].mkdir(parents=True)
    other = lab["dropin_dir"] / "override.conf"
    other.write_text("[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2375\n")
    result = run(mode="tls")
    assert result["failed"] is True
    assert result["msg"] == (
        f"Other drop-ins also set ExecStart= for docker.service: {other}. Only one "
        "ExecStart can win; merge their flags into docker_engine_daemon_options "
        "(daemon.json) and remove them, then run again."
    )
    assert not lab["dropin"].exists()


def test_another_dropin_without_exec_start_is_fine(run, lab):
    lab["dropin_dir"].mkdir(parents=True)
    (lab["dropin_dir"] / "limits.conf").write_text("[Service]\nLimitNOFILE=65536\n")
    (lab["dropin_dir"] / "notes.txt").write_text("[Service]\nExecStart=/bin/false\n")
    assert run(mode="tls")["changed"] is True


@pytest.mark.parametrize(
    ("exec_start", "flags"),
    [
        ("/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2375", "tcp://0.0.0.0:2375"),
        ("/usr/sbin/dockerd --host tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375"),
        ("/usr/sbin/dockerd -H=tcp://0.0.0.0:2375", "tcp://0.0.0.0:2375"),
        ("/usr/sbin/dockerd --host=tcp://0.0.0.0:2376", "tcp://0.0.0.0:2376"),
        ("/usr/sbin/dockerd -H fd:// --tlsverify", "--tlsverify"),
        ("/usr/sbin/dockerd --tlscert=/etc/docker/cert.pem", "--tlscert=/etc/docker/cert.pem"),
    ],
)
def test_a_vendor_unit_with_tcp_or_tls_flags_is_refused(run, lab, exec_start, flags):
    lab["vendor"].write_text(DEBIAN_UNIT.replace(f"ExecStart={VENDOR_EXEC}", f"ExecStart={exec_start}"))
    result = run(mode="tls")
    assert result["failed"] is True
    assert result["msg"] == (
        f"{lab['vendor']} already has TCP or TLS flags ({flags}); "
        "refusing to add a second listener. Use the vendor unit as packaged."
    )
    assert not lab["dropin"].exists()


@pytest.mark.parametrize(
    "service",
    [
        "[Service]\nType=notify\n",
        "[Service]\nExecStart=/usr/sbin/dockerd\nExecStart=/usr/sbin/dockerd --debug\n",
        "[Unit]\nExecStart=/usr/sbin/dockerd\n",
    ],
)
def test_a_vendor_unit_without_exactly_one_exec_start_is_refused(run, lab, service):
    lab["vendor"].write_text(service)
    result = run(mode="tls")
    assert result["msg"] == (
        f"{lab['vendor']} does not have exactly one ExecStart= in [Service]; "
        "cannot derive the daemon's command line from it."
    )
    assert not lab["dropin"].exists()


def test_a_missing_vendor_unit_fails(run, lab):
    lab["vendor"].unlink()
    result = run(mode="tls")
    assert result["msg"] == (
        "Cannot find the unit file of docker.service: is Docker installed? "
        "Install it first (role docker_engine)."
    )
    assert not lab["dropin_dir"].exists()


def test_a_missing_vendor_unit_in_check_mode_warns_instead(run, lab):
    lab["vendor"].unlink()
    result = run(mode="tls", check_mode=True)
    assert result["changed"] is True
    assert result["warnings"] == [
        "docker.service is not installed yet: the drop-in would be written once it is."
    ]


def test_a_missing_vendor_unit_in_check_mode_still_names_the_insecure_listener(run, lab):
    lab["vendor"].unlink()
    result = run(mode="insecure", port=2375, insecure_acknowledged=True, check_mode=True)
    assert result["listen"] == "tcp://0.0.0.0:2375"
    assert result["warnings"][1].startswith("The Docker API listens on tcp://0.0.0.0:2375 WITHOUT ")


def test_the_vendor_unit_is_found_in_systemd_dir_when_not_given(run_module, lab):
    (lab["systemd"]).mkdir(parents=True)
    (lab["systemd"] / "docker.service").write_text(DEBIAN_UNIT)
    result = run_module(
        docker_daemon_listener,
        {
            "mode": "insecure",
            "insecure_acknowledged": True,
            "systemd_dir": str(lab["systemd"]),
            "stash_dir": str(lab["stash"]),
        },
    )
    # auto: systemd holds a listener on an IP address; no -H tcp://.
    assert result["exec_start"] == f"{VENDOR_EXEC} --tls=false"
    assert f"vendor unit {lab['systemd'] / 'docker.service'})." in lab["dropin"].read_text()


def _search_path(monkeypatch, tmp_path):
    """systemd's unit search path for the module, below its systemd_dir: one
    directory of the test's own (instead of /run/systemd/system and the rest)."""
    lower = tmp_path / "run" / "systemd" / "system"
    lower.mkdir(parents=True)
    monkeypatch.setattr(docker_daemon_listener, "UNIT_DIRS", ("/nonexistent/systemd_dir", str(lower)))
    return lower


def test_the_vendor_unit_is_found_lower_in_the_search_path(run_module, lab, tmp_path, monkeypatch):
    lower = _search_path(monkeypatch, tmp_path)
    (lower / "docker.service").write_text(DEBIAN_UNIT)
    result = run_module(
        docker_daemon_listener,
        {
            "mode": "insecure",
            "insecure_acknowledged": True,
            "systemd_dir": str(lab["systemd"]),
            "stash_dir": str(lab["stash"]),
        },
    )
    assert result["exec_start"] == f"{VENDOR_EXEC} --tls=false"
    assert f"vendor unit {lower / 'docker.service'})." in lab["dropin"].read_text()


def test_a_dropin_lower_in_the_search_path_that_sets_exec_start_fails_naming_it(
    run, lab, tmp_path, monkeypatch
):
    lower = _search_path(monkeypatch, tmp_path)
    (lower / "docker.service.d").mkdir()
    other = lower / "docker.service.d" / "override.conf"
    other.write_text("[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd://\n")
    result = run(mode="tls")
    assert result["failed"] is True
    assert result["msg"].startswith(f"Other drop-ins also set ExecStart= for docker.service: {other}. ")
    assert not lab["dropin"].exists()


def test_a_dropin_lower_in_the_search_path_masked_by_ours_is_fine(run, lab, tmp_path, monkeypatch):
    # systemd applies the drop-in of systemd_dir and ignores the one of the same name below it.
    lower = _search_path(monkeypatch, tmp_path)
    (lower / "docker.service.d").mkdir()
    (lower / "docker.service.d" / "dockerlab-listener.conf").write_text(
        "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// -H tcp://0.0.0.0:2375\n"
    )
    write_dropin(lab)
    assert run(mode="tls")["changed"] is True


@pytest.mark.skipif(not INSTALLED_UNIT.exists(), reason="docker.io is not installed here")
def test_the_installed_debian_unit_keeps_its_command_line(run, lab):
    result = run(mode="tls", vendor_unit_path=str(INSTALLED_UNIT), check_mode=True)
    command = exec_start_values(INSTALLED_UNIT.read_text())[0]
    assert result["exec_start"].startswith(f"{command} -H tcp://0.0.0.0:2376 --tlsverify ")


@pytest.mark.parametrize("missing", ["ca", "cert", "key"])
def test_a_missing_tls_file_fails_naming_it_and_writes_nothing(run, lab, missing):
    lab[missing].unlink()
    result = run(mode="tls")
    assert result["failed"] is True
    assert result["msg"] == (
        f"TLS file(s) missing on the host: {lab[missing]}. Install the CA, server certificate and key first."
    )
    assert not lab["dropin_dir"].exists()
    assert not lab["stash"].exists()


def test_missing_tls_files_are_fine_in_check_mode(run, lab):
    for name in ("ca", "cert", "key"):
        lab[name].unlink()
    assert run(mode="tls", check_mode=True)["changed"] is True


def test_tls_without_the_tls_options_fails_in_the_argument_spec(run_module, lab):
    result = run_module(
        docker_daemon_listener,
        {"mode": "tls", "systemd_dir": str(lab["systemd"]), "vendor_unit_path": str(lab["vendor"])},
    )
    assert result["msg"] == "mode is tls but all of the following are missing: tls_ca_cert, tls_cert, tls_key"


def test_an_unknown_mode_fails_in_the_argument_spec(run):
    assert run(mode="plain")["msg"] == "value of mode must be one of: tls, insecure, absent, got: plain"


def test_the_stash_records_that_the_dropin_did_not_exist(run, lab):
    run(mode="tls")
    assert Stash(str(lab["stash"])).entries() == {str(lab["dropin"]): {"existed": False}}


def test_the_stash_records_the_previous_dropin(run, lab):
    before = write_dropin(lab, f"[Service]\nExecStart=\nExecStart={VENDOR_EXEC} -H tcp://0.0.0.0:2375\n")
    run(mode="tls")
    assert Stash(str(lab["stash"])).entries()[str(lab["dropin"])] == {
        "existed": True,
        "content": base64.b64encode(before).decode(),
        "mode": 0o644,
    }


def test_the_stash_keeps_the_state_before_the_first_change(run, lab):
    run(mode="tls")
    run(mode="tls", port=2377)
    run(mode="absent")
    assert Stash(str(lab["stash"])).entries() == {str(lab["dropin"]): {"existed": False}}


def test_an_unchanged_run_does_not_touch_the_stash(run, lab):
    run(mode="tls")
    Stash(str(lab["stash"])).clear()
    run(mode="tls")
    assert Stash(str(lab["stash"])).pending() == []


def test_a_custom_name_and_unit_choose_the_path(run, lab):
    result = run(mode="tls", name="tcp", unit="dockerd.service", check_mode=True)
    assert result["path"] == str(lab["systemd"] / "dockerd.service.d" / "tcp.conf")


def test_dropin_carries_the_hash_of_its_inputs():
    text = render_dropin("/lib/systemd/system/docker.service", "/usr/sbin/dockerd -H fd://", "abc123")
    assert "# dockerlab-inputs: abc123\n" in text


# The listener systemd holds: a socket unit of the module's own, handed to
# dockerd through the vendor unit's -H fd://.


def socket_path(lab):
    return lab["systemd"] / "dockerlab-listener.socket"


@pytest.mark.parametrize("held_by", ["auto", "systemd"])
def test_systemd_holds_the_listener_in_a_socket_unit_of_its_own(run, lab, held_by):
    result = run(mode="tls", held_by=held_by)
    inputs = lab_inputs(lab, held="systemd")
    assert result["held_by"] == "systemd"
    assert result["socket_path"] == str(socket_path(lab))
    assert socket_path(lab).read_text() == (
        "# Managed by Ansible (docker_daemon_listener): manual changes will be lost.\n"
        "# Holds the TCP listener of docker.service: connections wait while it restarts.\n"
        f"# dockerlab-inputs: {inputs}\n"
        "[Unit]\n"
        "Description=Docker API on 0.0.0.0:2376 (mutual TLS), held for docker.service\n"
        "\n"
        "[Socket]\n"
        "ListenStream=0.0.0.0:2376\n"
        "ReuseAddress=true\n"
        "FreeBind=true\n"
        "Service=docker.service\n"
    )
    tls_flags = f"--tlsverify --tlscacert={lab['ca']} --tlscert={lab['cert']} --tlskey={lab['key']}"
    assert lab["dropin"].read_text() == (
        "# Managed by Ansible (docker_daemon_listener): manual changes will be lost.\n"
        f"# Hands dockerd the TCP listener dockerlab-listener.socket holds (vendor unit {lab['vendor']}).\n"
        f"# dockerlab-inputs: {inputs}\n"
        "[Unit]\nRequires=dockerlab-listener.socket\nAfter=dockerlab-listener.socket\n\n"
        "[Service]\nSockets=dockerlab-listener.socket\nExecStart=\n"
        f"ExecStart={VENDOR_EXEC} {tls_flags}\n"
    )
    assert result["exec_start"] == f"{VENDOR_EXEC} {tls_flags}"
    assert result["listen"] == "tcp://0.0.0.0:2376"
    assert socket_path(lab).stat().st_mode & 0o7777 == 0o644


def test_the_socket_unit_is_what_the_audit_and_the_restart_read(run, lab):
    # _systemd.service_sockets finds it through the drop-in's Sockets=, and
    # _listener.socket_listeners gives the TLS listener dockerd makes of it.
    run(mode="tls", held_by="auto")
    dirs = (str(lab["systemd"]), str(lab["vendor"].parent))
    sockets = service_sockets("docker.service", read_text, dirs)
    assert sockets == [("dockerlab-listener.socket", ["0.0.0.0:2376"])]
    argv = effective_exec_start("docker.service", read_text, dirs)
    [listener] = socket_listeners(sockets, argv, {})
    assert (listener["url"], listener["tls"], listener["tlsverify"]) == ("tcp://0.0.0.0:2376", True, True)


@pytest.mark.parametrize(
    ("address", "stream"),
    [("::", "[::]:2377"), ("[::1]", "[::1]:2377"), ("192.0.2.7", "192.0.2.7:2377")],
)
def test_the_socket_unit_listens_on_the_address_and_port(run, lab, address, stream):
    run(mode="tls", held_by="auto", address=address, port=2377)
    assert f"\nListenStream={stream}\n" in socket_path(lab).read_text()


def test_insecure_held_by_systemd_says_tls_is_off_and_no_authentication(run, lab):
    result = run(mode="insecure", held_by="auto", port=2375, insecure_acknowledged=True)
    assert result["exec_start"] == f"{VENDOR_EXEC} --tls=false"
    assert "(NO authentication)" in socket_path(lab).read_text()
    assert len(result["warnings"]) == 1


def test_a_host_name_is_held_by_dockerd_with_auto(run, lab):
    result = run(mode="tls", held_by="auto", address="docker.lab.example")
    assert result["held_by"] == "dockerd"
    assert result["socket_path"] == ""
    assert not socket_path(lab).exists()
    assert "-H tcp://docker.lab.example:2376" in result["exec_start"]


def test_a_host_name_held_by_systemd_is_refused_before_any_change(run, lab):
    result = run(mode="tls", held_by="systemd", address="docker.lab.example")
    assert result["failed"] is True
    assert result["msg"].startswith("held_by: 'docker.lab.example' is a host name")
    assert "Nothing was changed" in result["msg"]
    assert not lab["dropin"].exists()
    assert not socket_path(lab).exists()


def test_handing_the_listener_to_systemd_and_back_stashes_both_files(run, lab):
    run(mode="tls")  # dockerd holds it (the fixture's held_by)
    Stash(str(lab["stash"])).clear()
    dockerd_dropin = lab["dropin"].read_text()
    result = run(mode="tls", held_by="auto", diff=True)
    assert result["changed"] is True
    assert [item["after_header"] for item in result["diff"]] == [str(lab["dropin"]), str(socket_path(lab))]
    stash = Stash(str(lab["stash"]))
    assert stash.pending() == sorted([str(lab["dropin"]), str(socket_path(lab))])
    assert stash.saved_text(str(socket_path(lab))) == (True, None)
    assert stash.saved_text(str(lab["dropin"])) == (True, dockerd_dropin)
    # And back: the socket unit goes, the -H tcp:// drop-in returns.
    Stash(str(lab["stash"])).clear()
    assert run(mode="tls")["changed"] is True
    assert not socket_path(lab).exists()
    assert lab["dropin"].read_text() == dockerd_dropin
    assert run(mode="tls")["changed"] is False


def test_absent_removes_the_socket_unit_too(run, lab):
    run(mode="tls", held_by="auto")
    assert socket_path(lab).exists()
    result = run(mode="absent")
    assert result["changed"] is True
    assert not socket_path(lab).exists()
    assert not lab["dropin"].exists()


def test_a_systemd_held_listener_is_idempotent_and_check_mode_writes_nothing(run, lab):
    assert run(mode="tls", held_by="auto", check_mode=True)["changed"] is True
    assert not socket_path(lab).exists()
    run(mode="tls", held_by="auto")
    assert run(mode="tls", held_by="auto")["changed"] is False


def test_a_port_another_program_listens_on_is_refused_before_any_change(run, lab):
    # A real listening socket of this test process: the socket unit could not bind it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        result = run(mode="tls", held_by="auto", address="0.0.0.0", port=port)  # noqa: S104 - rendered only
        assert result["failed"] is True
        assert result["msg"].startswith(
            f"port {port} is already in use on this host by {Path('/proc/self/comm').read_text().strip()} "
            f"(pid {os.getpid()}) on 127.0.0.1: the listener could not bind it."
        ), result["msg"]
        assert "docker_access_tcp_port" in result["msg"]
        assert not lab["dropin"].exists()
        assert not socket_path(lab).exists()
        # Another address than the holder's own is free.
        assert run(mode="tls", held_by="auto", address="127.0.0.2", port=port)["changed"] is True

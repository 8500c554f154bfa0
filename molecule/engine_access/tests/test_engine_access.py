"""docker_engine and docker_access on a real lab host: real systemd, real
dockerd, real TLS handshakes.

The tests that run Ansible again (check mode, upstream, reissue) come
last in the file and leave the host as converge left it.
"""

import json
import time
from pathlib import Path

import pytest
from labhelpers import host_name, journal, recap, run_playbook, start_probe, stop_probe

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
DROPIN = "/etc/systemd/system/docker.service.d/dockerlab-listener.conf"
SOCKET_UNIT = "/etc/systemd/system/dockerlab-listener.socket"
TLS = "/etc/docker/tls"
CURL_TLS = "curl -sS --max-time 5 https://127.0.0.1:2376/_ping"


def student(host, command):
    return host.run("runuser -u student -- sh -c %s", command)


# --- docker_engine ---------------------------------------------------------


def test_docker_is_installed_from_debian_and_active(host):
    assert host.package("docker.io").is_installed
    active = host.run("systemctl is-active docker.service").stdout.strip()
    assert active == "active", journal(host)
    assert host.service("docker.service").is_enabled


def test_vendor_unit_is_untouched(host):
    # The listener lives in a drop-in: the packaged files verify clean.
    result = host.run("dpkg --verify docker.io")
    assert result.rc == 0
    assert result.stdout == "", result.stdout


def test_hand_set_daemon_json_key_survives_and_ours_are_merged(host):
    config = host.file("/etc/docker/daemon.json")
    data = json.loads(config.content_string)
    assert data["log-level"] == "warn"  # set by hand in prepare.yml
    assert data["live-restore"] is True
    assert data["registry-mirrors"] == ["http://dockerlab-registry:5000"]
    assert "hosts" not in data


def test_the_running_daemon_uses_daemon_json(host):
    info = host.run("docker info --format '{{.LiveRestoreEnabled}} {{json .RegistryConfig.Mirrors}}'")
    assert info.rc == 0, info.stderr
    assert info.stdout.strip() == 'true ["http://dockerlab-registry:5000/"]'


def test_rollback_stash_is_empty_after_a_successful_converge(host):
    assert not host.file("/var/lib/dockerlab/rollback/pending.json").exists


# --- docker group ----------------------------------------------------------


def test_student_is_in_the_docker_group(host):
    assert "docker" in host.user("student").groups


def test_student_runs_docker_without_sudo(host):
    result = student(host, "docker ps --format '{{.ID}}'")
    assert result.rc == 0, result.stderr


# --- TCP listener with mutual TLS through a drop-in ------------------------


def test_dropin_clears_and_extends_the_vendor_command_line(host):
    text = host.file(DROPIN).content_string
    lines = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert lines[0] == "ExecStart="
    vendor = host.run("sed -n 's/^ExecStart=//p' /lib/systemd/system/docker.service").stdout.strip()
    # The vendor's binary, -H fd:// (which takes the sockets systemd hands
    # it), --containerd and $DOCKER_OPTS, verbatim, then the TLS flags.
    assert lines[1] == (
        f"ExecStart={vendor} --tlsverify --tlscacert=/etc/docker/tls/ca.pem"
        " --tlscert=/etc/docker/tls/server-cert.pem --tlskey=/etc/docker/tls/server-key.pem"
    )
    assert "\nSockets=dockerlab-listener.socket\n" in text


def test_systemd_hands_dockerd_the_tcp_listener(host):
    exec_start = host.run("systemctl show docker.service -p ExecStart --value").stdout
    assert "tcp://" not in exec_start
    assert "--tlsverify" in exec_start
    assert "-H fd://" in exec_start
    assert host.check_output("systemctl is-active dockerlab-listener.socket") == "active"
    listen = host.check_output("systemctl show dockerlab-listener.socket -p Listen --value")
    assert listen == "0.0.0.0:2376 (Stream)"
    assert "dockerlab-listener.socket" in host.check_output(
        "systemctl show docker.service -p TriggeredBy --value"
    )


def test_systemd_and_dockerd_share_the_socket_on_2376(host):
    # systemd bound it (and keeps it); dockerd accepts on the copy it got.
    listening = host.run("ss -Hltnp 'sport = :2376'").stdout
    assert '"systemd",pid=1' in listening, listening
    assert "dockerd" in listening, listening


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        (f"{TLS}/ca.pem", 0o444),
        (f"{TLS}/server-cert.pem", 0o444),
        (f"{TLS}/server-key.pem", 0o400),
    ],
)
def test_server_tls_files_are_root_owned_with_tight_modes(host, path, mode):
    f = host.file(path)
    assert f.user == "root"
    assert f.group == "root"
    assert f.mode == mode


@pytest.mark.parametrize(("name", "mode"), [("ca.pem", 0o444), ("cert.pem", 0o444), ("key.pem", 0o400)])
def test_student_has_a_client_bundle(host, name, mode):
    f = host.file(f"/home/student/.docker/{name}")
    assert f.user == "student"
    assert f.mode == mode
    assert host.file("/home/student/.docker").mode == 0o700


def test_server_certificate_names_the_host_and_loopback(host):
    text = host.run(f"openssl x509 -in {TLS}/server-cert.pem -noout -text").stdout
    assert f"DNS:{host_name(host)}" in text
    assert "DNS:localhost" in text
    assert "IP Address:127.0.0.1" in text
    address = host.run("ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1").stdout.strip()
    assert address
    assert f"IP Address:{address}" in text
    # Docker's own bridge comes and goes with Docker: not a name of the host.
    bridge = host.run("ip -4 -o addr show dev docker0 | awk '{print $4}' | cut -d/ -f1").stdout.strip()
    assert bridge
    assert f"IP Address:{bridge}" not in text
    assert "TLS Web Server Authentication" in text


def test_client_with_the_users_certificate_gets_ok(host):
    result = student(
        host,
        f"{CURL_TLS} --cacert ~/.docker/ca.pem --cert ~/.docker/cert.pem --key ~/.docker/key.pem",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout == "OK"


def test_docker_cli_over_tcp_with_tls_needs_no_flags(host):
    result = student(
        host,
        f"DOCKER_HOST=tcp://{host_name(host)}:2376 DOCKER_TLS_VERIFY=1 "
        "docker version --format '{{.Server.Version}}'",
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip()


def test_client_without_a_certificate_is_refused(host):
    result = student(host, f"{CURL_TLS} --cacert ~/.docker/ca.pem")
    assert result.rc != 0
    assert result.stdout != "OK"


def test_client_with_a_certificate_from_another_ca_is_refused(host):
    host.run_test(
        "cd /tmp && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-keyout rogue-key.pem -out rogue-cert.pem -days 1 -subj /CN=student "
        "-addext extendedKeyUsage=clientAuth 2>/dev/null"
    )
    result = host.run(f"{CURL_TLS} --cacert {TLS}/ca.pem --cert /tmp/rogue-cert.pem --key /tmp/rogue-key.pem")
    host.run("rm -f /tmp/rogue-key.pem /tmp/rogue-cert.pem")
    assert result.rc != 0
    assert result.stdout != "OK"


# --- Ansible again: check mode, upstream repository, reissue ---------------


# Refused inputs, daemon.json conflicts and the rollback of an option the
# daemon refuses are cases of the faults scenario (molecule/faults), with
# flaskapp running.


def test_check_mode_on_the_converged_host_reports_no_change(host):
    # Converge first: the hosts share the controller's client certificates,
    # and the other host's tests may have renewed them (which this host's
    # bundles must then follow).
    converged = run_playbook(host, CONVERGE)
    assert converged.returncode == 0, converged.stdout[-3000:]
    result = run_playbook(host, CONVERGE, check=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result.stdout, host_name(host))["changed"] == 0, result.stdout[-3000:]


def test_upstream_repository_is_rendered_in_check_mode(host):
    # download.docker.com cannot be reached here: a check run shows the file.
    result = run_playbook(host, CONVERGE, {"docker_engine_source": "upstream"}, check=True)
    assert result.returncode == 0, result.stdout[-3000:]
    release = host.system_info.codename
    arch = host.run("dpkg --print-architecture").stdout.strip()
    for line in (
        "+URIs: https://download.docker.com/linux/debian",
        f"+Suites: {release}",
        "+Components: stable",
        f"+Architectures: {arch}",
        "+Signed-By: /etc/apt/keyrings/docker.asc",
    ):
        assert line in result.stdout, result.stdout[-3000:]
    assert not host.file("/etc/apt/sources.list.d/docker.sources").exists


def cert_field(host, option):
    return host.run(f"openssl x509 -in {TLS}/server-cert.pem -noout {option}").stdout.strip()


def test_server_certificate_is_reissued_for_new_names_or_near_expiry_only(host):
    serial = cert_field(host, "-serial")
    # A new name (e.g. a load balancer) and a renewal window longer than the
    # certificate's validity: both force a new certificate.
    result = run_playbook(
        host,
        CONVERGE,
        {"docker_access_extra_sans": ["DNS:docker.lab.example"], "docker_access_cert_renew_days": 400},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    reissued = cert_field(host, "-serial")
    assert reissued != serial
    assert "DNS:docker.lab.example" in cert_field(host, "-ext subjectAltName")
    # Back to the defaults: the name goes away, so the certificate is reissued
    # once more, and the daemon still answers with it.
    result = run_playbook(host, CONVERGE)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "docker.lab.example" not in cert_field(host, "-ext subjectAltName")
    final = cert_field(host, "-serial")
    assert final not in (serial, reissued)
    ping = host.run(
        f"{CURL_TLS} --cacert {TLS}/ca.pem --cert /root/.docker/cert.pem --key /root/.docker/key.pem"
    )
    assert ping.stdout == "OK", ping.stderr


# --- reload or restart ------------------------------------------------------
LAB_MIRROR = "http://dockerlab-registry:5000"
# Never pulled from: only a second entry for the daemon to take.
SPARE_MIRROR = "http://127.0.0.1:5999"


def main_pid(host):
    return host.check_output("systemctl show --property=MainPID --value docker.service").strip()


def mirrors(host):
    return json.loads(host.check_output("docker info --format '{{json .RegistryConfig.Mirrors}}'"))


def test_a_new_registry_mirror_is_reloaded_in_the_same_dockerd(host):
    pid = main_pid(host)
    result = run_playbook(host, CONVERGE, {"docker_engine_registry_mirrors": [LAB_MIRROR, SPARE_MIRROR]})
    assert result.returncode == 0, result.stdout[-3000:]
    said = " ".join(result.stdout.split())  # the callback folds long lines
    assert "Reloaded docker.service: dockerd " in said, said[-3000:]
    assert "reloads every changed key (registry-mirrors) on SIGHUP" in said
    assert main_pid(host) == pid, journal(host)
    assert mirrors(host) == [f"{LAB_MIRROR}/", f"{SPARE_MIRROR}/"]
    assert not host.file("/var/lib/dockerlab/rollback/pending.json").exists
    # Back to the lab's one mirror: a reload again, and the daemon lets go of the other.
    result = run_playbook(host, CONVERGE)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Reloaded docker.service" in " ".join(result.stdout.split())
    assert main_pid(host) == pid, journal(host)
    assert mirrors(host) == [f"{LAB_MIRROR}/"]


def test_a_setting_dockerd_reads_only_at_start_restarts_it_and_says_why(host):
    pid = main_pid(host)
    result = run_playbook(host, CONVERGE, {"docker_engine_daemon_options": {"log-level": "info"}})
    assert result.returncode == 0, result.stdout[-3000:]
    said = " ".join(result.stdout.split())
    assert "applies log-level only when it starts." in said, said[-3000:]
    assert "Restarted docker.service: dockerd " in said
    assert main_pid(host) != pid
    # The hand-set value back (prepare.yml's), with one more restart.
    result = run_playbook(host, CONVERGE, {"docker_engine_daemon_options": {"log-level": "warn"}})
    assert result.returncode == 0, result.stdout[-3000:]
    assert json.loads(host.file("/etc/docker/daemon.json").content_string)["log-level"] == "warn"
    ping = host.run(
        f"{CURL_TLS} --cacert {TLS}/ca.pem --cert /root/.docker/cert.pem --key /root/.docker/key.pem"
    )
    assert ping.stdout == "OK", ping.stderr


# --- the TLS listener systemd holds: no refused connection ------------------
TLS_PING = "https://127.0.0.1:2376/_ping"


def test_tls_connections_wait_through_a_restart_instead_of_being_refused(host):
    # A bounded probe with root's client certificate, while dockerd restarts
    # (a new PID): no ping is refused, and the Unix socket, which
    # docker.socket holds, answers throughout too. The one ping a URL may
    # have in flight when the old dockerd exits is cut (dockerd closes the
    # connections it serves as it exits, measured on 20.10): the probe
    # counts it apart, and nothing else may fail.
    pid = main_pid(host)
    host.run("systemctl reset-failed docker.service")  # Debian's unit: 3 starts a minute
    start_probe(host, [TLS_PING, "unix:///run/docker.sock"], bundle="/root/.docker")
    restarted = host.run("systemctl restart docker.service")
    time.sleep(2)
    tls, unix = stop_probe(host)
    assert restarted.rc == 0, restarted.stderr
    assert main_pid(host) != pid
    for result in (tls, unix):
        assert (result["refused"], result["failed"] - result["cut"]) == (0, 0), result
        assert result["cut"] <= 1, result
    assert tls["sent"] > 50, tls
    # A client without a certificate is still refused on the socket systemd holds.
    assert host.run(f"curl -sS --max-time 5 --cacert {TLS}/ca.pem {TLS_PING}").rc != 0


def test_a_listener_dockerd_held_is_handed_to_systemd_without_a_refused_connection(host):
    # held_by dockerd: the -H tcp:// drop-in of earlier releases, no socket unit.
    result = run_playbook(host, CONVERGE, {"docker_access_tcp_held_by": "dockerd"})
    assert result.returncode == 0, result.stdout[-3000:]
    assert "-H tcp://0.0.0.0:2376" in host.file(DROPIN).content_string
    assert not host.file(SOCKET_UNIT).exists
    listening = host.run("ss -Hltnp 'sport = :2376'").stdout
    assert "dockerd" in listening, listening
    assert "systemd" not in listening, listening
    # The default again (auto: systemd for an IP address), under the probe.
    start_probe(host, [TLS_PING], bundle="/root/.docker")
    result = run_playbook(host, CONVERGE)
    [tls] = stop_probe(host)
    assert result.returncode == 0, result.stdout[-3000:]
    # As through any restart: none refused, at most the ping in flight cut.
    assert (tls["refused"], tls["failed"] - tls["cut"]) == (0, 0), tls
    assert tls["cut"] <= 1, tls
    assert host.file(SOCKET_UNIT).exists
    assert '"systemd",pid=1' in host.run("ss -Hltnp 'sport = :2376'").stdout
    assert "tcp://" not in host.file(DROPIN).content_string
    # The handover's firewall rules are gone.
    assert "dockerlab-listener-handover" not in host.check_output("iptables -S INPUT")
    assert not host.file("/var/lib/dockerlab/rollback/pending.json").exists

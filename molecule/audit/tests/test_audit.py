"""The audit on real lab hosts: the secure default passes the default policy;
each deliberately added breakout path is found with the right severity and
makes audit.yml fail. The tests build on each other, in file order."""

import json

import pytest
from labhelpers import PROJECT, host_name, journal, recap, run_playbook

AUDIT = PROJECT / "playbooks" / "audit.yml"
SITE = PROJECT / "playbooks" / "site.yml"
IMAGE = "digitalocean/flask-helloworld:latest"


def report_dir(tmp_path_factory, host):
    return tmp_path_factory.getbasetemp() / f"audit-{host_name(host)}"


def run_audit(host, directory, **extra):
    result = run_playbook(host, AUDIT, {"docker_audit_report_dir": str(directory), **extra})
    report = json.loads((directory / f"{host_name(host)}.json").read_text())
    return result, report


def by_target(report):
    found = {}
    for item in report["findings"]:
        found.setdefault(item["target"], {})[item["id"]] = item
    return found


def test_secure_default_has_nothing_at_high_or_above(host, tmp_path_factory):
    directory = report_dir(tmp_path_factory, host)
    result, report = run_audit(host, directory)
    assert result.returncode == 0, result.stdout[-3000:]
    assert report["counts"]["critical"] == 0, report["findings"][:3]
    assert report["counts"]["high"] == 0, report["findings"][:3]
    assert report["daemon"]["reachable"] is True
    # The TLS listener is seen, in the socket unit that holds it for dockerd.
    urls = {(item["url"], item["tlsverify"], item["source"]) for item in report["daemon"]["listeners"]}
    assert ("tcp://0.0.0.0:2376", True, "dockerlab-listener.socket (systemd)") in urls
    # Listed, since each member is root-equivalent.
    assert by_target(report)["group:docker"]["docker-group-members"]["severity"] == "medium"
    assert "student" in by_target(report)["group:docker"]["docker-group-members"]["evidence"]
    summary = (directory / "summary.txt").read_text()
    assert f"== {host_name(host)}: max severity medium" in summary


def test_the_listeners_socket_unit_is_checked_like_docker_socket(host, tmp_path_factory):
    # Whoever may write it decides where and how the API listens (CIS 3.3, 3.4).
    path = "/etc/systemd/system/dockerlab-listener.socket"
    host.run_test(f"chmod 0666 {path}")
    try:
        report = run_audit(
            host, report_dir(tmp_path_factory, host) / "socket-mode", docker_audit_fail_on="none"
        )[1]
    finally:
        host.run_test(f"chmod 0644 {path}")
    item = by_target(report).get(path, {}).get("file-docker-socket-unit")
    assert item is not None, json.dumps(report["findings"], indent=1)[:3000]
    assert (item["title"], item["cis"]) == ("dockerlab-listener.socket has loose permissions", "3.4")


def test_audit_changes_nothing_and_runs_in_check_mode(host, tmp_path_factory):
    directory = report_dir(tmp_path_factory, host)
    result = run_playbook(host, AUDIT, {"docker_audit_report_dir": str(directory)}, check=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result.stdout, host_name(host))["changed"] == 0


@pytest.fixture(scope="module")
def vulnerable(host):
    """Every breakout path at once: the breakout_lab role's two containers and
    the acknowledged insecure listener (through site.yml), plus containers
    with SYS_ADMIN and with the host's PID namespace."""
    extra = {
        "breakout_lab_privileged_container": True,
        "breakout_lab_privileged_acknowledged": True,
        "breakout_lab_socket_container": True,
        "breakout_lab_socket_acknowledged": True,
        "docker_access_tcp": "insecure",
        "docker_access_insecure_acknowledged": True,
    }
    result = run_playbook(host, SITE, extra)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "DELIBERATELY VULNERABLE: breakout-privileged" in result.stdout
    assert "WITHOUT authentication" in result.stdout + result.stderr  # the listener module's warning
    host.run_test(f"docker create --name audit-sys-admin --cap-add SYS_ADMIN {IMAGE}")
    host.run_test(f"docker create --name audit-host-pid --pid host {IMAGE}")
    return result


def test_unacknowledged_vulnerable_labs_are_refused(host):
    for extra, message in (
        ({"breakout_lab_privileged_container": True}, "breakout_lab_privileged_acknowledged: true"),
        ({"breakout_lab_socket_container": True}, "breakout_lab_socket_acknowledged: true"),
    ):
        result = run_playbook(host, SITE, extra)
        assert result.returncode != 0
        assert message in result.stdout, result.stdout[-3000:]
    assert host.run("docker ps -a --filter label=dockerlab.breakout-lab -q").stdout.strip() == ""


@pytest.mark.parametrize(
    ("target", "fid", "severity", "cis"),
    [
        ("container:breakout-privileged", "container-privileged", "critical", "5.5"),
        ("container:breakout-socket", "container-docker-socket", "critical", "5.32"),
        ("container:audit-sys-admin", "container-cap-add", "high", "5.4"),
        ("container:audit-host-pid", "container-host-pid", "high", "5.16"),
        ("daemon", "daemon-tcp-unauthenticated", "critical", "2.7"),
    ],
)
def test_each_breakout_path_is_found(host, vulnerable, tmp_path_factory, target, fid, severity, cis):
    directory = report_dir(tmp_path_factory, host) / "vulnerable"
    report = run_audit(host, directory, docker_audit_fail_on="none")[1]
    item = by_target(report).get(target, {}).get(fid)
    assert item is not None, (
        f"{fid} on {target} not found in {json.dumps(report['findings'], indent=1)[:3000]}"
    )
    assert item["severity"] == severity
    assert item["cis"] == cis
    assert item["remediation"]


def test_the_insecure_labs_listener_is_held_by_systemd_and_found_there(host, vulnerable, tmp_path_factory):
    # docker_access_tcp insecure on an IP address: dockerlab-listener.socket
    # holds 0.0.0.0:2375 and dockerd serves it plain through -H fd://.
    listening = host.run("ss -Hltnp 'sport = :2375'").stdout
    assert '"systemd",pid=1' in listening, listening
    assert host.run("curl -fsS -m 5 http://127.0.0.1:2375/_ping").stdout == "OK"
    directory = report_dir(tmp_path_factory, host) / "insecure-socket"
    report = run_audit(host, directory, docker_audit_fail_on="none")[1]
    item = by_target(report)["daemon"]["daemon-tcp-unauthenticated"]
    assert "dockerlab-listener.socket (systemd)" in item["evidence"], item


def test_created_privileged_container_is_found_though_it_never_ran(host, vulnerable):
    # The lab hosts cannot start a privileged container; it is still one start away.
    state = host.run("docker inspect -f '{{.State.Status}}' breakout-privileged").stdout.strip()
    assert state == "created"


SOCKET_DROPIN = "/etc/systemd/system/docker.socket.d/audit-tcp.conf"
# A socket unit's drop-in changes only with docker.service stopped while
# docker.socket starts again (LAB-FACTS).
RESTART_SOCKET = (
    "systemctl daemon-reload && systemctl stop docker.service && systemctl restart docker.socket"
    " && systemctl start docker.service"
)


def test_an_unauthenticated_listener_systemd_holds_for_dockerd_is_found(host, vulnerable, tmp_path_factory):
    # A TCP stream added to Debian's docker.socket by hand: dockerd, started
    # with -H fd:// and (in the insecure lab) no TLS flag, serves it plain.
    host.run_test(f"mkdir -p {SOCKET_DROPIN.rsplit('/', 1)[0]}")
    host.run_test(f"printf '[Socket]\\nListenStream=127.0.0.1:2377\\n' > {SOCKET_DROPIN}")
    try:
        host.run_test(RESTART_SOCKET)
        ping = host.run(
            "for i in $(seq 30); do curl -fsS -m 2 http://127.0.0.1:2377/_ping && exit 0; sleep 1; done"
        )
        assert ping.stdout.strip() == "OK", f"{ping.stderr}\n{journal(host)}"
        directory = report_dir(tmp_path_factory, host) / "socket"
        report = run_audit(host, directory, docker_audit_fail_on="none")[1]
        found = [
            item
            for item in report["findings"]
            if item["id"] == "daemon-tcp-unauthenticated" and "tcp://127.0.0.1:2377" in item["evidence"]
        ]
        assert found, json.dumps(report["findings"], indent=1)[:3000]
        assert found[0]["severity"] == "high"  # loopback only
        assert "docker.socket (systemd)" in found[0]["evidence"]
    finally:
        host.run(f"rm -f {SOCKET_DROPIN}")
        host.run(RESTART_SOCKET)


def test_audit_playbook_fails_under_the_default_policy(host, vulnerable, tmp_path_factory):
    directory = report_dir(tmp_path_factory, host) / "policy"
    result, report = run_audit(host, directory)
    assert result.returncode != 0
    assert "at or above 'high'" in result.stdout
    assert "container-privileged on container:breakout-privileged" in result.stdout
    assert report["max_severity"] == "critical"
    # The table, most severe first.
    severities = [item["severity"] for item in report["findings"]]
    order = ["critical", "high", "medium", "low", "info"]
    assert severities == sorted(severities, key=order.index)


def test_back_to_the_secure_default_passes_again(host, vulnerable, tmp_path_factory):
    host.run("docker rm -f audit-sys-admin audit-host-pid")
    result = run_playbook(host, SITE)
    assert result.returncode == 0, result.stdout[-3000:]
    assert host.run("docker ps -a --filter label=dockerlab.breakout-lab -q").stdout.strip() == ""
    directory = report_dir(tmp_path_factory, host) / "after"
    result, report = run_audit(host, directory)
    assert result.returncode == 0, result.stdout[-3000:]
    assert report["counts"]["critical"] == report["counts"]["high"] == 0

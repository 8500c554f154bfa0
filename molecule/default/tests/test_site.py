"""site.yml and channels.yml on a real lab host: flaskapp and the three
channels' containers answer on their ports, through a real pull from the
lab's registry mirror; the daemon refuses a client without a certificate."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from labhelpers import host_name, recap, run_playbook

CHANNELS = Path(__file__).resolve().parents[3] / "playbooks" / "channels.yml"


def page(host, port):
    return host.run(f"curl -sS --max-time 5 http://127.0.0.1:{port}/")


def test_flaskapp_answers_on_1337(host):
    result = page(host, 1337)
    assert result.rc == 0, result.stderr
    assert result.stdout == "Hello World!"


def test_flaskapp_runs_the_walkthrough_image_with_a_restart_policy(host):
    inspect = host.run(
        "docker inspect -f '{{.Config.Image}} {{.HostConfig.RestartPolicy.Name}} "
        "{{json .HostConfig.PortBindings}}' flaskapp"
    )
    assert inspect.rc == 0, inspect.stderr
    image, policy, bindings = inspect.stdout.strip().split(" ", 2)
    assert image == "digitalocean/flask-helloworld:latest"
    assert policy == "unless-stopped"
    assert bindings == '{"5000/tcp":[{"HostIp":"127.0.0.1","HostPort":"1337"}]}'


# --- hardened by default (CIS Docker Benchmark v1.6.0) ------------------------

AUDIT = Path(__file__).resolve().parents[3] / "playbooks" / "audit.yml"
# The ids the roles harden by default; 2.9 (user namespaces) and 2.12 (an
# authorization plugin, on where docker_access has restricted users or a
# certificate to revoke) are opt-in.
HARDENED = {
    "2.2",
    "2.13",
    "2.14",
    "2.15",
    "2.16",
    "4.1",
    "5.4",
    "5.11",
    "5.12",
    "5.13",
    "5.14",
    "5.26",
    "5.27",
    "5.29",
}


def test_the_audit_finds_no_hardening_gap_in_the_daemon_flaskapp_or_files(host, tmp_path):
    result = run_playbook(
        host, AUDIT, {"docker_audit_report_dir": str(tmp_path), "docker_audit_fail_on": "none"}
    )
    assert result.returncode == 0, result.stdout[-3000:]
    report = json.loads((tmp_path / f"{host_name(host)}.json").read_text())
    # The channels' containers are the users' own (docker run by hand); the
    # docker group's members are listed by design.
    ours = [f for f in report["findings"] if not f["target"].startswith(("container:flaskapp-", "group:"))]
    gaps = [f for f in ours if f["cis"] in HARDENED or f["cis"].startswith("3.")]
    assert gaps == [], json.dumps(gaps, indent=1)
    assert {f["cis"] for f in ours} <= {"2.9", "2.12"}, json.dumps(ours, indent=1)


def test_flaskapp_runs_hardened_and_becomes_healthy(host):
    inspect = host.check_output(
        "docker inspect -f '{{.Config.User}} {{json .HostConfig.CapDrop}} {{.HostConfig.ReadonlyRootfs}} "
        "{{.HostConfig.Memory}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}} "
        "{{json .HostConfig.SecurityOpt}}' flaskapp"
    )
    assert inspect.split() == [
        "65534:65534",
        '["ALL"]',
        "true",
        "134217728",
        "512",
        "64",
        '["no-new-privileges"]',
    ]
    # The first health check runs one interval (30 s) after the start.
    health = host.run(
        "for i in $(seq 90); do s=$(docker inspect -f '{{.State.Health.Status}}' flaskapp); "
        '[ "$s" = healthy ] && echo $s && exit 0; sleep 1; done; echo $s; exit 1'
    )
    assert health.rc == 0, health.stdout


def test_dockerd_runs_the_hardened_daemon_settings(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LiveRestoreEnabled"] is True
    assert info["LoggingDriver"] == "journald"
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["icc"] is False
    assert config["no-new-privileges"] is True
    assert config["userland-proxy"] is False
    assert "log-opts" not in config  # journald needs none; json-file's would be refused
    # userland-proxy false: no docker-proxy process; the published port still answers (NAT rules).
    assert host.run("pgrep -x docker-proxy").rc != 0
    assert page(host, 1337).stdout == "Hello World!"


def test_the_image_came_through_the_registry_mirror(host):
    # Pulled by its Docker Hub name; the lab has no internet, so the digest
    # can only have come from the mirror.
    digests = host.run("docker image inspect -f '{{json .RepoDigests}}' digitalocean/flask-helloworld:latest")
    assert "digitalocean/flask-helloworld@sha256:" in digests.stdout


@pytest.mark.parametrize(
    ("name", "port"), [("flaskapp-unix", 1338), ("flaskapp-tcp", 1339), ("flaskapp-api", 1340)]
)
def test_each_channels_container_answers_on_its_port(host, name, port):
    assert host.run(f"docker inspect -f '{{{{.State.Running}}}}' {name}").stdout.strip() == "true"
    result = page(host, port)
    assert result.rc == 0, result.stderr
    assert result.stdout == "Hello World!"


def test_daemon_refuses_a_client_without_a_certificate(host):
    result = host.run(
        "runuser -u student -- curl -sS --max-time 5 --cacert /home/student/.docker/ca.pem "
        f"https://{host_name(host)}:2376/version"
    )
    assert result.rc != 0
    assert "ApiVersion" not in result.stdout


def test_channels_play_is_rerunnable_and_reports_every_step(host):
    result = run_playbook(host, CHANNELS)
    assert result.returncode == 0, result.stdout[-4000:]
    for channel in ("unix", "tcp+tls", "api+tls"):
        for step in ("1 pull", "2 list images", "3 create", "4 start", "5 get page"):
            line = f"{channel:<8} {step:<14} ok "
            assert line in result.stdout, f"{line!r} missing:\n{result.stdout[-4000:]}"
    assert "no cert  GET /version   ok   refused by the daemon: TLS alert " in result.stdout
    assert recap(result.stdout, host_name(host))["failed"] == 0


def test_channels_skip_what_a_failed_step_needs_and_tell_a_broken_check_from_a_refusal(host):
    """Without the CA file of the user's bundle, the TCP channel fails at its
    first step and the steps after it are skipped, not retried; the "no cert"
    check cannot be made (curl rc 77, a client-side error), which is its own
    failure, never a refusal by the daemon; the Unix socket channel works."""
    bundle = "/home/student/.docker"
    host.run_test(f"mv {bundle}/ca.pem {bundle}/ca.pem.hidden")
    try:
        result = run_playbook(host, CHANNELS)
    finally:
        host.run_test(f"mv {bundle}/ca.pem.hidden {bundle}/ca.pem")
    # The table's long rows are folded by Ansible's YAML output: join the lines.
    out = " ".join(line.strip() for line in result.stdout.splitlines())
    assert result.returncode != 0
    for step in ("1 pull", "2 list images", "3 create", "4 start", "5 get page"):
        assert f"unix     {step:<14} ok " in out, out[-4000:]
    assert "tcp+tls  1 pull         FAIL " in out, out[-4000:]
    assert "tcp+tls  5 get page     skip skipped: needs 4 start, which did not work" in out
    assert "api+tls  0 version      FAIL curl: (77)" in out
    assert "api+tls  1 pull         skip skipped: needs 0 version, which did not work" in out
    assert (
        "no cert  GET /version   FAIL the check itself failed (curl rc 77), not a refusal by the daemon"
        in out
    )
    after_unix = out.split("Walk through with the docker CLI over TCP", 1)[1]
    assert "FAILED - RETRYING" not in after_unix, "a step was retried after the step it needs had failed"
    assert "These steps failed: tcp+tls 1 pull, api+tls 0 version, no cert GET /version." in out


REGISTRY = f"127.0.0.1:{os.environ.get('LAB_REGISTRY_PORT', '5000')}"
UPDATE = Path(__file__).resolve().parents[1] / "update.yml"


def controller(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300).stdout


def push_version(version):
    """Push the demo app as dockerlab/flask-update:latest with a label that
    makes each version a different image (a new digest behind the same tag)."""
    cid = controller("docker", "create", "digitalocean/flask-helloworld:latest").strip()
    try:
        controller(
            "docker",
            "commit",
            "--change",
            f"LABEL org.dockerlab.test-version={version}",
            cid,
            f"{REGISTRY}/dockerlab/flask-update:latest",
        )
    finally:
        controller("docker", "rm", cid)
    controller("docker", "push", f"{REGISTRY}/dockerlab/flask-update:latest")


def test_new_image_behind_the_same_tag_recreates_the_container(host):
    update_vars = {
        "flask_app_image": "dockerlab/flask-update:latest",
        "flask_app_name": "flaskapp-update",
        "flask_app_host_port": 1341,
    }
    push_version(1)
    first = run_playbook(host, UPDATE, update_vars)
    assert first.returncode == 0, first.stdout[-3000:]
    before = host.run("docker inspect -f '{{.Id}} {{.Image}}' flaskapp-update").stdout.split()
    push_version(2)
    # A bounded probe on the lab host while the role recreates the container:
    # 600 requests at most, 50 ms apart, 1 s timeout each.
    host.run_test(
        "rm -f /root/update-probe.log /root/update-probe.stop; (for i in $(seq 600); do "
        "[ -e /root/update-probe.stop ] && break; "
        'if curl -fsS --max-time 1 http://127.0.0.1:1341/ >/dev/null 2>&1; then echo "$(date +%s.%N) ok"; '
        'else echo "$(date +%s.%N) fail"; fi; sleep 0.05; done > /root/update-probe.log) >/dev/null 2>&1 &'
    )
    second = run_playbook(host, UPDATE, update_vars)
    host.run("touch /root/update-probe.stop; sleep 1.2")
    probe = host.file("/root/update-probe.log").content_string.split("\n")
    try:
        assert second.returncode == 0, second.stdout[-3000:]
        assert recap(second.stdout, host_name(host))["changed"] >= 2  # pulled, recreated
        after = host.run("docker inspect -f '{{.Id}} {{.Image}}' flaskapp-update").stdout.split()
        assert after[0] != before[0], "the container was not recreated"
        assert after[1] != before[1], "the container does not run the new image"
        assert (
            host.run(
                "docker inspect -f '{{index .Config.Labels \"org.dockerlab.test-version\"}}' flaskapp-update"
            ).stdout.strip()
            == "2"
        )
        assert page(host, 1341).stdout == "Hello World!"
    finally:
        host.run("docker rm -f flaskapp-update")
    # Measured, not asserted: printed for the README and the benchmarks.
    samples = [line.split() for line in probe if line.strip()]
    failed = [float(t) for t, state in samples if state == "fail"]
    gap = (max(failed) - min(failed)) if failed else 0.0
    print(
        f"\nimage update on {host_name(host)}: {len(samples)} requests, {len(failed)} failed, "
        f"outage window {gap:.2f} s"
    )


def test_a_page_that_never_comes_fails_with_the_containers_logs(host):
    result = run_playbook(
        host,
        UPDATE,
        {
            "flask_app_name": "flaskapp-wrong-page",
            "flask_app_host_port": 1342,
            "flask_app_expected_body": "Goodbye World!",
            "flask_app_wait_timeout": 3,
        },
    )
    try:
        assert result.returncode != 0
        assert (
            "flaskapp-wrong-page did not answer http://127.0.0.1:1342/ with 'Goodbye World!'" in result.stdout
        )
        assert "last answer: 200 Hello World!" in result.stdout
        assert "Its last log lines:" in result.stdout
        assert "Running on" in result.stdout  # Flask's own start-up line, from docker logs
    finally:
        host.run("docker rm -f flaskapp-wrong-page")


def test_flaskapp_logs_to_the_journal_and_docker_logs_reads_them(host):
    # CIS 2.13: the container's output is in the host's journal, and
    # `docker logs` (the channel users know) still shows it.
    assert host.check_output("docker inspect -f '{{.HostConfig.LogConfig.Type}}' flaskapp") == "journald"
    assert page(host, 1337).stdout == "Hello World!"
    logs = host.run(
        "for i in $(seq 20); do docker logs flaskapp 2>&1 | grep -q 'GET / HTTP' && exit 0; sleep 0.5; done;"
        " exit 1"
    )
    assert logs.rc == 0, host.run("docker logs flaskapp 2>&1 | tail -5").stdout
    journal = host.run("journalctl CONTAINER_NAME=flaskapp -o cat --no-pager | grep -c 'GET / HTTP'")
    assert int(journal.stdout.strip() or 0) > 0, journal.stderr

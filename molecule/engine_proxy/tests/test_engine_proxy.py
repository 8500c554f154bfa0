"""docker_engine's proxy settings on a real lab host: the drop-in, the
environment systemd gives dockerd, a pull from the lab registry by its name
that goes through the lab's Squid (its access log shows the
lab host's connection and the request), and, converged without the
settings, no drop-in, no environment, and a pull that does not go through
the proxy.

The tests that run Ansible again come last; the last one converges with the
proxy again, so that the host is left as converge left it.
"""

import json
import subprocess
import time
from pathlib import Path

from labhelpers import host_name, journal, recap, run_playbook

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
DROPIN = "/etc/systemd/system/docker.service.d/dockerlab-proxy.conf"
PROXY_CONTAINER = "dockerlab-proxy"
LAB_NETWORK = "dockerlab"
PROXY = "http://dockerlab-proxy:3128"
NO_PROXY = "localhost,127.0.0.1"
# By the registry's own name: not through the registry mirror, which is for
# Docker Hub names only.
IMAGE = "dockerlab-registry:5000/digitalocean/flask-helloworld:latest"
ENVIRONMENT = {
    "HTTP_PROXY": PROXY,
    "http_proxy": PROXY,
    "HTTPS_PROXY": PROXY,
    "https_proxy": PROXY,
    "NO_PROXY": NO_PROXY,
    "no_proxy": NO_PROXY,
}
WITHOUT_PROXY = {
    "docker_engine_http_proxy": "",
    "docker_engine_https_proxy": "",
    "docker_engine_no_proxy": [],
}


def unit_environment(host):
    """The Environment= systemd has for docker.service, as a dict."""
    out = host.run("systemctl show docker.service -p Environment --value").stdout.strip()
    return dict(item.split("=", 1) for item in out.split()) if out else {}


def process_environment(host):
    """The environment of the running dockerd (its /proc/PID/environ)."""
    pid = host.run("systemctl show docker.service -p MainPID --value").stdout.strip()
    assert pid not in ("", "0"), journal(host)
    out = host.run_expect([0], f"tr '\\0' '\\n' < /proc/{pid}/environ").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def lab_address(host):
    """The lab host's address on the lab network, as the proxy sees it."""
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", host_name(host)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return json.loads(out)[LAB_NETWORK]["IPAddress"]


def proxy_log(since):
    """The proxy's access log lines since ``since`` (epoch seconds): Squid's
    native format, "TIME ELAPSED CLIENT CODE/STATUS BYTES METHOD URL ...",
    read in its container."""
    done = subprocess.run(
        ["docker", "exec", PROXY_CONTAINER, "cat", "/var/log/squid/access.log"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [line for line in done.stdout.splitlines() if line.split() and float(line.split()[0]) >= since]


def pull(host):
    """Pull IMAGE afresh on the host; return the proxy's log lines of that
    pull that came from this host (Squid's third field is the client's
    address), and all its lines since the pull began."""
    host.run(f"docker image rm -f {IMAGE}")
    since = time.time() - 1
    result = host.run(f"docker pull {IMAGE}")
    assert result.rc == 0, f"{result.stdout}\n{result.stderr}\n{journal(host)}"
    time.sleep(1)  # Squid writes a request's line when it ends
    lines = proxy_log(since)
    address = lab_address(host)
    return [line for line in lines if line.split()[2] == address], lines


# --- with the proxy -----------------------------------------------------------


def test_the_dropin_sets_each_variable_in_both_cases(host):
    dropin = host.file(DROPIN)
    assert (dropin.user, dropin.group, dropin.mode) == ("root", "root", 0o644)
    assert dropin.content_string == (
        "# Managed by Ansible (docker_daemon_environment): manual changes will be lost.\n"
        "[Service]\n"
        f'Environment="HTTPS_PROXY={PROXY}"\n'
        f'Environment="HTTP_PROXY={PROXY}"\n'
        f'Environment="NO_PROXY={NO_PROXY}"\n'
        f'Environment="http_proxy={PROXY}"\n'
        f'Environment="https_proxy={PROXY}"\n'
        f'Environment="no_proxy={NO_PROXY}"\n'
    )


def test_systemd_has_the_variables_for_docker_service(host):
    assert unit_environment(host) == ENVIRONMENT


def test_the_running_dockerd_has_them(host):
    environment = process_environment(host)
    assert {key: environment.get(key) for key in ENVIRONMENT} == ENVIRONMENT


def test_docker_info_reports_the_proxy(host):
    info = host.run("docker info --format '{{.HTTPProxy}}|{{.HTTPSProxy}}|{{.NoProxy}}'")
    assert info.rc == 0, info.stderr
    assert info.stdout.strip() == f"{PROXY}|{PROXY}|{NO_PROXY}"


def test_a_pull_by_the_registrys_name_goes_through_the_proxy(host):
    requests, lines = pull(host)
    assert any("dockerlab-registry:5000" in line for line in requests), "\n".join(lines[-40:])
    assert host.run(f"docker image inspect {IMAGE}").rc == 0


def test_the_rollback_stash_is_empty(host):
    assert not host.file("/var/lib/dockerlab/rollback/pending.json").exists


# --- Ansible again: check mode, without the proxy, and back -------------------


def test_a_check_run_on_the_converged_host_changes_nothing(host):
    result = run_playbook(host, CONVERGE, check=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result.stdout, host_name(host))["changed"] == 0, result.stdout[-3000:]


def test_a_check_run_without_the_proxy_says_it_would_remove_the_dropin(host):
    before = host.file(DROPIN).content_string
    result = run_playbook(host, CONVERGE, WITHOUT_PROXY, check=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Set the daemon's proxy environment (drop-in)" in result.stdout
    assert recap(result.stdout, host_name(host))["changed"] >= 1
    assert host.file(DROPIN).content_string == before
    assert unit_environment(host) == ENVIRONMENT


def test_without_the_proxy_the_dropin_is_gone_and_so_is_the_environment(host):
    result = run_playbook(host, CONVERGE, WITHOUT_PROXY)
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result.stdout, host_name(host))["changed"] >= 1
    assert not host.file(DROPIN).exists
    assert unit_environment(host) == {}
    environment = process_environment(host)
    assert not set(ENVIRONMENT) & set(environment), environment
    info = host.run("docker info --format '{{.HTTPProxy}}|{{.HTTPSProxy}}|{{.NoProxy}}'")
    assert info.stdout.strip() == "||"
    requests, lines = pull(host)
    assert requests == [], "\n".join(lines[-40:])
    # Absent stays absent: nothing to do.
    again = run_playbook(host, CONVERGE, WITHOUT_PROXY)
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap(again.stdout, host_name(host))["changed"] == 0, again.stdout[-3000:]
    # Back as converge left it.
    back = run_playbook(host, CONVERGE)
    assert back.returncode == 0, back.stdout[-3000:]
    assert unit_environment(host) == ENVIRONMENT

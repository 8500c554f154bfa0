"""Faults and bad input on real lab hosts: a bad input is refused before
anything changes; a fault leaves the host working, and the next run converges.

Each case fills in the `fault` fixture (what it injected, what it checked);
conftest.py prints one line per case. The cases run in file order on each
host; the last one replaces the tests' CA, so it stays last.
"""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from labhelpers import (
    PROJECT,
    fingerprint,
    host_name,
    journal,
    pki_dir,
    put_file,
    recap,
    run_playbook,
    run_playbook_until,
    start_probe,
    stop_probe,
)

SITE = PROJECT / "playbooks" / "site.yml"
TLS = "/etc/docker/tls"
DAEMON_JSON = "/etc/docker/daemon.json"
# Where a killed run could leave a half-written file.
WRITTEN_DIRS = (
    "/etc/docker",
    "/etc/systemd/system/docker.service.d",
    "/root/.docker",
    "/home/student/.docker",
)


def page(host, port=1337):
    return host.run(f"curl -sS --max-time 5 http://127.0.0.1:{port}/")


def assert_serving(host):
    """flaskapp answers on 1337, and the TLS listener accepts student's bundle."""
    result = page(host)
    assert result.rc == 0, result.stderr
    assert result.stdout == "Hello World!"
    ping = host.run(
        "runuser -u student -- curl -sS --max-time 5 --cacert /home/student/.docker/ca.pem "
        "--cert /home/student/.docker/cert.pem --key /home/student/.docker/key.pem "
        "https://127.0.0.1:2376/_ping"
    )
    assert ping.stdout == "OK", f"{ping.stderr}\n{journal(host)}"
    assert host.run("systemctl is-active docker.service").stdout.strip() == "active", journal(host)


def converge(host, extra_vars=None):
    """Run site.yml until it succeeds once, then once more: it must change nothing."""
    first = run_playbook(host, SITE, extra_vars)
    assert first.returncode == 0, first.stdout[-4000:]
    second = run_playbook(host, SITE, extra_vars)
    assert second.returncode == 0, second.stdout[-4000:]
    assert recap(second.stdout, host_name(host))["changed"] == 0, second.stdout[-4000:]
    return first


def half_written(host):
    """Problems a killed run could leave: temporary files of an atomic write,
    a daemon.json that does not parse, a PEM file that does not parse, a
    drop-in without its [Service] section."""
    dirs = " ".join(WRITTEN_DIRS)
    script = f"""
    find {dirs} \\( -name '.dockerlab-*' -o -name '.ansible_tmp*' -o -name '*.tmp' \\) \\
        -printf 'temporary file %p\\n' 2>/dev/null
    if [ -e {DAEMON_JSON} ]; then
        python3 -m json.tool {DAEMON_JSON} >/dev/null 2>&1 || echo 'daemon.json does not parse'
    fi
    for f in $(find {TLS} /root/.docker /home/student/.docker -name '*.pem' 2>/dev/null); do
        case "$f" in
            *key.pem) openssl pkey -noout -in "$f" 2>/dev/null || echo "key $f does not parse" ;;
            *) openssl x509 -noout -in "$f" 2>/dev/null || echo "certificate $f does not parse" ;;
        esac
    done
    for f in /etc/systemd/system/docker.service.d/*.conf; do
        [ -e "$f" ] || continue
        grep -q '^\\[Service\\]' "$f" || echo "drop-in $f has no [Service] section"
    done
    """
    problems = host.run(script).stdout.splitlines()
    for path in Path(pki_dir()).rglob("*"):
        if path.name.startswith((".ansible_tmp", ".dockerlab-")) or path.suffix == ".tmp":
            problems.append(f"temporary file on the controller: {path}")
        elif path.suffix == ".pem":
            data = path.read_bytes()
            try:
                if path.name.endswith("key.pem"):
                    serialization.load_pem_private_key(data, password=None)
                else:
                    x509.load_pem_x509_certificate(data)
            except ValueError as exc:
                problems.append(f"{path} on the controller does not parse: {exc}")
    return problems


# --- bad input: refused before any change ------------------------------------


@pytest.fixture
def port_holder(host):
    """Another program listening on 0.0.0.0:1401 on the lab host."""
    host.run(
        "systemctl stop dockerlab-fault-port.service; systemctl reset-failed dockerlab-fault-port.service"
    )
    host.run_test(
        "systemd-run --unit dockerlab-fault-port --quiet python3 -m http.server 1401 --bind 0.0.0.0"
    )
    host.run_test(
        "for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:1401/ && exit 0; sleep 0.1; done;"
        " exit 1"
    )
    yield 1401
    host.run("systemctl stop dockerlab-fault-port.service")


BAD_INPUTS = {
    "port-0": ({"docker_access_tcp_port": 0}, "docker_access_tcp_port is '0'"),
    "port-70000": ({"docker_access_tcp_port": 70000}, "docker_access_tcp_port is '70000'"),
    "port-abc": ({"docker_access_tcp_port": "abc"}, "docker_access_tcp_port"),
    "unknown-mode": ({"docker_access_tcp": "plaintext"}, "docker_access_tcp"),
    "not-a-bool": (
        {"docker_engine_live_restore": "maybe"},
        "argument 'docker_engine_live_restore' is of type str and we were unable to convert to bool",
    ),
    "bad-address": (
        {"docker_access_tcp_address": "not an address!"},
        "docker_access_tcp_address is 'not an address!'",
    ),
    "held-by-systemd-host-name": (
        {"docker_access_tcp_held_by": "systemd", "docker_access_tcp_address": "docker.lab.example"},
        "docker_access_tcp_held_by is 'systemd' and docker_access_tcp_address is 'docker.lab.example'",
    ),
    "unknown-user": ({"docker_access_users": ["student", "nobody-here"]}, "nobody-here"),
    "insecure-unacknowledged": (
        {"docker_access_tcp": "insecure"},
        "docker_access_insecure_acknowledged: true",
    ),
    "options-not-a-dict": ({"docker_engine_daemon_options": ["debug"]}, "docker_engine_daemon_options"),
    "options-set-hosts": (
        {"docker_engine_daemon_options": {"hosts": ["tcp://0.0.0.0:2375"]}},
        "Remove 'hosts'",
    ),
    "mirror-not-a-url": (
        {"docker_engine_registry_mirrors": ["registry.lab:5000"]},
        "docker_engine_registry_mirrors: 'registry.lab:5000' does not start with http:// or https://",
    ),
    "proxy-not-a-url": (
        {"docker_engine_http_proxy": "proxy.lab:3128"},
        "docker_engine_http_proxy: 'proxy.lab:3128' does not start with http:// or https://",
    ),
    "log-opts-not-strings": (
        {"docker_engine_log_opts": {"max-file": 3}},
        "docker_engine_log_opts must be a dict of strings",
    ),
    "restricted-root": (
        {"docker_access_restricted_users": ["root"]},
        "docker_access_restricted_users: root cannot be restricted",
    ),
    "restricted-and-root-equivalent": (
        {"docker_access_restricted_users": ["student"]},
        "student is in both docker_access_users (root-equivalent) and docker_access_restricted_users",
    ),
    "restricted-without-tls": (
        {"docker_access_restricted_users": ["nobody"], "docker_access_tcp": "off"},
        "restricted users reach Docker only over TLS",
    ),
    "restricted-policy-off": (
        {"docker_access_restricted_users": ["nobody"], "docker_access_authz": False},
        "docker_access_authz is false while docker_access_restricted_users lists nobody",
    ),
    "image-nowhere": (
        {"flask_app_image": "digitalocean/no-such-image:latest"},
        "flask_app_image 'digitalocean/no-such-image:latest' is neither on this host nor in the registry",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_before_anything_changes(host, fault, case):
    extra_vars, message = BAD_INPUTS[case]
    fault["injected"] = json.dumps(extra_vars)
    fault["checked"] = "run fails naming the variable; host fingerprint identical; flaskapp answers"
    before, before_text = fingerprint(host)
    result = run_playbook(host, SITE, extra_vars)
    after, after_text = fingerprint(host)
    assert result.returncode != 0, result.stdout[-2000:]
    assert message in " ".join(result.stdout.split()), result.stdout[-3000:]
    assert after == before, f"host changed:\n{before_text}\n---\n{after_text}"
    assert page(host).stdout == "Hello World!"


def test_a_host_port_another_program_holds_is_refused(host, fault, port_holder):
    fault["injected"] = (
        f"python3 -m http.server listening on 0.0.0.0:{port_holder}; flask_app_host_port {port_holder}"
    )
    fault["checked"] = (
        "run fails naming flask_app_host_port and the process; fingerprint identical; flaskapp on 1337"
    )
    before, before_text = fingerprint(host)
    result = run_playbook(host, SITE, {"flask_app_host_port": port_holder})
    after, after_text = fingerprint(host)
    assert result.returncode != 0, result.stdout[-2000:]
    text = " ".join(result.stdout.split())
    assert f"flask_app_host_port {port_holder} is already in use on this host by python3" in text, text[
        -3000:
    ]
    assert after == before, f"host changed:\n{before_text}\n---\n{after_text}"
    assert page(host).stdout == "Hello World!"


def test_a_listener_port_another_program_holds_is_refused(host, fault, port_holder):
    fault["injected"] = (
        f"python3 -m http.server on 0.0.0.0:{port_holder}; docker_access_tcp_port {port_holder}"
    )
    fault["checked"] = (
        "run fails naming the port, the process and docker_access_tcp_port; fingerprint identical"
    )
    # An earlier host's last case replaced the tests' shared CA: the first run
    # here installs certificates issued by the new one, before the listener.
    assert run_playbook(host, SITE).returncode == 0
    before, before_text = fingerprint(host)
    result = run_playbook(host, SITE, {"docker_access_tcp_port": port_holder})
    after, after_text = fingerprint(host)
    assert result.returncode != 0, result.stdout[-2000:]
    text = " ".join(result.stdout.split())
    assert f"port {port_holder} is already in use on this host by python3" in text, text[-3000:]
    assert "docker_access_tcp_port" in text
    assert after == before, f"host changed:\n{before_text}\n---\n{after_text}"
    assert_serving(host)


PORT_TAKEN = Path(__file__).resolve().parents[1] / "listener_port_taken.yml"
SOCKET_UNIT = "/etc/systemd/system/dockerlab-listener.socket"


def test_a_socket_unit_refused_its_port_is_rolled_back(host, fault):
    fault["injected"] = "the listener moved to 1402, which python3 takes before the restart (modules alone)"
    fault["checked"] = (
        "restart fails quoting systemd (the socket it could not bind); rolled back: socket unit, drop-in as "
        "before, TLS on 2376 answers, flaskapp answers, stash empty"
    )
    socket_unit = host.file(SOCKET_UNIT).content_string
    dropin = host.file("/etc/systemd/system/docker.service.d/dockerlab-listener.conf").content_string
    try:
        result = run_playbook(host, PORT_TAKEN)
        assert result.returncode != 0, result.stdout[-3000:]
        text = " ".join(result.stdout.split())
        assert "dockerlab-listener.socket did not start" in text, text[-3000:]
        # systemd 252 says "Failed to create listening socket (0.0.0.0:1402):
        # Address already in use"; systemd 257 binds in a helper process and
        # says "Failed to receive listening socket (0.0.0.0:1402): Input/output error".
        assert "listening socket (0.0.0.0:1402)" in text, text[-3000:]
        assert "rolled back" in text
        assert host.file(SOCKET_UNIT).content_string == socket_unit
        assert (
            host.file("/etc/systemd/system/docker.service.d/dockerlab-listener.conf").content_string == dropin
        )
        assert host.check_output("systemctl is-active dockerlab-listener.socket") == "active"
        assert_serving(host)
        assert not host.file("/var/lib/dockerlab/rollback/pending.json").exists
        assert "dockerlab-listener-handover" not in host.check_output("iptables -S INPUT")
    finally:
        host.run(
            "systemctl stop dockerlab-fault-port2.service;"
            " systemctl reset-failed dockerlab-fault-port2.service"
        )


def test_daemon_json_with_hosts_is_refused_with_the_conflict_explained(host, fault):
    fault["injected"] = '"hosts" added to daemon.json by hand'
    fault["checked"] = "run fails quoting dockerd's conflict; fingerprint identical"
    original = host.file(DAEMON_JSON).content_string
    put_file(
        host, DAEMON_JSON, json.dumps({**json.loads(original), "hosts": ["unix:///var/run/docker.sock"]})
    )
    try:
        before = fingerprint(host)[0]
        result = run_playbook(host, SITE)
        assert result.returncode != 0
        assert "specified both as a flag and in the configuration file: hosts" in result.stdout
        assert fingerprint(host)[0] == before
    finally:
        put_file(host, DAEMON_JSON, original)


def test_invalid_daemon_json_stops_the_run_and_stays_byte_identical(host, fault):
    fault["injected"] = "daemon.json that is not JSON"
    fault["checked"] = "run stops before any change naming the file; the file byte-identical"
    original = host.file(DAEMON_JSON).content_string
    host.run_test('printf \'{"log-level": "warn",,}\' > %s', DAEMON_JSON)
    try:
        before = host.run("sha256sum %s", DAEMON_JSON).stdout
        before_all = fingerprint(host)[0]
        result = run_playbook(host, SITE)
        assert result.returncode != 0
        assert f"{DAEMON_JSON} is not valid JSON" in result.stdout, result.stdout[-3000:]
        assert host.run("sha256sum %s", DAEMON_JSON).stdout == before
        assert fingerprint(host)[0] == before_all
    finally:
        put_file(host, DAEMON_JSON, original)


# --- faults: the host keeps working and converges on the next run ------------


def start_flask_probe(host):
    """The bounded probe of bench/probe.py on the host: flaskapp's published
    port and its own address, every 50 ms, 1 s timeout, at most 1200 requests each."""
    address = host.check_output(
        "docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' flaskapp"
    ).strip()
    start_probe(
        host, ["http://127.0.0.1:1337/", f"http://{address}:5000/"], rounds=1200, interval=0.05, timeout=1
    )


def docker_version(host):
    """The lab host's Docker version as (major, minor)."""
    version = host.check_output("dockerd --version").split()[2]
    return tuple(int(part) for part in version.split(".")[:2])


def test_an_option_the_daemon_refuses_is_refused_or_rolled_back_while_flaskapp_serves(host, fault):
    daemon_json = host.file(DAEMON_JSON).content_string
    pid = main_pid(host)
    start_flask_probe(host)
    result = run_playbook(host, SITE, {"docker_engine_daemon_options": {"dockerlab-no-such-option": True}})
    published, container = stop_probe(host)
    validates = docker_version(host) >= (23, 0)
    fault["injected"] = "docker_engine_daemon_options {'dockerlab-no-such-option': true}"
    fault["checked"] = (
        ("dockerd --validate refused it before any change, same dockerd" if validates else "rolled back")
        + f", error quoted, docker active; flaskapp's address: {container['failed']} of "
        f"{container['sent']} requests failed; published port: {published['failed']} of {published['sent']} "
        f"failed (longest gap {published['longest_gap_s']} s)"
    )
    assert result.returncode != 0
    text = " ".join(result.stdout.split())
    assert "dockerlab-no-such-option" in text  # the daemon's own words
    if validates:
        # Docker 23+: dockerd --validate with the unit's flags, before the file changes.
        assert f"dockerd would not start with the new {DAEMON_JSON}" in text, text[-3000:]
        assert "Nothing was changed." in text
        assert main_pid(host) == pid, journal(host)
        assert published["failed"] == 0, published
    else:
        assert "rolled back" in text, text[-3000:]
    assert host.file(DAEMON_JSON).content_string == daemon_json
    assert container["failed"] == 0, container  # live-restore: the container itself never stopped
    assert_serving(host)


def main_pid(host):
    return host.check_output("systemctl show --property=MainPID --value docker.service").strip()


def test_a_reload_the_daemon_refuses_is_rolled_back_without_a_restart(host, fault):
    # Past preflight's mirror check (docker_engine_daemon_options are the
    # user's own daemon.json keys): dockerd itself refuses the mirror on SIGHUP.
    bad = {"docker_engine_daemon_options": {"registry-mirrors": ["ftp://mirror.invalid"]}}
    # Up to date first: the hosts share the tests' CA, which an earlier host's
    # last case replaced, and new TLS files would (rightly) make it a restart.
    first = run_playbook(host, SITE)
    assert first.returncode == 0, first.stdout[-3000:]
    daemon_json = host.file(DAEMON_JSON).content_string
    pid = main_pid(host)
    start_flask_probe(host)
    result = run_playbook(host, SITE, bad)
    published, container = stop_probe(host)
    fault["injected"] = json.dumps(bad)
    fault["checked"] = (
        f"reload refused by dockerd, rolled back with a reload, same dockerd (pid {pid}); published port: "
        f"{published['failed']} of {published['sent']} requests failed, flaskapp's address: "
        f"{container['failed']} of {container['sent']}"
    )
    assert result.returncode != 0
    text = " ".join(result.stdout.split())
    assert "ftp://mirror.invalid" in text  # dockerd's own words
    if f"dockerd would not start with the new {DAEMON_JSON}" not in text:
        # Where dockerd --validate does not check mirrors (20.10 has none; 26.1's
        # leaves them to the registry service), the reload meets the refusal.
        assert "docker.service refused to reload registry-mirrors and was rolled back" in text, text[-3000:]
        assert "the daemon kept running" in text
    assert host.file(DAEMON_JSON).content_string == daemon_json
    assert main_pid(host) == pid, journal(host)
    assert (published["failed"], container["failed"]) == (0, 0), (published, container)
    assert_serving(host)
    converge(host)


BYPASS = Path(__file__).resolve().parents[1] / "userland_proxy_off.yml"
# This mount only (a bind remount): the lab host's /proc/sys read-only as
# Docker's default masking makes it, and back.
PROC_SYS_RO = "mount -o remount,bind,ro /proc/sys"
PROC_SYS_RW = "mount -o remount,bind,rw /proc/sys"
WAIT_FOR_PAGE = (
    "for i in $(seq 40); do curl -fsS -m 1 http://127.0.0.1:1337/ && exit 0; sleep 0.25; done; exit 1"
)


def test_userland_proxy_off_on_a_read_only_proc_sys_is_refused_and_would_be_rolled_back(host, fault):
    fault["injected"] = "/proc/sys remounted read-only; the default docker_engine_userland_proxy: false"
    fault["checked"] = (
        "refused before any change naming the variable; true works there; the modules without "
        "preflight: dockerd starts broken, counted as refused, rolled back, docker active"
    )
    host.run_test(PROC_SYS_RO)
    try:
        before, before_text = fingerprint(host)
        result = run_playbook(host, SITE)
        assert result.returncode != 0
        text = " ".join(result.stdout.split())
        assert "docker_engine_userland_proxy is false, but /proc/sys is read-only" in text, text[-3000:]
        after, after_text = fingerprint(host)
        assert after == before, f"host changed:\n{before_text}\n---\n{after_text}"
        # The way out the message gives: the proxy on, for this host.
        converge(host, {"docker_engine_userland_proxy": True})
        assert_serving(host)
        daemon_json = host.file(DAEMON_JSON).content_string
        # Had preflight not been there: dockerd (20.10 and 26.1) would even start, only
        # warning, without its bridge; docker_daemon_restart reads that in the
        # journal, counts it as refused and rolls back. (dockerd only needs to
        # set route_localnet where it is not set yet.)
        host.run_test(
            f"{PROC_SYS_RW} && echo 0 > /proc/sys/net/ipv4/conf/docker0/route_localnet && {PROC_SYS_RO}"
        )
        bypass = run_playbook(host, BYPASS)
        assert bypass.returncode != 0
        assert "rolled back" in bypass.stdout, bypass.stdout[-3000:]
        assert "read-only file system" in bypass.stdout, bypass.stdout[-3000:]  # dockerd's own words
        assert host.file(DAEMON_JSON).content_string == daemon_json
        assert host.run("systemctl is-active docker.service").stdout.strip() == "active", journal(host)
    finally:
        host.run(PROC_SYS_RW)
    # What rollback cannot undo: the broken start dropped the published ports
    # of the live-restored containers. Restarting them brings them back.
    host.run_test("docker restart flaskapp")
    host.run_test(WAIT_FOR_PAGE)
    converge(host)
    assert_serving(host)


KILL_POINTS = {
    "merging-daemon.json": "TASK [dockerlab.docker.docker_engine : Merge the settings into daemon.json",
    "issuing-the-server-certificate": (
        "TASK [dockerlab.docker.docker_access : Issue the server certificate from the CA"
    ),
    "installing-tls-files": "TASK [dockerlab.docker.docker_access : Install the daemon's TLS files",
    "restarting-dockerd": (
        "RUNNING HANDLER [dockerlab.docker.docker_engine : Reload or restart Docker safely]"
    ),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_run_killed_midway_leaves_no_half_written_file_and_the_next_converges(host, fault, point):
    # Work for every kill point: a new daemon option, and a server
    # certificate to reissue and install (which restarts dockerd).
    level = "warn" if json.loads(host.file(DAEMON_JSON).content_string).get("log-level") != "warn" else "info"
    extra_vars = {"docker_engine_daemon_options": {"log-level": level}}
    shutil.rmtree(Path(pki_dir()) / "hosts" / host_name(host), ignore_errors=True)
    killed, output = run_playbook_until(host, SITE, KILL_POINTS[point], delay=0.5, extra_vars=extra_vars)
    fault["injected"] = f"SIGKILL to ansible-playbook's process group 0.5 s after '{KILL_POINTS[point]}'"
    fault["checked"] = (
        "no temporary or unparsable file (daemon.json, drop-ins, TLS files, bundles, controller PKI); "
        "next run converges, the one after changes nothing; flaskapp and TLS answer"
    )
    assert killed, f"the run ended before {KILL_POINTS[point]!r}:\n{output[-3000:]}"
    time.sleep(2)  # what the host was doing when the controller died finishes on its own
    problems = half_written(host)
    assert not problems, "\n".join(problems)
    converge(host, extra_vars)
    assert_serving(host)


def test_dockerd_killed_between_runs_is_brought_back(host, fault):
    fault["injected"] = "SIGKILL to dockerd (systemctl kill -s KILL), then a run at once"
    fault["checked"] = "the run succeeds; docker active; flaskapp and TLS answer; next run changes nothing"
    host.run_test("systemctl kill -s KILL --kill-who=main docker.service")
    converge(host)
    assert_serving(host)


@pytest.mark.parametrize(
    ("damage", "command"),
    [
        ("server key deleted", f"rm -f {TLS}/server-key.pem"),
        ("server certificate corrupted", f"echo 'not a certificate' > {TLS}/server-cert.pem"),
    ],
    ids=["key-deleted", "cert-corrupted"],
)
def test_damaged_server_tls_files_are_restored(host, fault, damage, command):
    fault["injected"] = f"{damage} on the host"
    fault["checked"] = (
        "the next run restores it (same checksum as the controller's) and the TLS listener works"
    )
    host.run_test(command)
    result = converge(host)
    assert recap(result.stdout, host_name(host))["changed"] > 0
    controller = Path(pki_dir()) / "hosts" / host_name(host)
    for name in ("server-cert.pem", "server-key.pem"):
        local = subprocess.run(
            ["sha256sum", str(controller / name)], capture_output=True, text=True, check=True
        )
        assert host.run(f"sha256sum {TLS}/{name}").stdout.split()[0] == local.stdout.split()[0]
    assert_serving(host)


def test_a_deleted_ca_is_refused_unless_a_new_one_is_asked_for(host, fault):
    fault["injected"] = "the CA (ca.pem, ca-key.pem) deleted on the controller"
    fault["checked"] = (
        "the run fails naming docker_access_ca_regenerate, host unchanged; with "
        "docker_access_ca_regenerate: true a new CA, new bundles, and TLS works with them"
    )
    pki = Path(pki_dir())
    old_ca = (pki / "ca.pem").read_bytes()
    for name in ("ca.pem", "ca-key.pem"):
        (pki / name).unlink()
    before, before_text = fingerprint(host)
    result = run_playbook(host, SITE)
    assert result.returncode != 0
    assert "docker_access_ca_regenerate: true" in " ".join(result.stdout.split()), result.stdout[-3000:]
    after, after_text = fingerprint(host)
    assert after == before, f"host changed:\n{before_text}\n---\n{after_text}"
    assert not (pki / "ca.pem").exists()  # no CA was made behind the user's back
    converge(host, {"docker_access_ca_regenerate": True})
    assert (pki / "ca.pem").read_bytes() != old_ca
    assert host.file("/home/student/.docker/ca.pem").content_string == (pki / "ca.pem").read_text()
    assert_serving(host)

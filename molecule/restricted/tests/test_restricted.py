"""Restricted lab users on a real lab host: real dockerd asking the real
authorization plugin (run by real systemd) about every call, real TLS
client certificates, the real docker CLI and curl.

alice, bob and carol are restricted (converge.yml); student is the
instructor's root-equivalent lab user. The tests that run Ansible again
(revocation, turning the policy off and on) come last in the file.
"""

import json
import shlex
import time
from pathlib import Path

import pytest
from labhelpers import changed_tasks, host_name, journal, recap, run_playbook, start_probe, stop_probe

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
AUDIT = Path(__file__).resolve().parents[1] / "audit.yml"
IMAGE = "digitalocean/flask-helloworld"
DENIED = "authorization denied by plugin dockerlab-authz: dockerlab policy, rule "
PLUGIN_SOCKET = "/run/docker/plugins/dockerlab-authz.sock"
POLICY = "/etc/dockerlab/authz/policy.json"
INSTALL_PLUGIN = "Install the authorization plugin with its policy (the restricted and the revoked users)"
# alice's own walkthrough container, on a port of its own (flaskapp has 1337).
ALICE_APP, ALICE_PORT = "alice-flask", 1341


def as_user(host, user, command):
    """``command`` in ``user``'s login shell (the profile sets DOCKER_HOST)."""
    return host.run("runuser -l %s -c %s", user, command)


def api(host, user, method, path, body=None):
    """The raw Engine API over TLS with ``user``'s bundle, as curl sends it:
    (HTTP status, body text)."""
    data = (
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))} " if body is not None else ""
    )
    command = (
        "curl -sS --max-time 30 -o ~/api.out -w '%{http_code}' --cacert ~/.docker/ca.pem"
        f" --cert ~/.docker/cert.pem --key ~/.docker/key.pem -X {method} {data}"
        f"{shlex.quote('https://127.0.0.1:2376' + path)}; echo; cat ~/api.out"
    )
    out = as_user(host, user, command)
    assert out.rc == 0, out.stderr
    status, _newline, text = out.stdout.partition("\n")
    return int(status), text


def pid(host):
    return host.check_output("systemctl show docker.service -p MainPID --value")


# --- set-up ------------------------------------------------------------------


@pytest.mark.parametrize("user", ["alice", "bob", "carol"])
def test_restricted_users_are_not_in_the_docker_group_and_have_a_bundle(host, user):
    assert "docker" not in host.user(user).groups
    for name, mode in (("ca.pem", 0o444), ("cert.pem", 0o444), ("key.pem", 0o400)):
        bundle = host.file(f"/home/{user}/.docker/{name}")
        assert (bundle.user, bundle.mode) == (user, mode)
    # The Unix socket is not theirs.
    assert as_user(host, user, "docker -H unix:///var/run/docker.sock ps").rc != 0


def test_login_points_restricted_users_at_the_tls_listener(host):
    out = as_user(host, "alice", "echo $DOCKER_HOST $DOCKER_TLS_VERIFY")
    assert out.stdout.strip() == "tcp://127.0.0.1:2376 1"
    # Not for the instructor, who uses the Unix socket.
    assert as_user(host, "student", "echo ${DOCKER_HOST:-unset}").stdout.strip() == "unset"


def test_the_plugin_runs_under_systemd_which_holds_its_socket(host):
    assert host.check_output("systemctl is-active dockerlab-authz.socket") == "active"
    assert host.check_output("systemctl is-enabled dockerlab-authz.socket") == "enabled"
    sock = host.file(PLUGIN_SOCKET)
    assert sock.is_socket
    assert (sock.user, sock.mode) == ("root", 0o600)
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["authorization-plugins"] == ["dockerlab-authz"]
    assert json.loads(host.file(POLICY).content_string) == {
        "restricted": ["alice", "bob", "carol"],
        "revoked": [],
    }


# --- the walkthrough, as a restricted user -----------------------------------


def test_alice_does_the_walkthrough_with_the_docker_cli_over_tls(host):
    as_user(host, "alice", f"docker rm -f {ALICE_APP}")
    steps = [
        f"docker pull {IMAGE}",
        "docker images",
        f"docker create --name {ALICE_APP} -p {ALICE_PORT}:5000 {IMAGE}",
        f"docker start {ALICE_APP}",
    ]
    for step in steps:
        out = as_user(host, "alice", step)
        assert out.rc == 0, (step, out.stderr)
    assert IMAGE in as_user(host, "alice", "docker images").stdout
    page = ""
    for _attempt in range(30):
        page = host.run(f"curl -sS --max-time 2 http://127.0.0.1:{ALICE_PORT}/").stdout
        if "Hello" in page:
            break
        time.sleep(1)
    assert "Hello" in page


def test_alice_does_the_walkthrough_through_the_raw_api(host):
    api(host, "alice", "DELETE", "/containers/alice-api?force=true")
    status, text = api(host, "alice", "POST", f"/images/create?fromImage={IMAGE}&tag=latest")
    assert status == 200, text
    status, text = api(host, "alice", "GET", "/images/json")
    assert status == 200, text
    assert IMAGE in text
    body = {
        "Image": IMAGE,
        "ExposedPorts": {"5000/tcp": {}},
        "HostConfig": {"PortBindings": {"5000/tcp": [{"HostPort": "1342"}]}},
    }
    status, text = api(host, "alice", "POST", "/containers/create?name=alice-api", body)
    assert status == 201, text
    status, text = api(host, "alice", "POST", "/containers/alice-api/start")
    assert status == 204, text
    page = ""
    for _attempt in range(30):
        page = host.run("curl -sS --max-time 2 http://127.0.0.1:1342/").stdout
        if "Hello" in page:
            break
        time.sleep(1)
    assert "Hello" in page


# --- every way out, refused --------------------------------------------------

# (case, docker CLI arguments after `docker`, the rule that refuses it)
BREAKOUTS = [
    ("privileged", f"run --rm --privileged {IMAGE} true", "privileged"),
    ("bind-root", f"run --rm -v /:/host {IMAGE} true", "host-path"),
    ("bind-socket", f"run --rm -v /var/run/docker.sock:/var/run/docker.sock {IMAGE} true", "host-path"),
    ("mount-bind", f"run --rm --mount type=bind,src=/etc,dst=/x {IMAGE} true", "host-path"),
    ("volume-bind", "volume create --driver local -o type=none -o o=bind -o device=/ hostroot", "host-path"),
    ("cap-sys-admin", f"run --rm --cap-add SYS_ADMIN {IMAGE} true", "capabilities"),
    ("cap-all", f"run --rm --cap-add ALL {IMAGE} true", "capabilities"),
    ("pid-host", f"run --rm --pid host {IMAGE} true", "host-namespace"),
    ("ipc-host", f"run --rm --ipc host {IMAGE} true", "host-namespace"),
    ("uts-host", f"run --rm --uts host {IMAGE} true", "host-namespace"),
    ("net-host", f"run --rm --network host {IMAGE} true", "host-namespace"),
    ("userns-host", f"run --rm --userns host {IMAGE} true", "host-namespace"),
    ("device", f"run --rm --device /dev/null:/dev/xnull {IMAGE} true", "devices"),
    ("seccomp", f"run --rm --security-opt seccomp=unconfined {IMAGE} true", "seccomp"),
    ("apparmor", f"run --rm --security-opt apparmor=unconfined {IMAGE} true", "apparmor"),
    (
        "no-new-privileges",
        f"run --rm --security-opt no-new-privileges=false {IMAGE} true",
        "no-new-privileges",
    ),
    ("systempaths", f"run --rm --security-opt systempaths=unconfined {IMAGE} true", "masked-paths"),
    ("cgroup-parent", f"run --rm --cgroup-parent / {IMAGE} true", "cgroup-parent"),
    ("volumes-from", f"run --rm --volumes-from breakout-socket {IMAGE} true", "not-owner"),
    ("exec-privileged", f"exec --privileged {ALICE_APP} id", "privileged"),
    ("plugin", "plugin install --grant-all-permissions vieux/sshfs", "cluster"),
    ("swarm", "swarm init", "cluster"),
    ("prune", "container prune -f", "prune"),
]


@pytest.mark.parametrize(("case", "args", "rule"), BREAKOUTS, ids=[case for case, _a, _r in BREAKOUTS])
def test_each_way_out_is_refused_through_the_cli_naming_the_rule(host, case, args, rule):
    out = as_user(host, "alice", f"docker {args}")
    assert out.rc != 0, (case, out.stdout)
    assert f"{DENIED}{rule}:" in out.stderr, (case, out.stderr)


def create(case, host_config, rule):
    """An API breakout through POST /containers/create with ``host_config``."""
    return (case, "POST", "/containers/create", {"Image": IMAGE, "HostConfig": host_config}, rule)


# (case, method, path, body, rule)
API_BREAKOUTS = [
    create("privileged", {"Privileged": True}, "privileged"),
    create("binds", {"Binds": ["/:/host"]}, "host-path"),
    create("mounts", {"Mounts": [{"Type": "bind", "Source": "/etc", "Target": "/x"}]}, "host-path"),
    (
        "volume",
        "POST",
        "/volumes/create",
        {"Name": "hostetc", "Driver": "local", "DriverOpts": {"type": "none", "o": "bind", "device": "/etc"}},
        "host-path",
    ),
    create("caps", {"CapAdd": ["cap_sys_admin"]}, "capabilities"),
    create("pid", {"PidMode": "host"}, "host-namespace"),
    create("net", {"NetworkMode": "host"}, "host-namespace"),
    create("devices", {"Devices": [{"PathOnHost": "/dev/mem", "PathInContainer": "/dev/mem"}]}, "devices"),
    create("seccomp", {"SecurityOpt": ["seccomp=unconfined"]}, "seccomp"),
    create("cgroup", {"CgroupParent": "/"}, "cgroup-parent"),
    ("not-json", "POST", "/containers/create", None, "unreadable"),
    ("swarm", "POST", "/swarm/init", {"ListenAddr": "127.0.0.1:2377"}, "cluster"),
    ("build", "POST", "/build", None, "unknown"),
    ("socket-container", "POST", "/containers/breakout-socket/exec", {"Cmd": ["id"]}, "not-owner"),
]


@pytest.mark.parametrize(
    ("case", "method", "path", "body", "rule"), API_BREAKOUTS, ids=[case[0] for case in API_BREAKOUTS]
)
def test_each_way_out_is_refused_through_the_raw_api(host, case, method, path, body, rule):
    status, text = api(host, "alice", method, path, body)
    assert status == 403, (case, status, text)
    assert f"{DENIED}{rule}:" in text, (case, text)


def test_the_breakout_lab_stays_the_instructors(host):
    # The docker.sock lab runs, for unrestricted users only.
    assert host.check_output("docker inspect -f '{{.State.Running}}' breakout-socket") == "true"
    for args in ("exec breakout-socket id", "start breakout-socket", "inspect breakout-socket"):
        out = as_user(host, "alice", f"docker {args}")
        assert out.rc != 0, args
        assert f"{DENIED}not-owner:" in out.stderr, (args, out.stderr)
    out = host.run("runuser -u student -- docker exec breakout-socket ls /var/run/docker.sock")
    assert out.rc == 0, out.stderr


def test_nothing_new_on_the_host_for_the_audit(host):
    out = run_playbook(host, AUDIT)
    assert recap(out.stdout, host_name(host))["failed"] == 0, out.stdout[-3000:]
    audit = json.loads(host.file("/root/audit.json").content_string)
    targets = {finding["target"] for finding in audit["findings"]}
    # alice's containers are as harmless as the walkthrough's: no finding
    # above low names them, and no container the breakouts asked for exists.
    serious = [
        f
        for f in audit["findings"]
        if f["target"] in (ALICE_APP, "alice-api") and f["severity"] in ("high", "critical")
    ]
    assert serious == []
    names = host.check_output("docker ps -a --format '{{.Names}}'").split()
    assert sorted(name for name in names if name not in ("flaskapp", "breakout-socket")) == sorted(
        [ALICE_APP, "alice-api"]
    )
    assert "hostroot" not in host.check_output("docker volume ls -q")
    assert "hostetc" not in host.check_output("docker volume ls -q")
    assert targets  # the audit ran and saw the host


def test_the_audit_reports_the_policy_and_cis_2_12_passes(host):
    audit = json.loads(host.file("/root/audit.json").content_string)
    assert "daemon-no-authorization" not in {f["id"] for f in audit["findings"]}
    policy = audit["authorization"]["dockerlab_policy"]
    assert (policy["enabled"], policy["answers"]) == (True, True)
    assert policy["restricted"] == ["alice", "bob", "carol"]


# --- other users' containers ---------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        f"stop {ALICE_APP}",
        f"exec {ALICE_APP} id",
        f"rm -f {ALICE_APP}",
        f"logs {ALICE_APP}",
        f"kill {ALICE_APP}",
        f"commit {ALICE_APP} bobs-copy",
        f"run --rm --network container:{ALICE_APP} {IMAGE} true",
    ],
)
def test_bob_cannot_touch_alices_container(host, args):
    out = as_user(host, "bob", f"docker {args}")
    assert out.rc != 0, (args, out.stdout)
    assert DENIED in out.stderr, (args, out.stderr)
    assert host.check_output(f"docker inspect -f '{{{{.State.Running}}}}' {ALICE_APP}") == "true"


def test_ownership_survives_a_plugin_and_a_daemon_restart(host):
    host.run_test("systemctl restart dockerlab-authz.service")
    host.run_test("systemctl restart docker.service")
    for _attempt in range(60):
        if host.run(f"runuser -l alice -c 'docker inspect {ALICE_APP}'").rc == 0:
            break
        time.sleep(1)
    assert as_user(host, "alice", f"docker exec {ALICE_APP} id").rc == 0
    assert f"{DENIED}not-owner:" in as_user(host, "bob", f"docker exec {ALICE_APP} id").stderr


# --- the plugin itself -------------------------------------------------------


def test_killing_the_plugin_under_a_probe_loses_no_call(host):
    # Root's calls on the Unix socket and over TLS: dockerd asks the plugin
    # about each (its answer for root is yes).
    urls = ["unix:///run/docker.sock", "https://127.0.0.1:2376/_ping"]
    start_probe(host, urls, rounds=400, interval=0.02, bundle="/root/.docker")
    killed = []
    for _round in range(5):
        time.sleep(1)
        main = host.check_output("systemctl show dockerlab-authz.service -p MainPID --value")
        if main != "0":
            host.run_test(f"kill -KILL {main}")
            killed.append(main)
    summary = stop_probe(host)
    assert len(killed) >= 3, killed
    for result in summary:
        assert result["sent"] > 100, result
        assert (result["failed"], result["refused"]) == (0, 0), (
            result,
            journal(host, "dockerlab-authz.service"),
        )
    # systemd started it again each time.
    assert host.check_output("systemctl show dockerlab-authz.service -p NRestarts --value") != "0"


def test_root_recovers_from_a_broken_plugin_without_a_restart(host):
    before = pid(host)
    # Break the plugin: nothing answers on its socket.
    host.run_test("systemctl stop dockerlab-authz.socket dockerlab-authz.service")
    # dockerd retries a plugin that does not answer for 30 s, then fails
    # the call: every call hangs, root's on the Unix socket too.
    broken = host.run("timeout 5 docker ps")
    assert broken.rc != 0, broken.stdout
    # What the role's README tells root to do.
    host.run_test(
        'python3 -c \'import json; p="/etc/docker/daemon.json"; c=json.load(open(p)); '
        'c.pop("authorization-plugins", None); json.dump(c, open(p, "w"), indent=2)\''
    )
    host.run_test("systemctl reload docker")
    ok = None
    for _attempt in range(30):
        ok = host.run("docker ps")
        if ok.rc == 0:
            break
        time.sleep(1)
    assert ok.rc == 0, ok.stderr
    assert pid(host) == before
    # The next run puts the policy back, with a reload again.
    out = run_playbook(host, CONVERGE)
    assert recap(out.stdout, host_name(host))["failed"] == 0, out.stdout[-3000:]
    assert pid(host) == before
    assert (
        f"{DENIED}privileged:" in as_user(host, "alice", f"docker run --rm --privileged {IMAGE} true").stderr
    )


def test_the_next_converge_starts_a_plugin_socket_stopped_by_hand(host):
    # daemon.json still names the plugin: every API call waits on it.
    before = pid(host)
    host.run_test("systemctl stop dockerlab-authz.socket dockerlab-authz.service")
    assert host.run("timeout 5 docker ps").rc != 0
    # A check run says so, and leaves it stopped.
    out = run_playbook(host, CONVERGE, check=True)
    assert recap(out.stdout, host_name(host))["failed"] == 0, out.stdout[-3000:]
    assert INSTALL_PLUGIN in changed_tasks(out.stdout), out.stdout[-3000:]
    assert host.run("systemctl is-active dockerlab-authz.socket").stdout.strip() == "inactive"
    # The host read sees the socket stopped and the daemon blocked by it,
    # without waiting on the daemon; the plugin is started before anything
    # asks the daemon again.
    out = run_playbook(host, CONVERGE)
    assert recap(out.stdout, host_name(host))["failed"] == 0, out.stdout[-3000:]
    assert changed_tasks(out.stdout) == [INSTALL_PLUGIN], out.stdout[-3000:]
    assert host.run("systemctl is-active dockerlab-authz.socket").stdout.strip() == "active"
    assert pid(host) == before
    assert host.run("docker ps").rc == 0
    assert (
        f"{DENIED}privileged:" in as_user(host, "alice", f"docker run --rm --privileged {IMAGE} true").stderr
    )
    out = run_playbook(host, CONVERGE)
    assert recap(out.stdout, host_name(host))["changed"] == 0, out.stdout[-3000:]


# --- revocation ----------------------------------------------------------------


def test_a_removed_user_is_refused_on_the_next_converge_and_others_keep_working(host):
    assert as_user(host, "carol", "docker ps").rc == 0
    # carol's certificate and key, as she may keep them on her own machine.
    host.run_test("rm -rf /root/carol && cp -a /home/carol/.docker /root/carol")
    before = pid(host)
    out = run_playbook(host, CONVERGE, {"docker_access_restricted_users": ["alice", "bob"]})
    assert recap(out.stdout, host_name(host))["failed"] == 0, out.stdout[-3000:]
    assert pid(host) == before  # no restart
    assert json.loads(host.file(POLICY).content_string) == {
        "restricted": ["alice", "bob"],
        "revoked": ["carol"],
    }
    assert not host.file("/home/carol/.docker/cert.pem").exists
    # carol's certificate (from the CA, still valid) as she may have kept it.
    out = host.run(
        "curl -sS --max-time 10 --cacert /root/carol/ca.pem --cert /root/carol/cert.pem"
        " --key /root/carol/key.pem https://127.0.0.1:2376/_ping"
    )
    assert f"{DENIED}revoked:" in out.stdout, out.stdout
    # Nor does the CLI let her in with it, by any way.
    out = host.run("DOCKER_CERT_PATH=/root/carol DOCKER_TLS_VERIFY=1 docker -H tcp://127.0.0.1:2376 ps")
    assert f"{DENIED}revoked:" in out.stderr, out.stderr
    assert as_user(host, "alice", "docker ps").rc == 0
    assert as_user(host, "bob", "docker ps").rc == 0
    assert host.run("runuser -u student -- docker ps").rc == 0
    # The audit lists the certificate that is still valid but refused.
    run_playbook(host, AUDIT)
    audit = json.loads(host.file("/root/audit.json").content_string)
    assert audit["authorization"]["dockerlab_policy"]["revoked"] == ["carol"]


def test_turning_the_policy_off_reloads_dockerd_before_the_plugin_goes(host):
    before = pid(host)
    out = run_playbook(host, CONVERGE, {"docker_access_restricted_users": [], "docker_access_authz": False})
    assert recap(out.stdout, host_name(host))["failed"] == 0, out.stdout[-3000:]
    assert pid(host) == before  # a reload, no restart
    assert "authorization-plugins" not in json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert host.run("systemctl is-active dockerlab-authz.socket").stdout.strip() != "active"
    assert not host.file(POLICY).exists
    assert not host.file("/etc/profile.d/dockerlab-docker-host.sh").exists
    assert host.run("docker ps").rc == 0
    # Without the policy, every bundle left is root-equivalent again: none is.
    for user in ("alice", "bob", "carol"):
        assert not host.file(f"/home/{user}/.docker/cert.pem").exists

"""The collection as AWX / Automation Controller runs it.

The execution environment: `ansible-builder create` makes the build context
of execution-environment.yml with no network at all (in a network namespace
of its own where `unshare` can make one): a Containerfile on the base image
with the pinned ansible-core and ansible-runner, the collections
(community.docker and community.crypto in galaxy.yml's ranges, and this
collection's tarball, copied into the context) and the python and system
requirement files. The context's own steps then run offline as the image
build would run them: its ansible-galaxy step installs the tarball, and its
introspection finds what meta/execution-environment.yml lists
(cryptography; openssh-client, openssh-clients per bindep platform).
collections/requirements.yml, which AWX's project sync installs from the
project's root, installs this checkout as dockerlab.docker.

A job: ansible-runner runs a private data directory laid out as AWX lays
out a job's (project/ with a user's playbook of the roles by full name,
inventory/ with a lab host reached by community.docker.docker, env/ with
the collections path of the installed tarball and the extra variables),
with the PKI directory (docker_access_pki_dir) outside it, where a job's
private data directory, which AWX removes, cannot take the CA with it.
The first run converges the host, the second changes nothing (from the
job events' playbook_on_stats), a third with that PKI directory emptied (a
lost CA) is refused with the roles' message, changes nothing on the host
and makes no new CA, and a fourth with docker_access_ca_regenerate: true
reissues the CA: the host and the user's bundle on it trust the new one,
the daemon answers the reissued bundle and refuses the one handed out
before.

The job part needs the lab's Docker engine, images and registry, which
`make test` sets up before it runs these; it is skipped where no engine
answers.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from bindep.depends import Depends
from labtools import BIN, ROOT, USER_PLAYBOOK, create_lab_host, docker, engine_has, remove_lab_host

HOST = "dockerlab-test-awx"
# One job's bound: a first converge installs docker.io on the host.
JOB_TIMEOUT = 600
needs_engine = pytest.mark.skipif(
    not engine_has("dockerlab/labhost:bookworm"),
    reason="needs the lab's Docker engine, images and registry (make test sets them up first)",
)


def load(path):
    return yaml.safe_load(Path(path).read_text())


def clean_env(**extra):
    """This process's environment without ANSIBLE_* (nothing of this
    checkout's configuration), the venv's tools first on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(PATH=f"{BIN}:{env.get('PATH', '')}", ANSIBLE_NOCOLOR="1", **extra)
    return env


def offline_works():
    """Whether `unshare --net` can give a command a network namespace with
    no interface up (root here; not in every sandbox)."""
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode == 0


OFFLINE = offline_works()


def run(*args, env, cwd, timeout=120):
    """A command, in a network namespace of its own when one can be made."""
    command = [str(BIN / args[0]) if (BIN / args[0]).exists() else args[0], *args[1:]]
    if OFFLINE:
        command = ["unshare", "--net", *command]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False
    )


def galaxy_install(requirements, path, env, cwd):
    """ansible-galaxy's offline install of a requirements file (relative to
    ``cwd``) into the collections path ``path``."""
    return run(
        "ansible-galaxy",
        "collection",
        "install",
        "--offline",
        "-r",
        requirements,
        "--collections-path",
        str(path),
        env=env,
        cwd=cwd,
    )


def build_tarball(directory, env):
    built = run(
        "ansible-galaxy", "collection", "build", "--output-path", str(directory), str(ROOT), env=env, cwd=ROOT
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return next(Path(directory).glob("dockerlab-docker-*.tar.gz"))


def galaxy_ranges():
    return load(ROOT / "galaxy.yml")["dependencies"]


def requirements_in_pins():
    pins = {}
    for line in (ROOT / "requirements.in").read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[name] = version
    return pins


# ---------------------------------------------------------------------------
# The execution environment
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ee(tmp_path_factory):
    """ansible-builder create, offline, on a copy of execution-environment.yml
    with the files it names (the tarball built where it expects it): the
    directory with the definition, the context and the CompletedProcess."""
    base = tmp_path_factory.mktemp("ee")
    env = clean_env(ANSIBLE_LOCAL_TEMP=str(base / "tmp"))
    definition = load(ROOT / "execution-environment.yml")
    shutil.copy(ROOT / "execution-environment.yml", base)
    for key in ("python", "system"):
        (base / definition["dependencies"][key]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / definition["dependencies"][key], base / definition["dependencies"][key])
    # The tarball where additional_build_files takes it (dist/ in the checkout).
    (entry,) = definition["additional_build_files"]
    tarball = build_tarball(base / Path(entry["src"]).parent, env)
    created = run(
        "ansible-builder",
        "create",
        "--file",
        "execution-environment.yml",
        "--context",
        str(base / "context"),
        "--output-filename",
        "Containerfile",
        env=env,
        cwd=base,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    return SimpleNamespace(
        base=base,
        env=env,
        definition=definition,
        tarball=tarball,
        context=base / "context",
        build=base / "context" / "_build",
        created=created,
    )


def test_ansible_builder_create_needs_no_network(ee):
    if not OFFLINE:
        pytest.skip("unshare --net is not permitted here: create ran with the network")
    # It ran in a namespace with no interface up, and only wrote the context.
    assert "Complete! The build context can be found at" in ee.created.stdout
    assert not [line for line in ee.created.stdout.splitlines() if "ansible-galaxy" in line or "pip" in line]


def test_the_containerfile_builds_on_the_base_image_with_the_pinned_ansible(ee):
    text = (ee.context / "Containerfile").read_text()
    pins = requirements_in_pins()
    assert f'ARG EE_BASE_IMAGE="{ee.definition["images"]["base_image"]["name"]}"' in text
    refs = f"ansible-core=={pins['ansible-core']} ansible-runner=={pins['ansible-runner']}"
    assert f'ARG ANSIBLE_INSTALL_REFS="{refs}"' in text
    # The stages that install the collections, then what they and the user files need.
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in text
    assert "introspect.py introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in text
    assert "RUN /output/scripts/install-from-bindep" in text


def test_the_context_names_the_collections_in_galaxy_ymls_ranges_and_carries_the_tarball(ee):
    collections = load(ee.build / "requirements.yml")["collections"]
    by_name = {entry["name"]: entry for entry in collections}
    for name, version in galaxy_ranges().items():
        assert by_name[name]["version"] == version, name
    # collections/requirements.yml, which AWX installs, names the same ranges.
    project = {
        entry["name"]: entry.get("version")
        for entry in load(ROOT / "collections/requirements.yml")["collections"]
    }
    assert {name: project[name] for name in galaxy_ranges()} == galaxy_ranges()
    (own,) = [entry for entry in collections if entry.get("type") == "file"]
    # ansible-galaxy runs in /build, the context's _build: the tarball is there.
    copied = ee.build / own["name"]
    assert copied.is_file(), sorted(str(p.relative_to(ee.build)) for p in ee.build.rglob("*"))
    assert copied.read_bytes() == ee.tarball.read_bytes()
    with tarfile.open(copied) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    assert (manifest["namespace"], manifest["name"]) == ("dockerlab", "docker")
    assert manifest["version"] == load(ROOT / "galaxy.yml")["version"]
    assert manifest["dependencies"] == galaxy_ranges()


def test_the_context_has_the_collections_python_and_system_requirements(ee):
    meta = load(ROOT / "meta/execution-environment.yml")["dependencies"]
    assert (ee.build / "requirements.txt").read_text() == (ROOT / meta["python"]).read_text()
    assert (ee.build / "bindep.txt").read_text() == (ROOT / meta["system"]).read_text()


def test_the_bindep_file_names_the_ssh_client_per_platform():
    rules = Depends(
        (ROOT / load(ROOT / "meta/execution-environment.yml")["dependencies"]["system"]).read_text()
    )
    assert [rule[0] for rule in rules.active_rules(["platform:dpkg", "default"])] == ["openssh-client"]
    assert [rule[0] for rule in rules.active_rules(["platform:rpm", "default"])] == ["openssh-clients"]


@pytest.fixture(scope="module")
def introspected(ee):
    """The context's galaxy step (offline: community.docker and
    community.crypto are already there, from the venv's ansible package),
    then its own introspect.py on what it installed, as the build runs them:
    (collections path, python lines, system lines)."""
    path = ee.base / "usr-share-ansible-collections"
    env = {**ee.env, "ANSIBLE_COLLECTIONS_PATH": str(path)}
    installed = galaxy_install("requirements.yml", path, env=env, cwd=ee.build)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    written = ee.base / "introspected"
    introspect = run(
        "python",
        str(ee.build / "scripts/introspect.py"),
        "introspect",
        str(path),
        "--user-pip=requirements.txt",
        "--user-bindep=bindep.txt",
        f"--write-pip={written / 'requirements.txt'}",
        f"--write-bindep={written / 'bindep.txt'}",
        env=env,
        cwd=ee.build,
    )
    assert introspect.returncode == 0, introspect.stdout + introspect.stderr
    lines = [(written / name).read_text().splitlines() for name in ("requirements.txt", "bindep.txt")]
    return path, *lines


def test_the_galaxy_step_installs_the_collection_from_the_tarball(introspected):
    path = introspected[0]
    installed = path / "ansible_collections/dockerlab/docker"
    assert (installed / "MANIFEST.json").is_file()
    assert (installed / "meta/execution-environment.yml").is_file()
    assert (installed / "roles/docker_access/tasks/main.yml").is_file()


def test_the_introspection_finds_what_meta_execution_environment_lists(introspected):
    _path, python, system = introspected
    assert "cryptography>=3.3  # from collection dockerlab.docker" in python
    assert "openssh-client [platform:dpkg]  # from collection dockerlab.docker" in system
    assert "openssh-clients [platform:rpm]  # from collection dockerlab.docker" in system
    # Nothing of the Docker SDK or the docker CLI: the controller side does not use them.
    assert not [line for line in python + system if line.split()[0] in ("docker", "docker.io", "docker-cli")]


def test_collections_requirements_installs_this_project_as_awx_project_sync_does(tmp_path):
    # AWX runs this from the project's root with ANSIBLE_COLLECTIONS_PATH set
    # to the directory it installs into.
    target = tmp_path / "requirements_collections"
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(target), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    installed = galaxy_install("collections/requirements.yml", target, env=env, cwd=ROOT)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    collection = target / "ansible_collections/dockerlab/docker"
    manifest = json.loads((collection / "MANIFEST.json").read_text())["collection_info"]
    assert manifest["version"] == load(ROOT / "galaxy.yml")["version"]
    assert (collection / "playbooks/site.yml").is_file()
    # galaxy.yml's build_ignore holds: none of the lab, nor collections/ itself.
    for left_out in (
        "collections",
        "tests",
        "molecule",
        ".venv",
        "execution-environment.yml",
        "requirements.txt",
    ):
        assert not (collection / left_out).exists(), left_out


# ---------------------------------------------------------------------------
# A job run by ansible-runner
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A private data directory as AWX lays one out for a job, the PKI
    directory outside it, and run(ident, **extravars): one ansible-runner
    run of the playbook, as an object with rc, status, stdout and stats
    (playbook_on_stats' counts for HOST)."""
    base = tmp_path_factory.mktemp("awx")
    data = base / "private_data_dir"
    for sub in ("project", "inventory", "env"):
        (data / sub).mkdir(parents=True)
    env = clean_env(ANSIBLE_LOCAL_TEMP=str(base / "tmp"))
    tarball = build_tarball(base / "dist", env)
    collections = data / "requirements_collections"
    installed = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", "-p", str(collections), str(tarball)],
        capture_output=True,
        text=True,
        env=env,
        cwd=base,
        timeout=120,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (data / "project" / "docker.yml").write_text(USER_PLAYBOOK)
    (data / "inventory" / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        HOST: {
                            "ansible_connection": "community.docker.docker",
                            "ansible_python_interpreter": "/usr/bin/python3",
                        }
                    },
                    "vars": {
                        "docker_engine_registry_mirrors": ["http://dockerlab-registry:5000"],
                        "docker_access_users": ["student"],
                    },
                }
            }
        )
    )
    # As AWX sets it for a job: the collections its project sync installed
    # first (community.* come from the venv's ansible package here: no Galaxy).
    (data / "env" / "envvars").write_text(yaml.safe_dump({"ANSIBLE_COLLECTIONS_PATH": str(collections)}))
    (data / "env" / "settings").write_text(yaml.safe_dump({"job_timeout": JOB_TIMEOUT}))
    pki = base / "persistent" / "pki"

    def run_job(ident, **extravars):
        # The job template's extra variables: the PKI on a persistent path.
        (data / "env" / "extravars").write_text(
            yaml.safe_dump({"docker_access_pki_dir": str(pki), **extravars})
        )
        done = subprocess.run(
            [str(BIN / "ansible-runner"), "run", str(data), "-p", "docker.yml", "--ident", ident],
            capture_output=True,
            text=True,
            env=env,
            cwd=base,
            timeout=JOB_TIMEOUT + 60,
            check=False,
        )
        artifacts = data / "artifacts" / ident
        if not (artifacts / "rc").is_file():
            pytest.fail(
                f"ansible-runner left no result in {artifacts}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        result = SimpleNamespace(runner=done)
        result.rc = int((artifacts / "rc").read_text())
        result.status = (artifacts / "status").read_text().strip()
        result.stdout = (artifacts / "stdout").read_text()
        events = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
        (stats,) = [e["event_data"] for e in events if e.get("event") == "playbook_on_stats"]
        result.stats = {key: stats.get(key, {}).get(HOST, 0) for key in ("ok", "changed", "failures", "dark")}
        result.task_paths = sorted(
            {
                e["event_data"]["task_path"].rsplit(":", 1)[0]
                for e in events
                if e.get("event") == "runner_on_ok" and e["event_data"].get("task_path")
            }
        )
        result.failed = [
            e["event_data"]
            for e in events
            if e.get("event") == "runner_on_failed" and not e["event_data"].get("ignore_errors")
        ]
        return result

    run_job.data, run_job.pki, run_job.collections = data, pki, collections
    return run_job


def host_state():
    """What a refused run must leave as it was: the TLS files the host
    trusts and serves, the user's bundle, and the daemon's process."""
    files = "/etc/docker/tls/ca.pem /etc/docker/tls/server-cert.pem /home/student/.docker/cert.pem"
    sums = docker("exec", HOST, "sh", "-c", f"sha256sum {files}").stdout
    daemon = docker(
        "exec", HOST, "systemctl", "show", "-p", "MainPID", "-p", "ExecMainStartTimestamp", "docker"
    ).stdout
    return sums, daemon


def tls_ping(bundle):
    """GET /_ping on the host's TLS listener (2376) at its lab network
    address, with a client bundle (ca.pem, cert.pem, key.pem): the reply, or
    why the TLS connection failed."""
    address = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", HOST)
    address = address.stdout.split()[0]
    context = ssl.create_default_context(cafile=str(bundle / "ca.pem"))
    context.load_cert_chain(str(bundle / "cert.pem"), str(bundle / "key.pem"))
    try:
        with (
            socket.create_connection((address, 2376), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=address) as tls,
        ):
            tls.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return tls.recv(4096).decode(errors="replace")
    except OSError as error:  # ssl.SSLError is one
        return f"refused: {error}"


@pytest.fixture(scope="module")
def jobs(job, tmp_path_factory):
    """A fresh lab host with the lab user, and the four jobs on it (first,
    second, lost, regenerate), with what the tests compare: the host's state
    before and after the refused job, what that job left in the emptied PKI
    directory, the CA before and after, and a TLS ping of the daemon with the
    user's bundle from before the CA was lost and with the reissued one. The
    host and its volume are removed afterwards."""
    try:
        made = create_lab_host(tmp_path_factory.mktemp("setup"), HOST, "dockerlab/labhost:bookworm")
        assert made.returncode == 0, made.stdout + made.stderr
        docker("exec", HOST, "useradd", "--create-home", "--shell", "/bin/bash", "student")
        runs = {"first": job("first")}
        assert runs["first"].rc == 0, runs["first"].stdout[-4000:] + runs["first"].runner.stderr[-2000:]
        runs["second"] = job("second")
        old_ca = (job.pki / "ca.pem").read_bytes()
        before = host_state()
        # The bundle the user was given, to try after the CA is reissued.
        old_bundle = shutil.copytree(
            job.pki / "users" / "student", tmp_path_factory.mktemp("old-bundle") / "b"
        )
        # The CA lost: the persistent PKI directory is there but empty.
        for entry in job.pki.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        runs["lost"] = job("lost")
        after = host_state()
        left_in_pki = sorted(p.name for p in job.pki.iterdir())
        runs["regenerate"] = job("regenerate", docker_access_ca_regenerate=True)
        host_ca = docker("exec", HOST, "cat", "/etc/docker/tls/ca.pem").stdout
        user_ca = docker("exec", HOST, "cat", "/home/student/.docker/ca.pem").stdout
        pings = {"old": tls_ping(old_bundle), "new": tls_ping(job.pki / "users" / "student")}
        yield {
            "runs": runs,
            "before": before,
            "after": after,
            "left_in_pki": left_in_pki,
            "old_ca": old_ca,
            "host_ca": host_ca,
            "user_ca": user_ca,
            "pings": pings,
        }
    finally:
        remove_lab_host(HOST)


@needs_engine
def test_a_job_converges_the_lab_host_with_the_roles_by_full_name(jobs, job):
    first = jobs["runs"]["first"]
    assert (first.rc, first.status) == (0, "successful"), first.stdout[-4000:]
    assert first.stats["changed"] > 0
    assert first.stats["failures"] == first.stats["dark"] == 0
    # The roles' tasks ran from the collection installed in the job's
    # collections path, not from this checkout.
    installed = str(job.collections / "ansible_collections" / "dockerlab" / "docker" / "roles") + "/"
    playbook = str(job.data / "project" / "docker.yml")
    assert [path for path in first.task_paths if path.startswith(installed)]
    assert all(path.startswith(installed) or path == playbook for path in first.task_paths), first.task_paths
    page = docker("exec", HOST, "curl", "--silent", "--max-time", "5", "http://127.0.0.1:1337/", check=False)
    assert page.stdout.strip() == "Hello World!"
    # The CA and the bundles are in the persistent PKI directory, outside the job's.
    assert (job.pki / "ca.pem").is_file()
    assert (job.pki / "users" / "student" / "cert.pem").is_file()
    assert not list(job.data.rglob("ca-key.pem"))


@needs_engine
def test_a_second_job_reports_nothing_changed(jobs):
    second = jobs["runs"]["second"]
    assert (second.rc, second.status) == (0, "successful"), second.stdout[-4000:]
    assert second.stats == {**second.stats, "changed": 0, "failures": 0, "dark": 0}
    assert second.stats["ok"] > 0


@needs_engine
def test_a_job_that_lost_the_ca_is_refused_and_changes_nothing(jobs):
    lost = jobs["runs"]["lost"]
    assert lost.rc != 0
    assert lost.status == "failed"
    assert lost.stats["failures"] == 1
    assert lost.stats["changed"] == 0
    text = " ".join(lost.stdout.split())
    assert (
        "is missing on the controller, but dockerlab-test-awx trusts a CA (/etc/docker/tls/ca.pem)" in text
    ), text[-3000:]
    assert "set docker_access_ca_regenerate: true to issue a new CA and new bundles" in text
    (failed,) = lost.failed
    assert "A new CA would break every client bundle issued so far" in failed["res"]["msg"]
    # Nothing changed on the host, and no new CA was made on the controller.
    assert jobs["after"] == jobs["before"]
    assert jobs["left_in_pki"] == []


@needs_engine
def test_a_job_with_ca_regenerate_reissues_the_ca_the_host_then_trusts(jobs, job):
    regenerate = jobs["runs"]["regenerate"]
    assert (regenerate.rc, regenerate.status) == (0, "successful"), regenerate.stdout[-4000:]
    assert regenerate.stats["changed"] > 0
    new_ca = (job.pki / "ca.pem").read_text()
    assert new_ca.encode() != jobs["old_ca"]
    assert jobs["host_ca"] == new_ca
    assert jobs["user_ca"] == new_ca
    # The new bundle reaches the daemon; the one handed out before does not.
    assert jobs["pings"]["new"].startswith("HTTP/1.0 200 OK"), jobs["pings"]
    assert jobs["pings"]["new"].endswith("OK")
    assert jobs["pings"]["old"].startswith("refused: "), jobs["pings"]

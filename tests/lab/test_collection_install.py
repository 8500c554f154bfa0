"""The collection as a user gets it: built with ansible-galaxy, installed
from the tarball into an empty collections path, and used from a playbook
of the user's own, in a directory outside this repository and without its
ansible.cfg: the roles by their full names converge a real lab host, a
second run changes nothing, each role works alone where it can
(docker_engine, docker_audit, flask_app on a host whose Docker another play
installed) and docker_access alone is refused naming docker_engine, the
collection's own playbooks are found by name, and ansible-doc shows every
module, filter, lookup and role.

This needs the lab's Docker engine, images and registry, which `make test`
sets up before it runs these; it is skipped where no engine answers.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from labtools import BIN, ROOT, USER_PLAYBOOK, create_lab_host, docker, engine_has, remove_lab_host

pytestmark = pytest.mark.skipif(
    not engine_has("dockerlab/labhost:bookworm"),
    reason="needs the lab's Docker engine, images and registry (make test sets them up first)",
)

HOST = "dockerlab-test-install"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def plugins(kind):
    """The names of the collection's plugins of one kind, from its tree."""
    return sorted(p.stem for p in (ROOT / "plugins" / kind).glob("*.py") if not p.stem.startswith("_"))


def roles():
    return sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/main.yml"))


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A user's own directory with the collection installed from its tarball:
    run(tool, *args) runs an Ansible command there, with nothing of this
    repository's configuration (no ANSIBLE_* variable, no ansible.cfg)."""
    base = tmp_path_factory.mktemp("user")
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '')}",
        ANSIBLE_COLLECTIONS_PATH=str(base / "collections"),
        ANSIBLE_LOCAL_TEMP=str(base / "tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    work = base / "work"
    work.mkdir()

    def run(tool, *args, timeout=600):
        return subprocess.run(
            [str(BIN / tool), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=work,
            timeout=timeout,
            check=False,
        )

    built = run("ansible-galaxy", "collection", "build", "--output-path", str(base / "dist"), str(ROOT))
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = next((base / "dist").glob("dockerlab-docker-*.tar.gz"))
    installed = run("ansible-galaxy", "collection", "install", "-p", str(base / "collections"), str(tarball))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    run.base, run.work, run.tarball = base, work, tarball
    return run


def test_the_tarball_holds_the_content_and_nothing_of_the_lab(user):
    listing = subprocess.run(
        ["tar", "-tzf", str(user.tarball)], capture_output=True, text=True, check=True
    ).stdout.split()
    for path in ("MANIFEST.json", "FILES.json", "meta/runtime.yml", "LICENSE", "CHANGELOG.md", "README.md"):
        assert path in listing, path
    assert "playbooks/site.yml" in listing
    assert {f"plugins/modules/{name}.py" for name in plugins("modules")} <= set(listing)
    assert {f"roles/{name}/meta/argument_specs.yml" for name in roles()} <= set(listing)
    for left_out in ("molecule/", "tests/", "bench/", ".venv/", ".lab/", "inventory/lab/", ".ansible/"):
        assert not [path for path in listing if path.startswith(left_out)], left_out


def test_ansible_doc_shows_every_module_filter_lookup_and_role(user):
    listed = user("ansible-doc", "--list", "dockerlab.docker")
    assert listed.returncode == 0, listed.stderr
    for name in plugins("modules"):
        assert f"dockerlab.docker.{name}" in listed.stdout
    for kind, doc_type in (("modules", "module"), ("filter", "filter"), ("lookup", "lookup")):
        for name in plugins(kind):
            shown = user("ansible-doc", "-t", doc_type, f"dockerlab.docker.{name}")
            assert shown.returncode == 0, shown.stderr
            assert f"dockerlab.docker.{name}" in shown.stdout
    for name in roles():
        shown = user("ansible-doc", "-t", "role", f"dockerlab.docker.{name}")
        assert shown.returncode == 0, shown.stderr
        assert re.search(r"ENTRY POINT: \*?main\*? - ", shown.stdout), shown.stdout[:500]


def test_the_collection_playbooks_are_found_by_name(user):
    for name in ("site", "channels", "audit"):
        checked = user("ansible-playbook", "-i", "localhost,", "--syntax-check", f"dockerlab.docker.{name}")
        assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.fixture(scope="module")
def converged(user, tmp_path_factory):
    """A fresh lab host with the lab user, converged twice by the user's
    playbook; the host and its volume are removed afterwards."""
    try:
        made = create_lab_host(tmp_path_factory.mktemp("setup"), HOST, "dockerlab/labhost:bookworm")
        assert made.returncode == 0, made.stdout + made.stderr
        docker("exec", HOST, "useradd", "--create-home", "--shell", "/bin/bash", "student")
        inventory = user.work / "hosts.yml"
        inventory.write_text(
            "all:\n"
            "  hosts:\n"
            f"    {HOST}:\n"
            "      ansible_connection: community.docker.docker\n"
            "      ansible_python_interpreter: /usr/bin/python3\n"
            "  vars:\n"
            "    docker_engine_registry_mirrors: ['http://dockerlab-registry:5000']\n"
            "    docker_access_users: [student]\n"
            f"    docker_access_pki_dir: {user.base / 'pki'}\n"
        )
        (user.work / "docker.yml").write_text(USER_PLAYBOOK)
        runs = [user("ansible-playbook", "-i", "hosts.yml", "docker.yml") for _run in range(2)]
        yield runs
    finally:
        remove_lab_host(HOST)


def recap(run):
    found = {m.group(1): tuple(int(g) for g in m.groups()[1:]) for m in RECAP.finditer(run.stdout)}
    assert HOST in found, run.stdout[-3000:] + run.stderr[-2000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), found[HOST], strict=True))


def test_a_users_playbook_converges_a_lab_host_with_the_roles_by_full_name(converged):
    first = converged[0]
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert recap(first)["changed"] > 0
    # What the roles did is there: the app answers on the host, the daemon listens with TLS.
    page = docker("exec", HOST, "curl", "--silent", "--max-time", "5", "http://127.0.0.1:1337/", check=False)
    assert page.stdout.strip() == "Hello World!"
    listener = docker("exec", HOST, "systemctl", "cat", "docker.service", check=False)
    assert "--tlsverify" in listener.stdout


def test_a_second_run_of_the_users_playbook_changes_nothing(converged):
    second = converged[1]
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert recap(second) == {**recap(second), "changed": 0, "failed": 0, "unreachable": 0}


def play(*roles, **variables):
    """A user's playbook of the given roles, with play variables."""
    lines = ["- name: One role of the collection", "  hosts: all", "  gather_facts: false"]
    if variables:
        lines.append("  vars:")
        lines += [f"    {key}: {value!r}" for key, value in variables.items()]
    lines.append("  roles:")
    lines += [f"    - dockerlab.docker.{role}" for role in roles]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def alone(user, converged):
    """Each role on its own, in a play of its own, on the converged host:
    {case: CompletedProcess}."""
    cases = {
        "engine": play("docker_engine"),
        "audit": play(
            "docker_audit", docker_audit_fail_on="none", docker_audit_report_dir=str(user.base / "audit")
        ),
        "flask": play("flask_app", flask_app_name="flaskapp-alone", flask_app_host_port=1341),
        "flask-again": play("flask_app", flask_app_name="flaskapp-alone", flask_app_host_port=1341),
        "access": play("docker_access"),
    }
    runs = {}
    for case, text in cases.items():
        (user.work / f"{case}.yml").write_text(text)
        runs[case] = user("ansible-playbook", "-i", "hosts.yml", f"{case}.yml")
    return runs


def test_docker_engine_alone_finds_the_host_as_wanted(alone):
    run = alone["engine"]
    assert run.returncode == 0, run.stdout[-3000:]
    assert recap(run)["changed"] == 0


def test_docker_audit_alone_audits_the_host(user, alone):
    run = alone["audit"]
    assert run.returncode == 0, run.stdout[-3000:]
    report = json.loads((user.base / "audit" / f"{HOST}.json").read_text())
    assert report["host"] == HOST
    assert report["daemon"]["reachable"] is True


def test_flask_app_alone_reads_the_host_itself_and_runs_its_container(alone):
    first, again = alone["flask"], alone["flask-again"]
    assert first.returncode == 0, first.stdout[-3000:]
    assert "Read the host in one call" in first.stdout
    page = docker("exec", HOST, "curl", "--silent", "--max-time", "5", "http://127.0.0.1:1341/", check=False)
    assert page.stdout.strip() == "Hello World!"
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap(again)["changed"] == 0


def test_docker_access_alone_is_refused_naming_docker_engine(alone):
    run = alone["access"]
    assert run.returncode != 0
    text = " ".join(run.stdout.split())
    assert "docker_access needs the docker_engine role earlier in the same play" in text, text[-2000:]
    assert "dockerlab.docker.docker_engine" in text


def test_the_users_runs_used_the_installed_collection_not_this_checkout(user, converged):
    # Nothing of the user's run names this repository.
    for run in converged:
        assert str(ROOT) not in run.stdout + run.stderr
    installed = Path(user.base / "collections" / "ansible_collections" / "dockerlab" / "docker")
    assert (installed / "MANIFEST.json").is_file()

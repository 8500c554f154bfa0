"""The roles stand alone: none reads another role's private variables or
registered results (a name starting with _<other role>_), and the only
names a role shares with the others are documented contracts: its public
variables, its host read request (<role>_host_read_request), the host
read's facts and the handler docker_engine_restart."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "main.yml").is_file())
PRIVATE = re.compile(r"\b_(" + "|".join(ROLES) + r")_[a-z0-9_]+")


COMMENT = re.compile(r"(^|\s)#.*$", re.M)


def role_texts(role):
    """{path: text without comments} of the role's task, handler, vars,
    defaults and template files: what Ansible evaluates, not what the
    comments explain."""
    base = ROOT / "roles" / role
    return {
        path: COMMENT.sub("", path.read_text(encoding="utf-8"))
        for path in sorted(base.rglob("*"))
        if path.is_file() and path.suffix in (".yml", ".j2") and path.parts[-2] != "meta"
    }


def test_there_are_roles_to_check():
    assert {"docker_engine", "docker_access", "flask_app", "breakout_lab"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_no_role_reads_another_roles_private_names(role):
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path, text in role_texts(role).items()
        for match in PRIVATE.finditer(text)
        if match.group(1) != role
    ]
    assert found == []


@pytest.mark.parametrize("role", ROLES)
def test_a_role_reads_no_other_roles_public_variables_but_its_request(role):
    """Another role's public variables are its users' settings: a role may
    only name another's host read request, which is the shared contract."""
    others = [other for other in ROLES if other != role]
    pattern = re.compile(r"\b(" + "|".join(others) + r")_[a-z0-9_]+")
    found = sorted(
        {
            f"{path.relative_to(ROOT)}: {match.group(0)}"
            for path, text in role_texts(role).items()
            for match in pattern.finditer(text)
            if not match.group(0).endswith("_host_read_request")
            # docker_engine's handler topic is its documented interface.
            and match.group(0) != "docker_engine_restart"
        }
    )
    assert found == []


@pytest.mark.parametrize("role", ["docker_engine", "docker_access", "flask_app", "breakout_lab"])
def test_each_role_that_decides_on_the_host_read_declares_its_request(role):
    text = (ROOT / "roles" / role / "vars" / "main.yml").read_text(encoding="utf-8")
    assert re.search(rf"^{role}_host_read_request:$", text, re.M)

"""The documentation of the roles' filters (roles/*/filter_plugins): every
filter that a FilterModule exposes has its own ``<name>.yml`` beside the
file, with DOCUMENTATION, EXAMPLES and RETURN in valid YAML and its own name
and options; no such file documents a filter that is not exposed; and
``ansible-doc`` gives each filter its own documentation.

A filter file holds one DOCUMENTATION at most, and ansible-doc shows it for
every filter of the file (and ignores the sidecars then); a sidecar per
filter is what gives each filter its own.
"""

import inspect
import json

import ansible_cli
import pytest
import role_filters
import yaml

ROLES = ("docker_engine", "docker_access", "flask_app")
DOC_KEYS = ("DOCUMENTATION", "EXAMPLES", "RETURN")
# The extensions ansible-doc looks for beside a filter file.
SIDECAR_SUFFIXES = (".yml", ".yaml")


def _exposed(role):
    """{filter name: function} of every FilterModule in the role's filter_plugins."""
    found = {}
    for path in sorted(role_filters.plugins_dir(role).glob("*.py")):
        for name, function in role_filters.load(role, path.stem).FilterModule().filters().items():
            assert name not in found, f"{role}: {name} is exposed twice"
            found[name] = function
    return found


EXPOSED = {role: _exposed(role) for role in ROLES}
FILTERS = [(role, name) for role in ROLES for name in sorted(EXPOSED[role])]


def _sidecar(role, name):
    """The parsed ``<name>.yml`` of the filter, its three keys checked."""
    path = role_filters.plugins_dir(role) / f"{name}.yml"
    assert path.is_file(), f"{role}: filter {name} has no {path.name}"
    try:
        docs = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        pytest.fail(f"{path} is not valid YAML: {exc}")
    assert isinstance(docs, dict), f"{path} is not a mapping"
    assert sorted(docs) == sorted(DOC_KEYS), f"{path}: keys {sorted(docs)}"
    assert isinstance(docs["DOCUMENTATION"], dict), f"{path}: DOCUMENTATION is not a mapping"
    assert isinstance(docs["RETURN"], dict), f"{path}: RETURN is not a mapping"
    assert isinstance(docs["EXAMPLES"], str), f"{path}: EXAMPLES is not a string"
    try:
        yaml.safe_load(docs["EXAMPLES"])
    except yaml.YAMLError as exc:
        pytest.fail(f"{path}: EXAMPLES is not valid YAML: {exc}")
    return docs


def test_every_role_exposes_filters():
    for role in ROLES:
        assert EXPOSED[role], f"{role}: no filter found in {role_filters.plugins_dir(role)}"


@pytest.mark.parametrize(("role", "name"), FILTERS)
def test_each_filter_has_its_own_sidecar(role, name):
    docs = _sidecar(role, name)
    documentation = docs["DOCUMENTATION"]
    assert documentation.get("name") == name
    assert isinstance(documentation.get("short_description"), str)
    assert documentation["short_description"].strip(), f"{name}: empty short_description"
    assert "_value" in docs["RETURN"], f"{name}: RETURN has no _value"


@pytest.mark.parametrize(("role", "name"), FILTERS)
def test_documented_options_are_the_arguments(role, name):
    """_input is the first argument; the others are the positional options,
    in their order, required where they have no default."""
    documentation = _sidecar(role, name)["DOCUMENTATION"]
    arguments = list(inspect.signature(EXPOSED[role][name]).parameters.values())[1:]
    options = documentation.get("options") or {}
    assert sorted(options) == sorted(["_input", *(argument.name for argument in arguments)])
    assert options["_input"].get("required") is True, f"{name}: _input is not required"
    positional = [item.strip() for item in str(documentation.get("positional") or "").split(",") if item]
    assert positional == [argument.name for argument in arguments]
    for argument in arguments:
        required = argument.default is inspect.Parameter.empty
        assert bool(options[argument.name].get("required")) is required, f"{name}: {argument.name}"


@pytest.mark.parametrize("role", ROLES)
def test_no_sidecar_without_a_filter(role):
    orphans = sorted(
        path.name
        for path in role_filters.plugins_dir(role).iterdir()
        if path.suffix in SIDECAR_SUFFIXES and path.stem not in EXPOSED[role]
    )
    assert not orphans, f"{role}: documentation for filters that are not exposed: {orphans}"


@pytest.mark.parametrize("role", ROLES)
def test_no_filter_file_has_documentation(role):
    """A DOCUMENTATION in the .py would hide the sidecars of its filters."""
    for path in role_filters.plugins_dir(role).glob("*.py"):
        assert not hasattr(role_filters.load(role, path.stem), "DOCUMENTATION"), f"{path} has a DOCUMENTATION"


@pytest.fixture(scope="module")
def ansible_doc(tmp_path_factory):
    """``ansible-doc --json -t filter`` of a role's filters, run once per role."""
    answers = {}

    def of(role):
        if role not in answers:
            done = ansible_cli.run(
                "ansible-doc",
                ["--json", "-t", "filter", *sorted(EXPOSED[role])],
                temp=tmp_path_factory.mktemp("ansible-tmp"),
                filter_plugins=role_filters.plugins_dir(role),
            )
            assert done.returncode == 0, done.stdout + done.stderr
            try:
                answers[role] = json.loads(done.stdout)
            except ValueError:
                pytest.fail(f"ansible-doc printed no JSON:\n{done.stdout}\n{done.stderr}")
        return answers[role]

    return of


@pytest.mark.parametrize(("role", "name"), FILTERS)
def test_ansible_doc_shows_each_filter_its_own_documentation(ansible_doc, role, name):
    answer = ansible_doc(role)
    assert name in answer, f"ansible-doc did not document {name}: {sorted(answer)}"
    doc = answer[name].get("doc") or {}
    assert doc.get("name") == name
    assert doc.get("short_description") == _sidecar(role, name)["DOCUMENTATION"]["short_description"]

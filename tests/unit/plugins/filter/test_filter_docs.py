"""The documentation of the collection's filters (plugins/filter): each file
exposes one filter, named as the file, and documents it in its own
DOCUMENTATION, EXAMPLES and RETURN (valid YAML, its own name and options);
no ``.yml`` sidecar is left beside them nor any filter_plugins in a role;
and ``ansible-doc`` gives each filter its own documentation under
``dockerlab.docker.NAME``.

A filter file holds one DOCUMENTATION at most, and ansible-doc shows it for
every filter of the file: one filter per file is what gives each filter its
own.
"""

import importlib
import inspect
import json

import pytest
import yaml
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli

COLLECTION = "dockerlab.docker"
FILTER_DIR = ansible_cli.ROOT / "plugins" / "filter"
ROLES = ("docker_engine", "docker_access", "flask_app")
DOC_STRINGS = ("DOCUMENTATION", "EXAMPLES", "RETURN")
# The extensions ansible-doc looks for beside a filter file.
SIDECAR_SUFFIXES = (".yml", ".yaml")


def _load(stem):
    return importlib.import_module(f"ansible_collections.{COLLECTION}.plugins.filter.{stem}")


def _exposed():
    """{filter name: (file stem, function)} of every FilterModule in plugins/filter."""
    found = {}
    for path in sorted(FILTER_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for name, function in _load(path.stem).FilterModule().filters().items():
            assert name not in found, f"{name} is exposed twice"
            found[name] = (path.stem, function)
    return found


EXPOSED = _exposed()
FILTERS = sorted(EXPOSED)


def _docs(name):
    """DOCUMENTATION, EXAMPLES and RETURN of the filter's file, parsed."""
    stem = EXPOSED[name][0]
    module = _load(stem)
    docs = {}
    for key in DOC_STRINGS:
        text = getattr(module, key, None)
        assert isinstance(text, str), f"{stem}.py: {key} is not a string"
        try:
            docs[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            pytest.fail(f"{stem}.py: {key} is not valid YAML: {exc}")
    assert isinstance(docs["DOCUMENTATION"], dict), f"{stem}.py: DOCUMENTATION is not a mapping"
    assert isinstance(docs["RETURN"], dict), f"{stem}.py: RETURN is not a mapping"
    return docs


def test_the_collection_exposes_its_seven_filters():
    assert FILTERS == [
        "access_checks",
        "access_plan",
        "certs_revoked",
        "certs_to_issue",
        "channel_rows",
        "engine_plan",
        "flask_plan",
    ]


@pytest.mark.parametrize("name", FILTERS)
def test_each_filter_is_alone_in_a_file_of_its_name(name):
    stem, function = EXPOSED[name]
    assert stem == name
    assert list(_load(stem).FilterModule().filters()) == [name]
    assert callable(function)


@pytest.mark.parametrize("name", FILTERS)
def test_each_filter_is_documented_in_its_own_file(name):
    docs = _docs(name)
    documentation = docs["DOCUMENTATION"]
    assert documentation.get("name") == name
    assert isinstance(documentation.get("short_description"), str)
    assert documentation["short_description"].strip(), f"{name}: empty short_description"
    assert "_value" in docs["RETURN"], f"{name}: RETURN has no _value"
    assert docs["EXAMPLES"], f"{name}: EXAMPLES is empty"
    examples = _load(EXPOSED[name][0]).EXAMPLES
    assert f"{COLLECTION}.{name}(" in examples, f"{name}: EXAMPLES do not call it by its FQCN"


@pytest.mark.parametrize("name", FILTERS)
def test_documented_options_are_the_arguments(name):
    """_input is the first argument; the others are the positional options,
    in their order, required where they have no default."""
    documentation = _docs(name)["DOCUMENTATION"]
    arguments = list(inspect.signature(EXPOSED[name][1]).parameters.values())[1:]
    options = documentation.get("options") or {}
    assert sorted(options) == sorted(["_input", *(argument.name for argument in arguments)])
    assert options["_input"].get("required") is True, f"{name}: _input is not required"
    positional = [item.strip() for item in str(documentation.get("positional") or "").split(",") if item]
    assert positional == [argument.name for argument in arguments]
    for argument in arguments:
        required = argument.default is inspect.Parameter.empty
        assert bool(options[argument.name].get("required")) is required, f"{name}: {argument.name}"


def test_no_sidecar_beside_the_filter_files():
    """A ``<name>.yml`` would be read instead of the file's documentation."""
    sidecars = sorted(path.name for path in FILTER_DIR.iterdir() if path.suffix in SIDECAR_SUFFIXES)
    assert not sidecars, f"documentation beside the filter files: {sidecars}"


@pytest.mark.parametrize("role", ROLES)
def test_no_role_has_filter_plugins_of_its_own(role):
    """The roles' filters are the collection's now, found by their FQCN."""
    directory = ansible_cli.ROOT / "roles" / role / "filter_plugins"
    assert not directory.exists(), f"{directory} is back: the filters live in plugins/filter"


@pytest.fixture(scope="module")
def ansible_doc(tmp_path_factory):
    """``ansible-doc --json -t filter`` of every filter by its FQCN, run once."""
    done = ansible_cli.run(
        "ansible-doc",
        ["--json", "-t", "filter", *(f"{COLLECTION}.{name}" for name in FILTERS)],
        temp=tmp_path_factory.mktemp("ansible-tmp"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        return json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"ansible-doc printed no JSON:\n{done.stdout}\n{done.stderr}")


@pytest.mark.parametrize("name", FILTERS)
def test_ansible_doc_shows_each_filter_its_own_documentation(ansible_doc, name):
    fqcn = f"{COLLECTION}.{name}"
    assert fqcn in ansible_doc, f"ansible-doc did not document {fqcn}: {sorted(ansible_doc)}"
    doc = ansible_doc[fqcn].get("doc") or {}
    assert doc.get("name") == name
    assert doc.get("short_description") == _docs(name)["DOCUMENTATION"]["short_description"]
    assert sorted(doc.get("options") or {}) == sorted(_docs(name)["DOCUMENTATION"]["options"])

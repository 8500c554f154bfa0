"""The documentation of every module in plugins/modules/: DOCUMENTATION,
EXAMPLES and RETURN are valid YAML, the documented options are the
``argument_spec`` of ``main()`` (names, and type, elements, default, choices
and required where either side gives them, suboptions included), and
``ansible-doc`` renders every module under its FQCN (``dockerlab.docker.NAME``).

The strings and the argument spec are read from the source with ``ast``; no
module is imported, so a module whose imports fail still has its
documentation checked. A default the spec takes from this collection's
module_utils (``DEFAULT_PATH``) is read from that file's source the same way.
"""

import ast
import json
from pathlib import Path

import pytest
import yaml
from ansible_collections.dockerlab.docker.tests.unit import ansible_cli

# The collection's root (the checkout, or ansible-test's copy).
ROOT = Path(__file__).resolve().parents[4]
LIBRARY = ROOT / "plugins" / "modules"
MODULE_UTILS = ROOT / "plugins" / "module_utils"
COLLECTION = "dockerlab.docker"
MODULE_UTILS_PACKAGE = f"ansible_collections.{COLLECTION}.plugins.module_utils"
MODULES = sorted(path.stem for path in LIBRARY.glob("*.py") if not path.name.startswith("_"))
DOC_STRINGS = ("DOCUMENTATION", "EXAMPLES", "RETURN")
# What an option means when it does not say: AnsibleModule's defaults, which
# are also the documentation's.
IMPLIED = {"type": "str", "elements": None, "default": None, "choices": None, "required": False}


def _tree(module, directory=LIBRARY):
    path = directory / f"{module}.py"
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _doc_strings(module):
    """{name: text} of the module-level DOCUMENTATION, EXAMPLES and RETURN."""
    found = {}
    for node in _tree(module).body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id in DOC_STRINGS:
                literal = isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                assert literal, f"{module}: {target.id} must be a string literal"
                found[target.id] = node.value.value
    return found


def _parsed(module, name):
    text = _doc_strings(module).get(name)
    assert text is not None, f"{module} has no {name}"
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        pytest.fail(f"{module}: {name} is not valid YAML: {exc}")


def _assignments(body):
    """{name: value node} of the plain ``name = value`` statements in ``body``."""
    values = {}
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            values[node.target.id] = node.value
    return values


def _evaluate(node, names, module):
    """The value of a literal, resolving names bound in ``names`` and
    accepting ``dict(key=...)`` and ``{**other, ...}`` as well as literals."""
    if isinstance(node, ast.Name):
        if node.id in names:
            return _evaluate(names[node.id], names, module)
        pytest.fail(f"{module}: cannot resolve {node.id!r} in the argument spec")
    if isinstance(node, ast.Dict):
        value = {}
        for key, item in zip(node.keys, node.values, strict=True):
            if key is None:  # {**other}
                value.update(_evaluate(item, names, module))
            else:
                value[_evaluate(key, names, module)] = _evaluate(item, names, module)
        return value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        value = {}
        for arg in node.args:
            value.update(_evaluate(arg, names, module))
        for keyword in node.keywords:
            if keyword.arg is None:  # dict(**other)
                value.update(_evaluate(keyword.value, names, module))
            else:
                value[keyword.arg] = _evaluate(keyword.value, names, module)
        return value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [_evaluate(item, names, module) for item in node.elts]
    try:
        return ast.literal_eval(node)
    except ValueError:
        pytest.fail(f"{module}: the argument spec is not a literal: {ast.unparse(node)}")


def _is_ansible_module(call):
    func = call.func
    return (isinstance(func, ast.Name) and func.id == "AnsibleModule") or (
        isinstance(func, ast.Attribute) and func.attr == "AnsibleModule"
    )


def _imported(tree):
    """{name: value node} of the names the module imports from this
    collection's module_utils, bound as they are in those files."""
    values = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(MODULE_UTILS_PACKAGE + "."):
            source = _assignments(_tree(node.module.rpartition(".")[2], MODULE_UTILS).body)
            for alias in node.names:
                if alias.name in source:
                    values[alias.asname or alias.name] = source[alias.name]
    return values


def _argument_spec(module):
    """The ``argument_spec=`` given to AnsibleModule in ``main()`` (or, if
    main() delegates, anywhere in the module), as a dict."""
    tree = _tree(module)
    module_names = {**_imported(tree), **_assignments(tree.body)}
    mains = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"]
    assert mains, f"{module} has no main()"
    main_names = {**module_names, **_assignments(mains[0].body)}
    for scope, names in ((mains[0], main_names), (tree, module_names)):
        for node in ast.walk(scope):
            if not (isinstance(node, ast.Call) and _is_ansible_module(node)):
                continue
            for keyword in node.keywords:
                if keyword.arg == "argument_spec":
                    return _evaluate(keyword.value, names, module)
            if node.args:  # AnsibleModule(spec, ...): the first positional argument
                return _evaluate(node.args[0], names, module)
    pytest.fail(f"{module}: no AnsibleModule(argument_spec=...) found")


def _differences(documented, spec, where):
    """Human-readable differences between documented options and a spec."""
    problems = []
    documented = documented or {}
    spec = spec or {}
    for name in sorted(set(documented) - set(spec)):
        problems.append(f"{where}{name}: documented but not in the argument spec")
    for name in sorted(set(spec) - set(documented)):
        problems.append(f"{where}{name}: in the argument spec but not documented")
    for name in sorted(set(documented) & set(spec)):
        doc, code = documented[name] or {}, spec[name] or {}
        for key, implied in IMPLIED.items():
            doc_value, code_value = doc.get(key, implied), code.get(key, implied)
            if doc_value != code_value:
                problems.append(
                    f"{where}{name}: {key} is {doc_value!r} in the documentation, {code_value!r} in the code"
                )
        if doc.get("suboptions") or code.get("options"):
            problems += _differences(doc.get("suboptions"), code.get("options"), f"{where}{name}.")
    return problems


def test_there_are_modules():
    assert MODULES, f"no modules in {LIBRARY}"


@pytest.mark.parametrize("module", MODULES)
def test_documentation_is_yaml(module):
    doc = _parsed(module, "DOCUMENTATION")
    assert isinstance(doc, dict), f"{module}: DOCUMENTATION is not a mapping"
    assert doc.get("module") == module, f"{module}: DOCUMENTATION names module {doc.get('module')!r}"
    assert isinstance(doc.get("short_description"), str), f"{module}: no short_description"
    assert doc["short_description"].strip(), f"{module}: empty short_description"
    assert isinstance(doc.get("options", {}), dict), f"{module}: options is not a mapping"


@pytest.mark.parametrize("module", MODULES)
def test_examples_are_yaml(module):
    examples = _parsed(module, "EXAMPLES")
    assert isinstance(examples, list), f"{module}: EXAMPLES is not a list of tasks"
    assert examples, f"{module}: EXAMPLES is empty"
    assert all(isinstance(task, dict) for task in examples), f"{module}: an example is not a task"
    assert any(f"{COLLECTION}.{module}" in task for task in examples), f"{module}: no example calls it"
    assert not any(module in task for task in examples), f"{module}: an example calls it without its FQCN"


@pytest.mark.parametrize("module", MODULES)
def test_return_is_yaml(module):
    returned = _parsed(module, "RETURN")
    assert returned is None or isinstance(returned, dict), f"{module}: RETURN is not a mapping"


@pytest.mark.parametrize("module", MODULES)
def test_documented_options_are_the_argument_spec(module):
    documented = _parsed(module, "DOCUMENTATION").get("options") or {}
    spec = _argument_spec(module)
    assert sorted(documented) == sorted(spec)
    problems = _differences(documented, spec, "")
    assert not problems, f"{module}:\n" + "\n".join(problems)


@pytest.fixture(scope="module")
def ansible_doc(tmp_path_factory):
    """``ansible-doc --json`` of every module, by its FQCN, run once."""
    done = ansible_cli.run(
        "ansible-doc",
        ["--json", *(f"{COLLECTION}.{module}" for module in MODULES)],
        temp=tmp_path_factory.mktemp("ansible-tmp"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        return json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"ansible-doc printed no JSON:\n{done.stdout}\n{done.stderr}")


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders_the_module(ansible_doc, module):
    name = f"{COLLECTION}.{module}"
    assert name in ansible_doc, f"ansible-doc did not document {name}: {sorted(ansible_doc)}"
    doc = ansible_doc[name].get("doc") or {}
    assert isinstance(doc.get("short_description"), str), f"{module}: no short_description"
    assert doc["short_description"].strip(), f"{module}: empty short_description"

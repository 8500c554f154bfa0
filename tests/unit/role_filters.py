"""The roles' filter plugin files, loaded for the unit tests as Ansible loads
them: by path, each file a module of its own (they are not a package)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def plugins_dir(role):
    """roles/ROLE/filter_plugins."""
    return ROOT / "roles" / role / "filter_plugins"


def load(role, name):
    """The module of roles/ROLE/filter_plugins/NAME.py."""
    spec = importlib.util.spec_from_file_location(name, plugins_dir(role) / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

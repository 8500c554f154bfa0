# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: argument_errors
short_description: The errors validate_argument_spec would report for the current host
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
description:
  - Takes role names, reads the options of one entry point from each role's
    C(meta/argument_specs.yml), merges them in order, takes the current
    host's variables of those names, templated, and returns the messages of
    the validator M(ansible.builtin.validate_argument_spec) uses, in the
    same mode. An empty list means that action would pass.
  - A plain name is a role of this collection (dockerlab.docker); a path
    (with a C(/)) is a role directory anywhere.
  - Meant for the C(when) of a meta task, which the controller evaluates
    without forking a worker. The playbook C(dockerlab.docker.site) checks the
    variables of its four roles this way before any host changes, and stops
    the hosts with errors with the messages.
  - M(ansible.builtin.validate_argument_spec) does the same in a worker forked
    for each host, and on ansible-core 2.19 it is slow there (it deep-copies
    the values, and a lazy list or dict copies every variable of the host
    with it, about 17 ms per list); this lookup runs the same validator on
    plain copies of the same values.
options:
  _terms:
    description: Role names (of this collection) or role directories.
    type: list
    elements: str
    required: true
  entry_point:
    description: The entry point of each role whose options are checked.
    type: str
    default: main
"""

EXAMPLES = r"""
- name: End the play here for hosts whose values match the roles' specs
  ansible.builtin.meta: end_host
  when: query('dockerlab.docker.argument_errors', 'docker_engine', 'flask_app') | length == 0

- name: Refuse the values that do not match
  ansible.builtin.fail:
    msg: "{{ query('dockerlab.docker.argument_errors', 'docker_engine', 'flask_app') | join(' ') }}"
"""

RETURN = r"""
_raw:
  description: One message per error, as validate_argument_spec words it.
  type: list
  elements: str
"""

import copy
import os
from collections.abc import Mapping

import yaml
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.lookup import LookupBase

# This collection's roles: plugins/lookup/ is two levels below its root.
ROLES_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles"
)

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# {(path, mtime_ns, entry point): options} of the files read in this process
# (plain YAML: Ansible's loader tags every string with its origin, which
# makes the validator ten times slower).
_SPECS = {}


def _plain(value):
    """``value`` with every mapping and sequence a plain dict or list."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def spec_path(role):
    """The argument spec file of ``role``: a role of this collection by
    name, or a role directory given as a path."""
    directory = role if "/" in role else os.path.join(ROLES_DIR, role)
    return os.path.join(directory, "meta", "argument_specs.yml")


def _read_options(path, entry_point):
    """The options of ``entry_point`` in the argument spec file ``path``."""
    try:
        key = (path, os.stat(path).st_mtime_ns, entry_point)
        if key not in _SPECS:
            with open(path, encoding="utf-8") as stream:
                data = yaml.load(stream, Loader=_SafeLoader)  # noqa: S506 - a safe loader
            try:
                _SPECS[key] = data["argument_specs"][entry_point].get("options") or {}
            except (KeyError, TypeError, AttributeError):
                raise AnsibleError(
                    f"dockerlab.docker.argument_errors: {path} has no argument_specs.{entry_point}"
                ) from None
    except (OSError, yaml.YAMLError) as exc:
        raise AnsibleError(
            f"dockerlab.docker.argument_errors: cannot read the argument spec {path}: {exc}"
        ) from None
    return _SPECS[key]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        entry_point = self.get_option("entry_point")
        spec = {}
        for role in terms:
            spec.update(_read_options(spec_path(role), entry_point))
        variables = variables or {}
        provided = {name: variables[name] for name in spec if name in variables}
        values = _plain(self._templar.template(provided))
        # The validator is not known to change its spec; a copy costs 0.1 ms
        # and keeps the cache as read whatever a later ansible-core does.
        result = ArgumentSpecValidator(copy.deepcopy(spec)).validate(values, validate_role_argument_spec=True)
        return list(result.error_messages)

# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection's filters read role variables that Ansible has not
converted: booleans, whole numbers, lists and dicts as a user may give
them (in YAML, or as strings with -e). Private to this collection;
controller only."""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean


def truthy(value):
    """Ansible's bool filter, lenient: "yes", "true", "1", True... are true;
    anything else, None included, is false."""
    try:
        return boolean(value, strict=False)
    except TypeError:
        return False


def whole_number(value):
    """An integer from an int or a string of digits (as -e gives it); None
    for anything else, booleans included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value.strip()) if isinstance(value, str) else None
    except ValueError:
        return None


def _spec_type(kind, name, value):
    """``value`` converted as the argument spec's type ``kind`` converts it,
    with the validator's own function. The spec checked the value when the
    role started; one it refuses is an error that names the variable."""
    # On first use: with ansible.errors loaded, importing the validator
    # pulls in cryptography (about 40 ms of CPU), which most workers that
    # load this collection's filters never need.
    from ansible.module_utils.common import validation

    try:
        return getattr(validation, f"check_type_{kind}")(value)
    except TypeError as exc:
        raise AnsibleFilterError(
            f"{name}: {exc} (the role's argument spec checks it when the role starts)"
        ) from None


def as_list(name, value):
    """The list the role's argument spec read ``value`` as (it accepts a
    comma-separated string, as -e gives one); the variable itself keeps
    what was given."""
    return _spec_type("list", name, value)


def as_dict(name, value):
    """The dict the role's argument spec read ``value`` as (it accepts JSON
    or key=value pairs, as -e gives them)."""
    return _spec_type("dict", name, value)


def url_error(value, schemes=("http", "https"), user=False):
    """Why ``value`` is not a URL dockerd takes (a scheme of ``schemes`` and a
    host; no user, query or fragment, as moby's registry.ValidateMirror
    wants), or None when it is one. With ``user``, a user and password are
    fine (a proxy URL may carry them)."""
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        return f"{value!r} is not a string"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError as exc:
        return f"{value!r} is not a URL ({exc})"
    if parts.scheme not in schemes:
        return f"{value!r} does not start with {' or '.join(s + '://' for s in schemes)}"
    if not parts.hostname:
        return f"{value!r} names no host"
    if user and (parts.query or parts.fragment):
        return f"{value!r} has a query or a fragment, which a proxy URL cannot have"
    if not user and (parts.username or parts.password or parts.query or parts.fragment):
        return f"{value!r} has a user, a query or a fragment, which dockerd refuses"
    return None

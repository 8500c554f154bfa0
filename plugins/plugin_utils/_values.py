# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection's filters read role variables that Ansible has not
converted: booleans and whole numbers as a user may give them (in YAML, or
as strings with -e). Private to this collection; controller only."""

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
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None

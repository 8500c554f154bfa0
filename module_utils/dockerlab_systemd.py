# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading systemd unit files and drop-ins: pure functions (standard library)."""

import os
import shlex

# Prefixes systemd allows before an Exec*= command (systemd.service(5)).
_EXEC_PREFIXES = "-@:+!"


def parse_unit(text):
    """Parse unit file text into a list of (section, key, value) in order.

    Handles comments (# and ;), blank lines and continuation lines (a
    trailing backslash joins the next line, as systemd does, with a space).
    """
    entries = []
    section = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if pending:
            if line.startswith(("#", ";")):
                continue
            line = pending + " " + line
            pending = ""
        elif not line or line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        entries.append((section, key.strip(), value.strip()))
    if pending:
        key, _, value = pending.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def exec_start_values(text):
    """The ExecStart= values of [Service] in order; an empty value resets the
    list, as in systemd. Returns the resulting list (usually one element)."""
    values = []
    for section, key, value in parse_unit(text):
        if section == "Service" and key == "ExecStart":
            if value == "":
                values = []
            else:
                values.append(value)
    return values


def sets_exec_start(text):
    """True when the text assigns ExecStart= in [Service] at all."""
    return any(s == "Service" and k == "ExecStart" for s, k, _ in parse_unit(text))


def split_command(value):
    """Split an ExecStart= value into (prefix, argv): the special prefixes
    are kept apart, the command line is split as systemd quotes it."""
    prefix = ""
    while value and value[0] in _EXEC_PREFIXES:
        prefix += value[0]
        value = value[1:]
    return prefix, shlex.split(value)


def join_command(prefix, argv):
    """The inverse of split_command: a single ExecStart= value. A literal
    "%" or "$" in an argument is doubled, since systemd would otherwise
    expand it as a specifier or an environment variable."""
    return prefix + " ".join(_quote(arg) for arg in argv)


def _quote(arg):
    # systemd understands single and double quotes; quote only when needed,
    # so that the common case stays readable ("-H fd://").
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and all(c.isalnum() or c in "-_./:=,@%+[]" for c in arg):
        return arg
    return shlex.quote(arg)


def dropins(directory):
    """Sorted (name, path) of the *.conf files in a drop-in directory."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".conf"))
    except FileNotFoundError:
        return []
    return [(n, os.path.join(directory, n)) for n in names]

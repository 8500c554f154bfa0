# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading systemd unit files and drop-ins: where systemd looks for them,
and pure functions that parse them (standard library only).

Private to this collection: docker_daemon_listener, docker_host_facts and
docker_host_audit find the docker units and their drop-ins here, one way.
"""

import os
import shlex

# Where administrators put units and drop-ins (and where the roles write).
SYSTEMD_DIR = "/etc/systemd/system"
# The unit search path of the system manager, highest precedence first
# (systemd.unit(5); /lib is /usr/lib on merged-/usr systems, not on all).
UNIT_DIRS = (
    SYSTEMD_DIR,
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
)
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
        key, _eq, value = pending.partition("=")
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
    return any(entry[:2] == ("Service", "ExecStart") for entry in parse_unit(text))


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
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [(n, os.path.join(directory, n)) for n in names]


def unit_file(name, dirs=UNIT_DIRS):
    """The path of the unit file ``name`` systemd loads (the first in the
    search path), or None when it is not installed."""
    return next((os.path.join(d, name) for d in dirs if os.path.isfile(os.path.join(d, name))), None)


def effective_exec_start(name, read, dirs=UNIT_DIRS):
    """The argv of the ExecStart= that unit ``name`` runs, after its drop-ins
    (the last value of the unit file and drop-ins read in systemd's order),
    or None when the unit is not installed or sets none. ``read`` returns a
    file's text, or None."""
    path = unit_file(name, dirs)
    if path is None:
        return None
    text = "\n".join((read(p) or "") for p in [path, *unit_dropins(name, dirs)])
    values = exec_start_values(text)
    return split_command(values[-1])[1] if values else None


def unit_dropins(name, dirs=UNIT_DIRS):
    """The paths of the drop-ins of unit ``name``, in the order systemd
    applies them (by file name; one in a directory earlier in the search
    path masks one of the same name later)."""
    by_name = {}
    for directory in dirs:
        for dropin_name, path in dropins(os.path.join(directory, f"{name}.d")):
            by_name.setdefault(dropin_name, path)
    return [by_name[n] for n in sorted(by_name)]


def section_values(text, section, key):
    """The values of ``key`` in ``section`` of unit text, in order; an empty
    value resets the list, as systemd does for list settings (ExecStart=,
    ListenStream=, Sockets=)."""
    values = []
    for sect, name, value in parse_unit(text):
        if sect == section and name == key:
            if value == "":
                values = []
            else:
                values.extend(value.split() if key == "Sockets" else [value])
    return values


def unit_text(name, read, dirs=UNIT_DIRS):
    """The unit file of ``name`` and its drop-ins, joined in systemd's order
    (empty when the unit is not installed)."""
    path = unit_file(name, dirs)
    if path is None:
        return ""
    return "\n".join((read(p) or "") for p in [path, *unit_dropins(name, dirs)])


def service_sockets(service, read, dirs=UNIT_DIRS):
    """The socket units that hand their sockets to ``service`` when it
    starts: the one of the same name (docker.socket for docker.service) and
    those its Sockets= names; each as (name, its ListenStream= values)."""
    names = [service.rsplit(".", 1)[0] + ".socket"]
    names += [
        n for n in section_values(unit_text(service, read, dirs), "Service", "Sockets") if n not in names
    ]
    found = []
    for name in names:
        text = unit_text(name, read, dirs)
        if text:
            found.append((name, section_values(text, "Socket", "ListenStream")))
    return found


def socket_unit_name(path):
    """The socket unit a unit file or drop-in path belongs to
    (/etc/systemd/system/x.socket, or .../x.socket.d/y.conf), else None."""
    if "/systemd/" not in path:
        return None
    name = os.path.basename(path)
    if name.endswith(".socket"):
        return name
    parent = os.path.basename(os.path.dirname(path))
    if name.endswith(".conf") and parent.endswith(".socket.d"):
        return parent[: -len(".d")]
    return None


def socket_settings(text):
    """The [Socket] settings of unit text, in order: what decides where and
    how a socket unit listens (comments and other sections do not)."""
    return [(key, value) for section, key, value in parse_unit(text or "") if section == "Socket"]

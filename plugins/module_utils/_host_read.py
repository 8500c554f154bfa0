# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host read shared by the roles: what a role asks
docker_host_facts to read (its request), how the requests of every role
in a play are read in one call, and whether a read covers a request.

Private to this collection. docker_host_facts merges the requests and
records what it read in the fact (``requested``); the roles' plan filters
ask covers() whether that read has what they decide on, so that a role in
a play with the others decides on their one read, and a role alone reads
the host itself. Standard library only.

A request is a dict of docker_host_facts' options: ``packages``, ``users``,
``user_files``, ``files``, ``images``, ``inspect``, ``ports`` and ``units`` (lists),
``containers`` (a bool) and ``daemon_json`` (a path).
"""

LISTS = ("packages", "users", "user_files", "files", "images", "inspect", "ports", "units")
# What the daemon answers, rather than the host's files: out of date once
# dockerd has restarted (docker_daemon_restart then sets RESTARTED_FACT).
DAEMON_KEYS = ("containers", "images", "inspect", "ports")
# The read's fact; and the fact docker_host_facts sets false and
# docker_daemon_restart sets true when it restarted or started dockerd.
FACT = "dockerlab"
RESTARTED_FACT = "dockerlab_daemon_restarted"


def _port(value):
    """A TCP port as an int, or None for anything that is not one."""
    if isinstance(value, bool):
        return None
    try:
        port = int(str(value).strip())
    except ValueError:
        return None
    return port if 1 <= port <= 65535 else None


def _usable(key, value):
    """The entries of one request's ``key`` that can be read, normalized
    (ports as ints); anything of the wrong type is left out, not read: the
    role that asked for it refuses it in its own checks."""
    if not isinstance(value, (list, tuple)):
        return []
    if key == "ports":
        return [port for port in (_port(item) for item in value) if port is not None]
    return [item for item in value if isinstance(item, str) and item]


def merge(requests, base=None):
    """One request holding everything ``base`` and every request in
    ``requests`` ask for: lists in their order, each entry once;
    ``containers`` when any asks; ``daemon_json`` from the first that
    names it."""
    merged = {key: [] for key in LISTS}
    merged.update(containers=False, daemon_json=None)
    for request in [base or {}, *(requests or [])]:
        if not isinstance(request, dict):
            continue
        for key in LISTS:
            for item in _usable(key, request.get(key)):
                if item not in merged[key]:
                    merged[key].append(item)
        merged["containers"] = merged["containers"] or request.get("containers") is True
        if merged["daemon_json"] is None and isinstance(request.get("daemon_json"), str):
            merged["daemon_json"] = request["daemon_json"]
    return merged


def covers(read, request, restarted=False):
    """Whether the host read ``read`` (the fact docker_host_facts set) has
    everything ``request`` asks for, still current: the daemon's answers
    (containers, images, containers inspected, listening ports) are out of
    date once the daemon ``restarted`` after the read (the fact
    dockerlab_daemon_restarted)."""
    if not isinstance(read, dict) or not isinstance(read.get("requested"), dict):
        return False
    asked = read["requested"]
    wanted = merge([request])
    for key in LISTS:
        if wanted[key] and (
            not set(wanted[key]) <= set(asked.get(key) or []) or (restarted and key in DAEMON_KEYS)
        ):
            return False
    if wanted["containers"] and (not asked.get("containers") or restarted):
        return False
    return wanted["daemon_json"] is None or wanted["daemon_json"] == asked.get("daemon_json")

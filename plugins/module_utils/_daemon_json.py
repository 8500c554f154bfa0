# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""daemon.json: where it is, how it is read, merged and written.

Private to this collection (the leading underscore, as community.docker
marks its own): the modules docker_daemon_config, docker_host_facts and
docker_host_audit, and the filter engine_plan that predicts
docker_daemon_config's merge on the controller, all import these, so that
the file is parsed and merged one way everywhere. Standard library only.
"""

import json
from collections.abc import Mapping

DEFAULT_PATH = "/etc/docker/daemon.json"


def parse(text):
    """(settings, None) for daemon.json's text, or (None, why not).

    A missing file (``text`` None) or an empty one holds no settings, as
    dockerd reads it; anything but a JSON object at the top level is an
    error."""
    if text is None or not text.strip():
        return {}, None
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"is not valid JSON: {exc}"
    if not isinstance(data, dict):
        return None, f"must hold a JSON object at the top level, not {type(data).__name__}"
    return data, None


def merge(base, overlay):
    """``overlay`` merged into a copy of ``base``: objects key by key,
    everything else replaced (Ansible's combine(recursive=true))."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply(current, options, remove_keys=(), replace_keys=()):
    """daemon.json as docker_daemon_config writes it: ``options`` merged into
    the ``current`` settings (those of ``replace_keys`` replacing the file's
    value instead), then ``remove_keys`` taken out; keys set by hand and not
    named stay."""
    desired = merge({k: v for k, v in current.items() if k not in replace_keys or k not in options}, options)
    for key in remove_keys:
        desired.pop(key, None)
    return desired


def render(data):
    """The file's text: sorted keys, two spaces, a final newline."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


# dockerd --validate: Docker 23.0 and newer check a daemon.json with the
# daemon's flags without starting anything ("configuration OK", exit 0).
VALIDATE_SINCE = (23, 0)


def validate_argv(dockerd, unit_argv, candidate):
    """The command that checks ``candidate`` (a daemon.json path) as the unit
    would start dockerd: the unit's ExecStart arguments (``unit_argv``, its
    first word the program), then ``--validate --config-file CANDIDATE``,
    last, so that it wins over a --config-file of the unit. An argument that
    is only an environment variable reference ($DOCKER_OPTS, ${DOCKER_OPTS}),
    which systemd expands and which is empty unless set, is left out."""
    flags = [
        arg
        for arg in (unit_argv or [])[1:]
        if not (arg.startswith("$") and arg.lstrip("${").rstrip("}").replace("_", "").isalnum())
    ]
    return [dockerd, *flags, "--validate", "--config-file", candidate]

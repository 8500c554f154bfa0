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


def apply(current, options, remove_keys=()):
    """daemon.json as docker_daemon_config writes it: ``options`` merged into
    the ``current`` settings, then ``remove_keys`` taken out; keys set by
    hand and not named stay."""
    desired = merge(current, options)
    for key in remove_keys:
        desired.pop(key, None)
    return desired


def render(data):
    """The file's text: sorted keys, two spaces, a final newline."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"

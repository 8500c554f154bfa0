# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: channel_rows
short_description: The rows of docker_channels' table for the steps of one channel
version_added: "1.0.0"
author: dockerlab contributors (!UNKNOWN)
description:
  - Takes the registered results of one channel's steps, in order, and
    returns one row per step for the table docker_channels prints.
  - It does not judge the steps. Each step's task does, in its own
    C(failed_when); a step whose prerequisite did not work is skipped by
    its task's C(when). This filter reads the verdict from the result
    (failed, skipped or neither) and says in a few words what the step
    said.
  - A skipped step's row names the step it needed.
positional: channel
options:
  _input:
    description:
      - The steps in order. Each is a dict with C(step) (the label in the
        table, such as C(3 create)), C(says) (how to sum up what it said,
        one of C(status), C(lines), C(id), C(http), C(port), C(count),
        C(version), C(page), C(refusal)), C(result) (its registered result) and
        optionally C(needs) (the label of the step it needs) and C(name),
        C(port), C(container_port) (for C(id), C(port) and C(page)).
    type: list
    elements: dict
    required: true
  channel:
    description: The channel's name in the table (C(unix), C(tcp+tls), C(api+tls), C(no cert)).
    type: str
    required: true
"""

EXAMPLES = r"""
# roles/docker_channels/tasks/cli.yml
- name: Record the steps
  ansible.builtin.set_fact:
    _docker_channels_rows: >-
      {{ _docker_channels_rows + ([
           {'step': '1 pull', 'says': 'status', 'result': _docker_channels_s1},
           {'step': '3 create', 'says': 'id', 'name': _container, 'result': _docker_channels_s3,
            'needs': '1 pull'},
         ] | dockerlab.docker.channel_rows(_channel)) }}
"""

RETURN = r"""
_value:
  description: One row per step, in the order given.
  type: list
  elements: dict
  contains:
    channel:
      description: The channel.
      type: str
    step:
      description: The step's label.
      type: str
    state:
      description:
        C(ok), C(fail) (the step's task found it did not work) or C(skip)
        (the step it needs did not work).
      type: str
    detail:
      description: What the step said, in a line; for a skipped step, the step it needed.
      type: str
"""

import json
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

WIDTH = 90
# OpenSSL's words for an alert the peer sent, as curl prints them.
ALERT = re.compile(r"alert ([a-z ]+?)(?:,|$)", re.M)


def _line(text):
    """The last non-empty line of a text, cut to WIDTH."""
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last if len(last) <= WIDTH else last[: WIDTH - 3] + "..."


def _json(text):
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def _said(result):
    """What a step that did not work said: its error, else its output."""
    return _line(result.get("stderr")) or _line(result.get("stdout")) or _line(result.get("msg"))


def _summary(step, result):
    """What a step that worked said, in a line."""
    stdout = str(result.get("stdout") or "")
    says = step["says"]
    if says == "status":
        # The CLI prints "Status: ..."; the API streams JSON objects with a status.
        lines = [_json(line) if line.startswith("{") else line for line in stdout.splitlines()]
        lines = [line.get("status", "") if isinstance(line, Mapping) else str(line) for line in lines]
        statuses = [line for line in lines if line.startswith("Status: ")]
        return _line(statuses[-1] if statuses else stdout)
    if says == "lines":
        return _line(", ".join(line.strip() for line in stdout.splitlines() if line.strip()))
    if says == "id":
        answer = _json(stdout)
        ident = answer.get("Id", "") if isinstance(answer, Mapping) else stdout.strip()
        return f"{step.get('name', '')} {ident[:12]}".strip()
    if says == "http":
        return f"HTTP {stdout.strip()}"
    if says == "port":
        return f"port {step['port']} -> {step['container_port']}"
    if says == "count":
        answer = _json(stdout)
        return f"{len(answer)} images" if isinstance(answer, list) else _line(stdout)
    if says == "version":
        answer = _json(stdout)
        return f"API v{answer.get('ApiVersion')}" if isinstance(answer, Mapping) else _line(stdout)
    if says == "page":
        return f"http://127.0.0.1:{step['port']}/ says {_line(stdout)}"
    if says == "refusal":
        alert = ALERT.search(str(result.get("stderr") or ""))
        said = alert.group(1) if alert else _said(result)
        return f"refused by the daemon: TLS alert {said} (curl rc {result.get('rc')})"
    raise AnsibleFilterError(f"channel_rows: unknown 'says' {says!r} for step {step.get('step')!r}")


def _failure(step, result):
    if step["says"] == "refusal":
        if result.get("rc") == 0:
            return f"NOT REFUSED: the daemon answered {_line(result.get('stdout'))}"
        rc = result.get("rc")
        return f"the check itself failed (curl rc {rc}), not a refusal by the daemon: {_said(result)}"
    if step["says"] == "page":
        return f"http://127.0.0.1:{step['port']}/ says {_said(result)}"
    return _said(result)


def channel_rows(steps, channel):
    if not isinstance(steps, list):
        raise AnsibleFilterError(f"channel_rows: the steps must be a list, not {type(steps).__name__}")
    rows = []
    for step in steps:
        if not isinstance(step, Mapping) or not {"step", "says", "result"} <= set(step):
            raise AnsibleFilterError(f"channel_rows: each step needs 'step', 'says' and 'result': {step!r}")
        result = step["result"] if isinstance(step["result"], Mapping) else {}
        if result.get("skipped"):
            needs = step.get("needs")
            state, detail = "skip", f"skipped: needs {needs}, which did not work" if needs else "skipped"
        elif result.get("failed"):
            state, detail = "fail", _failure(step, result)
        else:
            state, detail = "ok", _summary(step, result)
        rows.append({"channel": channel, "step": step["step"], "state": state, "detail": detail})
    return rows


class FilterModule:
    def filters(self):
        return {"channel_rows": channel_rows}

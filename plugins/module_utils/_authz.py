# Copyright: contributors to dockerlab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The authorization policy for restricted Docker users: which Engine API
calls a user who must not be root on the host may make.

dockerd asks an authorization plugin about every API call (moby's
pkg/authorization: ``/AuthZPlugin.AuthZReq`` before it runs the call,
``/AuthZPlugin.AuthZRes`` after). A TLS client's ``User`` is its client
certificate's CN; a Unix-socket client has none. This module decides on
those requests; the plugin server that answers dockerd, and the file of who
owns which container, are built on it. Standard library only (it runs on the
managed host, inside the plugin).

The rules, for a restricted user (anyone else is allowed everything, as the
docker group is):
- every known way out of a container onto the host is refused, with a
  message naming the rule: privileged containers and execs; host paths
  mounted however they are asked for (``Binds``, ``Mounts``, a volume whose
  driver options bind a host path or device, a volume driver other than
  local); capabilities beyond Docker's default set; the host's PID, IPC,
  UTS, network or user namespace, or another user's container's; devices;
  seccomp, AppArmor, SELinux labels, no-new-privileges or /proc masking
  turned off; cgroup parents; a runtime other than runc; plugin, swarm and
  node changes;
- a restricted user acts only on the containers and execs they created
  (their owner is remembered by the plugin);
- a HostConfig sent with a start (API versions before 1.24, which dockerd
  20.10 still honours) is judged as a create's;
- what the policy does not understand is refused: an endpoint it does not
  know, a body that is missing, not JSON or not an object.
A revoked user (a certificate still valid but no longer allowed) is refused
everything.
"""

import base64
import json
import re
from urllib.parse import parse_qs, unquote, urlsplit

# Docker's default capabilities (moby's oci/caps/defaults.go, unchanged from
# 20.10 to 28): adding one of these changes nothing.
DEFAULT_CAPABILITIES = frozenset(
    {
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    }
)
# Runtimes a restricted container may ask for ("" is the daemon's default).
RUNTIMES = frozenset({"", "runc", "io.containerd.runc.v2"})
# Volume and network drivers a restricted user may ask for.
VOLUME_DRIVERS = frozenset({"", "local"})
NETWORK_DRIVERS = frozenset({"", "bridge"})
# Options of the local volume driver that mount something of the host's
# (`mount -o bind`, a device or a host path).
HOST_VOLUME_OPTIONS = ("device", "o")

_VERSION = re.compile(r"^/v[0-9]+(?:\.[0-9]+)*(?=/)")
# Actions on one container by id or name: /containers/{ref}[/{action}].
_CONTAINER = re.compile(r"^/containers/([^/]+)(?:/([^/]+))?$")
_EXEC = re.compile(r"^/exec/([^/]+)/(start|resize|json)$")
# Calls that only read, or that act on nothing of another user's: allowed as they are.
_ALLOWED = {
    ("GET", "/_ping"),
    ("HEAD", "/_ping"),
    ("GET", "/version"),
    ("GET", "/info"),
    ("GET", "/events"),
    ("GET", "/system/df"),
    ("POST", "/auth"),
    ("GET", "/containers/json"),
    ("GET", "/images/json"),
    ("POST", "/images/create"),
    ("GET", "/images/search"),
    ("GET", "/volumes"),
    ("GET", "/networks"),
    ("GET", "/plugins"),
    ("GET", "/distribution"),
}
# Whole families a restricted user may read but never change.
_READ_ONLY = ("/plugins", "/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs")


class Decision:
    """What the plugin answers dockerd: allow, or refuse with ``msg``
    (which names the rule); ``rule`` is the rule's short name."""

    def __init__(self, allow, rule="", msg=""):
        self.allow, self.rule, self.msg = allow, rule, msg

    def __repr__(self):
        return f"Decision(allow={self.allow!r}, rule={self.rule!r}, msg={self.msg!r})"

    def answer(self):
        """The JSON object of the plugin protocol's response."""
        return {"Allow": True} if self.allow else {"Allow": False, "Msg": self.msg}


ALLOW = Decision(True)


def deny(rule, why):
    return Decision(False, rule, f"dockerlab policy, rule {rule}: {why}")


def split_uri(uri):
    """(path without the API version prefix, query as a dict of lists)."""
    parts = urlsplit(uri or "")
    return _VERSION.sub("", unquote(parts.path)) or "/", parse_qs(parts.query)


# What request_body gives for a body that is there but no JSON.
_NOT_JSON = object()


def request_body(request):
    """The request's JSON body (dockerd sends it base64-encoded, and only
    when it is JSON and small enough), or None when there is none."""
    raw = request.get("RequestBody")
    if not raw:
        return None
    try:
        return json.loads(base64.b64decode(raw).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError):
        return _NOT_JSON


def capability(name):
    """A capability's name as Docker compares it: upper case, no CAP_ prefix."""
    name = str(name).upper()
    return name[len("CAP_") :] if name.startswith("CAP_") else name


def _bind_source(bind):
    """The host path of a Binds entry (SRC:DST[:OPTS]), or None for a named volume."""
    source = str(bind).split(":", 1)[0]
    return source if source.startswith("/") else None


def _namespace_of(mode):
    """'host', ('container', REF) or None for a PidMode/IpcMode/NetworkMode/UTSMode/UsernsMode value."""
    mode = str(mode or "")
    if mode == "host":
        return "host"
    if mode.startswith("container:"):
        return ("container", mode[len("container:") :])
    return None


def resources_refusal(resources):
    """Why the Resources part of a create or update body is refused, or None."""
    if resources.get("CgroupParent"):
        return deny("cgroup-parent", f"a cgroup parent ({resources['CgroupParent']}) is not allowed")
    for key, what in (
        ("Devices", "host devices"),
        ("DeviceCgroupRules", "device cgroup rules"),
        ("DeviceRequests", "device requests (GPUs and other host devices)"),
    ):
        if resources.get(key):
            return deny("devices", f"{what} are not allowed ({key})")
    return None


def _security_refusal(options):
    for option in options or []:
        name, _sep, value = str(option).replace(":", "=", 1).partition("=")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "seccomp":
            return deny("seccomp", f"a seccomp profile other than Docker's default is not allowed ({option})")
        if name == "apparmor" and value == "unconfined":
            return deny("apparmor", "AppArmor cannot be turned off (apparmor=unconfined)")
        if name == "label" and value == "disable":
            return deny("selinux", "SELinux labels cannot be turned off (label=disable)")
        if name == "no-new-privileges" and value in ("false", "0", "no"):
            return deny("no-new-privileges", "no-new-privileges cannot be turned off")
        if name == "systempaths" and value == "unconfined":
            return deny("masked-paths", "/proc and /sys cannot be unmasked (systempaths=unconfined)")
    return None


def _mount_refusal(mount):
    kind = str(mount.get("Type") or "").lower()
    if kind == "bind":
        return deny("host-path", f"bind mounts of host paths are not allowed ({mount.get('Source')})")
    if kind == "volume":
        driver = (mount.get("VolumeOptions") or {}).get("DriverConfig") or {}
        if str(driver.get("Name") or "") not in VOLUME_DRIVERS:
            return deny("volume-driver", f"volume driver {driver.get('Name')} is not allowed")
        options = driver.get("Options") or {}
        if any(key in options for key in HOST_VOLUME_OPTIONS):
            return deny(
                "host-path", "a volume whose driver options mount a host path or device is not allowed"
            )
        return None
    if kind == "tmpfs":
        return None
    return deny("host-path", f"mounts of type {kind or 'unknown'} are not allowed")


def create_refusal(body, owns):
    """Why a POST /containers/create body is refused, or None.
    ``owns(ref)``: whether the user owns the container ``ref``."""
    if not isinstance(body, dict):
        return deny("unreadable", "the container's configuration is not a JSON object")
    host = body.get("HostConfig") or {}
    if not isinstance(host, dict):
        return deny("unreadable", "HostConfig is not a JSON object")
    if host.get("Privileged"):
        return deny("privileged", "privileged containers are not allowed")
    for bind in host.get("Binds") or []:
        source = _bind_source(bind)
        if source:
            return deny("host-path", f"bind mounts of host paths are not allowed ({source})")
    for mount in host.get("Mounts") or []:
        refusal = _mount_refusal(mount if isinstance(mount, dict) else {})
        if refusal:
            return refusal
    if str(host.get("VolumeDriver") or "") not in VOLUME_DRIVERS:
        return deny("volume-driver", f"volume driver {host.get('VolumeDriver')} is not allowed")
    added = sorted({capability(c) for c in host.get("CapAdd") or []} - DEFAULT_CAPABILITIES)
    if added:
        return deny(
            "capabilities", f"capabilities beyond Docker's default set are not allowed ({', '.join(added)})"
        )
    for key, what in (
        ("PidMode", "PID"),
        ("IpcMode", "IPC"),
        ("UTSMode", "UTS"),
        ("NetworkMode", "network"),
        ("UsernsMode", "user"),
    ):
        namespace = _namespace_of(host.get(key))
        if namespace == "host":
            return deny("host-namespace", f"the host's {what} namespace is not allowed ({key}=host)")
        if namespace and not owns(namespace[1]):
            return deny(
                "not-owner", f"the {what} namespace of a container that is not yours ({namespace[1]})"
            )
    for source in host.get("VolumesFrom") or []:
        ref = str(source).split(":", 1)[0]
        if not owns(ref):
            return deny("not-owner", f"volumes of a container that is not yours ({ref})")
    refusal = resources_refusal(host) or _security_refusal(host.get("SecurityOpt"))
    if refusal:
        return refusal
    if host.get("MaskedPaths") is not None or host.get("ReadonlyPaths") is not None:
        return deny("masked-paths", "/proc and /sys masking cannot be changed (MaskedPaths, ReadonlyPaths)")
    if str(host.get("Runtime") or "") not in RUNTIMES:
        return deny("runtime", f"runtime {host.get('Runtime')} is not allowed")
    return None


def decide(request, restricted, revoked=(), owns_container=None, owns_exec=None):
    """The Decision for one AuthZReq ``request`` (the plugin protocol's
    object). ``restricted`` and ``revoked``: user names (certificate CNs).
    ``owns_container(ref)`` and ``owns_exec(id)``: whether the request's user
    owns that container (by id or name) or exec."""
    user = str(request.get("User") or "")
    if not request.get("RequestMethod") or not request.get("RequestUri"):
        # dockerd retries a plugin call that failed in flight (the plugin
        # killed mid-answer) with the body already read: an empty request,
        # whose user is unknown. Whoever asked, it is refused.
        return deny("unreadable", "the request names no method or URI; dockerd sent it without its body")
    if user and user in revoked:
        return deny("revoked", f"the certificate of {user} is no longer allowed")
    if not user or user not in restricted:
        return ALLOW
    owns_container = owns_container or (lambda _ref: False)
    owns_exec = owns_exec or (lambda _id: False)
    method = str(request.get("RequestMethod") or "").upper()
    path, query = split_uri(request.get("RequestUri"))
    body = request_body(request)
    if (method, path) in _ALLOWED:
        return ALLOW
    if path.startswith(_READ_ONLY):
        if method in ("GET", "HEAD"):
            return ALLOW
        family = path.split("/")[1]
        return deny("cluster", f"{family} changes are not allowed")
    if (method, path) == ("POST", "/containers/create"):
        if body is None or body is _NOT_JSON:
            return deny("unreadable", "the container's configuration was not sent as JSON")
        return create_refusal(body, owns_container) or ALLOW
    if path in ("/containers/prune", "/volumes/prune", "/networks/prune", "/images/prune", "/build/prune"):
        return deny("prune", "pruning removes other users' objects")
    match = _CONTAINER.match(path)
    if match:
        ref, action = match.group(1), match.group(2)
        if not owns_container(ref):
            return deny("not-owner", f"container {ref} is not yours")
        if action == "exec" and method == "POST":
            if body is None or body is _NOT_JSON or not isinstance(body, dict):
                return deny("unreadable", "the exec's configuration was not sent as JSON")
            if body.get("Privileged"):
                return deny("privileged", "privileged execs are not allowed")
        if action == "start" and method == "POST" and body is not None:
            # API versions before 1.24 take a HostConfig at start, and
            # dockerd 20.10 still applies it: judge it as a create's.
            if body is _NOT_JSON or not isinstance(body, dict):
                return deny("unreadable", "the start's body is not a JSON object")
            return create_refusal({"HostConfig": body}, owns_container) if body else ALLOW
        if action == "update" and method == "POST":
            if not isinstance(body, dict):
                return deny("unreadable", "the update was not sent as a JSON object")
            return resources_refusal(body) or ALLOW
        return ALLOW
    match = _EXEC.match(path)
    if match:
        return (
            ALLOW if owns_exec(match.group(1)) else deny("not-owner", f"exec {match.group(1)} is not yours")
        )
    if (method, path) == ("POST", "/commit"):
        ref = (query.get("container") or [""])[0]
        return ALLOW if owns_container(ref) else deny("not-owner", f"container {ref} is not yours")
    if (method, path) == ("POST", "/volumes/create"):
        if not isinstance(body, dict):
            return deny("unreadable", "the volume's configuration was not sent as a JSON object")
        if str(body.get("Driver") or "") not in VOLUME_DRIVERS:
            return deny("volume-driver", f"volume driver {body.get('Driver')} is not allowed")
        if any(key in (body.get("DriverOpts") or {}) for key in HOST_VOLUME_OPTIONS):
            return deny(
                "host-path", "a volume whose driver options mount a host path or device is not allowed"
            )
        return ALLOW
    if (method, path) == ("POST", "/networks/create"):
        if not isinstance(body, dict):
            return deny("unreadable", "the network's configuration was not sent as a JSON object")
        if str(body.get("Driver") or "") not in NETWORK_DRIVERS:
            return deny("network-driver", f"network driver {body.get('Driver')} is not allowed")
        return ALLOW
    if method == "GET" and path.startswith(("/images/", "/volumes/", "/networks/", "/distribution/")):
        return ALLOW
    return deny("unknown", f"{method} {path} is not one the policy knows")


def created_id(request):
    """The id a successful AuthZRes reports for a container or exec the
    request created (for the owner file), or None."""
    if int(request.get("ResponseStatusCode") or 0) not in (200, 201):
        return None
    raw = request.get("ResponseBody")
    try:
        body = json.loads(base64.b64decode(raw).decode("utf-8")) if raw else None
    except (ValueError, UnicodeDecodeError, TypeError):
        return None
    return body.get("Id") if isinstance(body, dict) and isinstance(body.get("Id"), str) else None

"""plugins/filter/flask_plan's drift and host_errors: every reason to pull
and (re)create the Flask container, on facts shaped as docker_host_facts
reports them (options images and inspect), and every reason to refuse the
host (options containers and ports too), also on the fact as Ansible hands
it over (JSON). They are no filters of their own: flask_plan calls them (it
goes through Ansible in test_flask_plan.py)."""

import copy
import json

import pytest
from ansible_collections.dockerlab.docker.plugins.filter import flask_plan

drift = flask_plan.drift
host_errors = flask_plan.host_errors

IMAGE = "digitalocean/flask-helloworld:latest"
NAME = "flaskapp"
IMAGE_ID = "sha256:" + "c" * 64
DIGEST = "sha256:" + "e" * 64
NEW_DIGEST = "sha256:" + "f" * 64
ANY_IPV4 = "0.0.0.0"  # noqa: S104 - what the role binds to by default, not a server here

# The role's defaults, in the filter's positional order after the image:
# name, restart_policy, bind_address, host_port, container_port.
WANTED = (NAME, "unless-stopped", ANY_IPV4, 1337, 5000)

# docker_host_facts' fact on a host that runs the current image as wanted.
CURRENT = {
    "containers": None,
    "images": {
        IMAGE: {
            "id": IMAGE_ID,
            "repo_digests": ["digitalocean/flask-helloworld@" + DIGEST],
            "registry_digest": DIGEST,
            "registry_error": "",
        }
    },
    "inspected": {
        NAME: {
            "image_id": IMAGE_ID,
            "status": "running",
            "restart_policy": "unless-stopped",
            "port_bindings": {"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}]},
        }
    },
}


def _facts(**changes):
    """CURRENT with ``images.KEY`` / ``inspected.KEY`` (or top-level KEY) replaced."""
    facts = copy.deepcopy(CURRENT)
    for key, value in changes.items():
        section, _sep, field = key.partition("__")
        if not field:
            facts[section] = value
        elif section == "image":
            facts["images"][IMAGE][field] = value
        else:
            facts["inspected"][NAME][field] = value
    return facts


def test_a_current_container_has_no_drift():
    assert drift(CURRENT, IMAGE, *WANTED) == ""


@pytest.mark.parametrize(("host_port", "container_port"), [(1337, 5000), ("1337", "5000"), ("1337", 5000)])
def test_ports_given_as_int_or_str_are_the_same(host_port, container_port):
    assert drift(CURRENT, IMAGE, NAME, "unless-stopped", ANY_IPV4, host_port, container_port) == ""


def test_the_image_may_have_several_repo_digests():
    facts = _facts(image__repo_digests=["localhost:5000/flask@" + NEW_DIGEST, f"digitalocean/flask@{DIGEST}"])
    assert drift(facts, IMAGE, *WANTED) == ""


@pytest.mark.parametrize(
    "facts",
    [
        None,
        {},
        _facts(images=None),
        _facts(inspected=None),
        _facts(images=None, inspected=None),
        _facts(images=[]),
    ],
    ids=["no-fact", "empty-fact", "images-null", "inspected-null", "both-null", "images-not-a-dict"],
)
def test_the_daemon_did_not_answer(facts):
    assert drift(facts, IMAGE, *WANTED) == "the daemon did not answer"


@pytest.mark.parametrize(
    "facts",
    [
        _facts(images={}),
        _facts(inspected={}),
        _facts(images={"registry:2": CURRENT["images"][IMAGE]}),
        _facts(inspected={"dockerlab-registry": CURRENT["inspected"][NAME]}),
    ],
    ids=["image-not-asked", "container-not-asked", "another-image-read", "another-container-read"],
)
def test_not_read_yet(facts):
    assert drift(facts, IMAGE, *WANTED) == "not read yet"


def test_the_image_is_not_pulled():
    facts = _facts(image__id=None, image__repo_digests=[])
    assert drift(facts, IMAGE, *WANTED) == "the image is not pulled"


def test_an_image_not_pulled_is_reported_before_a_registry_error():
    facts = _facts(image__id=None, image__registry_digest=None, image__registry_error="manifest unknown")
    assert drift(facts, IMAGE, *WANTED) == "the image is not pulled"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("manifest unknown", "manifest unknown"),
        (
            'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
            'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
        ),
        ("", "no answer"),
        (None, "no answer"),
    ],
    ids=["manifest-unknown", "unreachable", "empty-error", "no-error"],
)
def test_an_unknown_registry_digest_is_drift_with_the_registry_error(error, reason):
    facts = _facts(image__registry_digest=None, image__registry_error=error)
    assert drift(facts, IMAGE, *WANTED) == f"the registry did not say which image the tag names ({reason})"


@pytest.mark.parametrize(
    "repo_digests",
    [["digitalocean/flask-helloworld@" + DIGEST], [], None],
    ids=["old-digest", "no-repo-digest", "repo-digests-null"],
)
def test_a_new_image_behind_the_tag(repo_digests):
    facts = _facts(image__registry_digest=NEW_DIGEST, image__repo_digests=repo_digests)
    assert drift(facts, IMAGE, *WANTED) == "the registry has a new image behind the tag"


def test_no_container():
    facts = _facts(inspected={NAME: None})
    assert drift(facts, IMAGE, *WANTED) == "there is no container flaskapp"


def test_the_container_runs_another_image():
    facts = _facts(inspected__image_id="sha256:" + "d" * 64)
    assert drift(facts, IMAGE, *WANTED) == "the container runs another image"


@pytest.mark.parametrize("status", ["exited", "created", "paused", "restarting", "dead"])
def test_a_container_not_running_names_its_status(status):
    facts = _facts(inspected__status=status)
    assert drift(facts, IMAGE, *WANTED) == f"the container is {status}"


def test_a_container_without_a_status_is_not_running():
    facts = _facts(inspected__status="")
    assert drift(facts, IMAGE, *WANTED) == "the container is not running"


@pytest.mark.parametrize("policy", ["no", "always", "on-failure", ""])
def test_the_restart_policy_differs(policy):
    facts = _facts(inspected__restart_policy=policy)
    assert drift(facts, IMAGE, *WANTED) == f"the restart policy is '{policy}'"


@pytest.mark.parametrize(
    ("bindings", "bind_address"),
    [
        ({"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "8080"}]}, ANY_IPV4),
        ({"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "1337"}]}, ANY_IPV4),
        ({"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}]}, "127.0.0.1"),
        ({"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}]}, "::1"),
        ({"5000/tcp": [{"HostIp": "::1", "HostPort": "1337"}]}, ANY_IPV4),
        ({"5000/tcp": [{"HostIp": "", "HostPort": "1337"}]}, ANY_IPV4),
        ({"8000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}]}, ANY_IPV4),
        ({"5000/udp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}]}, ANY_IPV4),
        (
            {
                "5000/tcp": [
                    {"HostIp": ANY_IPV4, "HostPort": "1337"},
                    {"HostIp": "::", "HostPort": "1337"},
                ]
            },
            ANY_IPV4,
        ),
        (
            {
                "5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1337"}],
                "5001/tcp": [{"HostIp": ANY_IPV4, "HostPort": "1338"}],
            },
            ANY_IPV4,
        ),
        ({}, ANY_IPV4),
    ],
    ids=[
        "other-host-port",
        "bound-to-loopback",
        "wanted-on-loopback",
        "wanted-on-ipv6-loopback",
        "bound-to-ipv6-loopback",
        "bound-without-address",
        "other-container-port",
        "udp",
        "also-on-ipv6",
        "one-port-more",
        "none-published",
    ],
)
def test_the_published_ports_differ(bindings, bind_address):
    facts = _facts(inspected__port_bindings=bindings)
    reason = drift(facts, IMAGE, NAME, "unless-stopped", bind_address, 1337, 5000)
    assert reason == "the published ports differ"


def test_an_ipv6_bind_address_as_docker_reports_it_is_current():
    facts = _facts(inspected__port_bindings={"5000/tcp": [{"HostIp": "::1", "HostPort": "1337"}]})
    assert drift(facts, IMAGE, NAME, "unless-stopped", "::1", 1337, 5000) == ""


def test_the_first_difference_is_named():
    facts = _facts(
        inspected__status="exited",
        inspected__restart_policy="no",
        inspected__port_bindings={},
    )
    assert drift(facts, IMAGE, *WANTED) == "the container is exited"


def test_the_facts_are_not_modified():
    facts = _facts(inspected__status="exited")
    before = copy.deepcopy(facts)
    drift(facts, IMAGE, *WANTED)
    assert facts == before


def test_filter_module_exposes_the_filters():
    # drift and host_errors are flask_plan's now, no filters of their own.
    assert flask_plan.FilterModule().filters() == {"flask_plan": flask_plan.flask_plan}


def _as_ansible_has_it(facts):
    """The fact ``dockerlab`` as Ansible hands it over: loaded from JSON."""
    return json.loads(json.dumps(facts))


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (CURRENT, ""),
        (_facts(inspected__status="exited"), "the container is exited"),
        (_facts(images=None), "the daemon did not answer"),
    ],
    ids=["current", "exited", "no-answer"],
)
def test_drift_on_the_fact_as_ansible_has_it(facts, expected):
    # The fact arrives as Ansible has it (JSON, null as None); the ports as
    # the role's argument spec has them (int).
    assert drift(_as_ansible_has_it(facts), IMAGE, NAME, "unless-stopped", ANY_IPV4, 1337, 5000) == expected


# ------------------------------------------------ drift with ``wanted``

_bytes = flask_plan._bytes
MIB = 1024**2
SETTINGS_LABEL = "org.dockerlab.flask-settings"
SETTINGS_HASH = "0123456789abcdef"

# The role's 8th argument with its defaults: the settings hash label, memory
# as flask_app_memory (a human size), the others as ints.
SETTINGS = {"labels": {SETTINGS_LABEL: SETTINGS_HASH}, "memory": "128m", "cpu_shares": 512, "pids_limit": 64}

# docker_host_facts' fact of a container made with SETTINGS (the image's own
# labels come along).
HARDENED = _facts(
    inspected__labels={SETTINGS_LABEL: SETTINGS_HASH, "maintainer": "digitalocean"},
    inspected__memory=128 * MIB,
    inspected__cpu_shares=512,
    inspected__pids_limit=64,
)


def _hardened(**changes):
    facts = copy.deepcopy(HARDENED)
    facts["inspected"][NAME].update(changes)
    return facts


def _wanted(**changes):
    return {**copy.deepcopy(SETTINGS), **changes}


def test_a_container_made_with_the_wanted_settings_has_no_drift():
    assert drift(HARDENED, IMAGE, *WANTED, SETTINGS) == ""


@pytest.mark.parametrize("wanted", [None, {}], ids=["none", "empty"])
def test_without_wanted_settings_they_are_not_compared(wanted):
    facts = _hardened(labels={}, memory=64 * MIB, cpu_shares=2, pids_limit=5)
    assert drift(facts, IMAGE, *WANTED, wanted) == ""
    assert drift(facts, IMAGE, *WANTED) == ""


@pytest.mark.parametrize(
    "labels",
    [
        {SETTINGS_LABEL: "fedcba9876543210", "maintainer": "digitalocean"},
        {"maintainer": "digitalocean"},
        {},
        None,
        {SETTINGS_LABEL.upper(): SETTINGS_HASH},
    ],
    ids=["other-hash", "label-missing", "no-labels", "labels-null", "other-key"],
)
def test_another_or_a_missing_label_means_other_settings(labels):
    facts = _hardened(labels=labels)
    assert drift(facts, IMAGE, *WANTED, SETTINGS) == "the container was made with other settings"


def test_every_wanted_label_is_compared():
    wanted = _wanted(labels={SETTINGS_LABEL: SETTINGS_HASH, "maintainer": "someone-else"})
    assert drift(HARDENED, IMAGE, *WANTED, wanted) == "the container was made with other settings"
    wanted = _wanted(labels={SETTINGS_LABEL: SETTINGS_HASH, "maintainer": "digitalocean"})
    assert drift(HARDENED, IMAGE, *WANTED, wanted) == ""


@pytest.mark.parametrize("labels", [{}, None], ids=["empty", "null"])
def test_no_wanted_labels_accept_any_labels(labels):
    assert drift(HARDENED, IMAGE, *WANTED, _wanted(labels=labels)) == ""


def test_a_fact_without_the_new_fields_is_other_settings():
    # A fact as docker_host_facts reported it before it read labels and limits.
    assert drift(CURRENT, IMAGE, *WANTED, SETTINGS) == "the container was made with other settings"


@pytest.mark.parametrize(
    ("memory", "now"),
    [("128m", 64 * MIB), ("128m", 0), ("128m", None), ("64m", 128 * MIB), ("", 128 * MIB), ("1g", 128 * MIB)],
    ids=["less", "unlimited", "null", "more", "none-wanted", "1g-wanted"],
)
def test_the_memory_limit_differs(memory, now):
    facts = _hardened(memory=now)
    assert drift(facts, IMAGE, *WANTED, _wanted(memory=memory)) == "the memory limit differs"


@pytest.mark.parametrize(
    ("memory", "now"),
    [
        ("128m", 128 * MIB),
        ("128M", 128 * MIB),
        ("128MB", 128 * MIB),
        ("134217728", 128 * MIB),
        (134217728, 128 * MIB),
        ("0.125g", 128 * MIB),
        ("", 0),
        ("", None),
        (None, 0),
    ],
    ids=["128m", "upper", "128MB", "bytes", "int", "fraction-of-g", "none-0", "none-null", "null-0"],
)
def test_the_same_memory_limit_is_current(memory, now):
    facts = _hardened(memory=now)
    assert drift(facts, IMAGE, *WANTED, _wanted(memory=memory)) == ""


def test_an_invalid_memory_size_always_differs():
    assert drift(_hardened(memory=0), IMAGE, *WANTED, _wanted(memory="12x")) == "the memory limit differs"


@pytest.mark.parametrize(
    ("cpu_shares", "now"),
    [(512, 1024), (512, 0), (512, None), (1024, 512), (0, 512), ("512", 256)],
    ids=["default-weight", "unset", "null", "less", "none-wanted", "str-wanted"],
)
def test_the_cpu_shares_differ(cpu_shares, now):
    facts = _hardened(cpu_shares=now)
    assert drift(facts, IMAGE, *WANTED, _wanted(cpu_shares=cpu_shares)) == "the CPU shares differ"


@pytest.mark.parametrize(
    ("cpu_shares", "now"),
    [(512, 512), ("512", 512), (0, 0), (0, None), (None, 0), ("", None)],
    ids=["same", "str-wanted", "none-0", "none-null", "null-0", "empty-null"],
)
def test_the_same_cpu_shares_are_current(cpu_shares, now):
    facts = _hardened(cpu_shares=now)
    assert drift(facts, IMAGE, *WANTED, _wanted(cpu_shares=cpu_shares)) == ""


@pytest.mark.parametrize(
    ("pids_limit", "now"),
    [(64, 128), (64, 0), (64, -1), (64, None), (0, 64), (-1, 64), (None, 64), ("32", 64)],
    ids=[
        "more",
        "unlimited-0",
        "unlimited-minus-1",
        "unlimited-null",
        "0-wanted",
        "minus-1-wanted",
        "null-wanted",
        "str-wanted",
    ],
)
def test_the_pids_limit_differs(pids_limit, now):
    facts = _hardened(pids_limit=now)
    assert drift(facts, IMAGE, *WANTED, _wanted(pids_limit=pids_limit)) == "the PIDs limit differs"


@pytest.mark.parametrize("pids_limit", [0, -1, None, ""], ids=["0", "minus-1", "null", "empty"])
@pytest.mark.parametrize("now", [0, -1, None], ids=["now-0", "now-minus-1", "now-null"])
def test_no_pids_limit_is_unlimited_however_written(pids_limit, now):
    facts = _hardened(pids_limit=now)
    assert drift(facts, IMAGE, *WANTED, _wanted(pids_limit=pids_limit)) == ""


def test_the_same_pids_limit_is_current():
    assert drift(_hardened(pids_limit=64), IMAGE, *WANTED, _wanted(pids_limit="64")) == ""


@pytest.mark.parametrize(
    ("key", "now"), [("labels", {}), ("memory", 1), ("cpu_shares", 2), ("pids_limit", 3)]
)
def test_a_setting_not_in_wanted_is_not_compared(key, now):
    wanted = _wanted()
    del wanted[key]
    facts = _hardened(**{key: now})
    assert drift(facts, IMAGE, *WANTED, wanted) == ""
    assert drift(facts, IMAGE, *WANTED, SETTINGS) != ""


def test_the_settings_are_compared_in_order():
    facts = _hardened(labels={}, memory=1, cpu_shares=2, pids_limit=3)
    assert drift(facts, IMAGE, *WANTED, SETTINGS) == "the container was made with other settings"
    facts = _hardened(memory=1, cpu_shares=2, pids_limit=3)
    assert drift(facts, IMAGE, *WANTED, SETTINGS) == "the memory limit differs"
    facts = _hardened(cpu_shares=2, pids_limit=3)
    assert drift(facts, IMAGE, *WANTED, SETTINGS) == "the CPU shares differ"


def test_the_settings_come_after_image_state_policy_and_ports():
    facts = _hardened(labels={}, memory=1)
    facts["inspected"][NAME]["port_bindings"] = {}
    assert drift(facts, IMAGE, *WANTED, SETTINGS) == "the published ports differ"
    facts["inspected"][NAME]["status"] = "exited"
    assert drift(facts, IMAGE, *WANTED, SETTINGS) == "the container is exited"
    assert drift(_facts(inspected={NAME: None}), IMAGE, *WANTED, SETTINGS) == "there is no container flaskapp"


def test_the_facts_and_wanted_are_not_modified():
    facts, wanted = _hardened(labels=None, memory=None), _wanted()
    before = (copy.deepcopy(facts), copy.deepcopy(wanted))
    drift(facts, IMAGE, *WANTED, wanted)
    assert (facts, wanted) == before


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("128m", 128 * MIB),
        # As docker_container reads them (Ansible's human_to_bytes): "MB"
        # but not "mb"; a size it refuses is -1, never current.
        ("128mb", -1),
        ("128M", 128 * MIB),
        ("128MB", 128 * MIB),
        ("1p", 1024**5),
        (" 128m ", 128 * MIB),
        ("1g", 1024**3),
        ("1gb", -1),
        ("2t", 2 * 1024**4),
        ("1k", 1024),
        ("1kb", -1),
        ("1.5k", 1536),
        ("0.5m", 512 * 1024),
        ("512", 512),
        ("512b", 512),
        (512, 512),
        ("0", 0),
        (0, 0),
        ("", 0),
        (None, 0),
        ("12x", -1),
        ("m", -1),
        ("mb", -1),
        ("b", -1),
        ("abc", -1),
        ("1.2.3m", -1),
    ],
)
def test_bytes(size, expected):
    assert _bytes(size) == expected


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (HARDENED, ""),
        (_hardened(labels={}), "the container was made with other settings"),
        (_hardened(memory=64 * MIB), "the memory limit differs"),
        (_hardened(pids_limit=None), "the PIDs limit differs"),
    ],
    ids=["current", "other-settings", "memory", "pids-unlimited"],
)
def test_drift_with_wanted_settings_on_the_fact_as_ansible_has_it(facts, expected):
    # The 8th argument as flask_plan builds it.
    wanted = {
        "labels": {SETTINGS_LABEL: SETTINGS_HASH},
        "memory": "128m",
        "cpu_shares": 512,
        "pids_limit": 64,
    }
    got = drift(_as_ansible_has_it(facts), IMAGE, NAME, "unless-stopped", ANY_IPV4, 1337, 5000, wanted)
    assert got == expected


# ------------------------------------------------------------ host_errors

LOOPBACK = "127.0.0.1"


def _host(*, containers=(), listening=(), ours="running", image=None, images=...):
    """docker_host_facts' fact read with containers, images, inspect and
    ports=[1337]: ``listening`` as (address, process, pid) on 1337, our
    container (``ours``: its status, None for no container) publishing
    1337 on all addresses, the image as in CURRENT unless given."""
    facts = copy.deepcopy(CURRENT)
    facts["containers"] = list(containers)
    facts["listening"] = {
        "1337": [{"address": a, "process": p, "pid": pid} for a, p, pid in listening],
    }
    if ours is None:
        facts["inspected"][NAME] = None
    else:
        facts["inspected"][NAME]["status"] = ours
    if image is not None:
        facts["images"][IMAGE] = image
    if images is not ...:
        facts["images"] = images
    return facts


def _container(name, state="running", published=((ANY_IPV4, 1337), ("::", 1337))):
    """An entry of docker_host_facts' ``containers``."""
    return {
        "name": name,
        "state": state,
        "image": "nginx:1.25",
        "labels": {},
        "published": [{"ip": ip, "port": port} for ip, port in published],
    }


def _port_error(holders, port=1337):
    return (
        f"flask_app_host_port {port} is already in use on this host by {holders}. "
        f"Choose a free port for flask_app_host_port, or stop what holds it."
    )


def _image_error(registry_says):
    return (
        f"flask_app_image '{IMAGE}' is neither on this host nor in the registry it pulls from "
        f"(the registry says: {registry_says}). Check the name and tag "
        f"(e.g. digitalocean/flask-helloworld:latest), or push the image to that registry or mirror."
    )


MISSING_IMAGE = {
    "id": None,
    "repo_digests": [],
    "registry_digest": None,
    "registry_error": "manifest unknown",
}
DOCKER_PROXY = (ANY_IPV4, "docker-proxy", 4242)


@pytest.mark.parametrize(
    "facts",
    [
        _host(ours=None),
        _host(ours=None, listening=[("10.0.0.5", "nginx", 812)]),
        _host(ours=None, containers=[_container("web", published=[(ANY_IPV4, 8080)])]),
        _host(ours=None, containers=[_container("web", published=[("10.0.0.5", 1337)])]),
        None,
        {},
    ],
    ids=[
        "nothing-there",
        "process-on-another-address",
        "container-on-another-port",
        "container-on-another-address",
        "no-fact",
        "empty-fact",
    ],
)
def test_a_free_port_and_an_existing_image_are_no_error(facts):
    assert host_errors(facts, IMAGE, NAME, LOOPBACK, 1337) == []


@pytest.mark.parametrize(
    ("address", "bind_address"),
    [
        (ANY_IPV4, LOOPBACK),
        ("::", LOOPBACK),
        (LOOPBACK, ANY_IPV4),
        (LOOPBACK, "::"),
        (LOOPBACK, LOOPBACK),
        ("::1", "::1"),
        ("::1", ANY_IPV4),
    ],
    ids=[
        "any-ipv4-vs-loopback",
        "any-ipv6-vs-loopback",
        "loopback-vs-any-ipv4",
        "loopback-vs-any-ipv6",
        "same-address",
        "same-ipv6-address",
        "ipv6-loopback-vs-any-ipv4",
    ],
)
def test_a_process_on_an_overlapping_address_holds_the_port(address, bind_address):
    facts = _host(ours=None, listening=[(address, "nginx", 812)])
    assert host_errors(facts, IMAGE, NAME, bind_address, 1337) == [
        _port_error(f"nginx (pid 812) on {address}")
    ]


@pytest.mark.parametrize(
    ("address", "bind_address"),
    [("10.0.0.5", LOOPBACK), (LOOPBACK, "10.0.0.5"), ("::1", LOOPBACK), (LOOPBACK, "::1")],
    ids=["other-ipv4", "loopback-vs-other-ipv4", "ipv6-loopback-vs-loopback", "loopback-vs-ipv6-loopback"],
)
def test_a_process_on_a_disjoint_address_does_not_hold_the_port(address, bind_address):
    facts = _host(ours=None, listening=[(address, "nginx", 812)])
    assert host_errors(facts, IMAGE, NAME, bind_address, 1337) == []


def test_every_overlapping_process_is_named_and_the_others_left_out():
    facts = _host(
        ours=None,
        listening=[(ANY_IPV4, "nginx", 812), ("10.0.0.5", "sshd", 7), ("::", "nginx", 812)],
    )
    assert host_errors(facts, IMAGE, NAME, LOOPBACK, 1337) == [
        _port_error(f"nginx (pid 812) on {ANY_IPV4}, nginx (pid 812) on ::")
    ]


def test_listeners_on_other_ports_are_not_this_ports():
    facts = _host(ours=None)
    facts["listening"] = {"1337": [], "8080": [{"address": ANY_IPV4, "process": "nginx", "pid": 812}]}
    assert host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337) == []
    assert host_errors(facts, IMAGE, NAME, ANY_IPV4, 8080) == [
        _port_error(f"nginx (pid 812) on {ANY_IPV4}", port=8080)
    ]


@pytest.mark.parametrize("host_port", [1337, "1337"])
def test_our_own_running_container_holding_the_port_is_no_error(host_port):
    # What a converged host shows: our container publishes 1337, its
    # docker-proxy listens on it, and the container list has it too.
    facts = _host(containers=[_container(NAME)], listening=[DOCKER_PROXY, ("::", "docker-proxy", 4243)])
    assert host_errors(facts, IMAGE, NAME, ANY_IPV4, host_port) == []


def test_our_own_container_is_recognised_by_its_host_port_binding_on_any_address():
    facts = _host(listening=[(LOOPBACK, "docker-proxy", 4242)])
    facts["inspected"][NAME]["port_bindings"] = {
        "5000/tcp": [{"HostIp": LOOPBACK, "HostPort": "1337"}],
    }
    assert host_errors(facts, IMAGE, NAME, LOOPBACK, 1337) == []


@pytest.mark.parametrize("status", ["exited", "created", "dead"])
def test_our_stopped_container_does_not_excuse_a_listening_docker_proxy(status):
    facts = _host(ours=status, listening=[DOCKER_PROXY])
    assert host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337) == [
        _port_error(f"docker-proxy (pid 4242) on {ANY_IPV4}")
    ]


def test_our_running_container_publishing_another_port_does_not_excuse_this_one():
    facts = _host(listening=[(ANY_IPV4, "nginx", 812)])
    facts["inspected"][NAME]["port_bindings"] = {"5000/tcp": [{"HostIp": ANY_IPV4, "HostPort": "8080"}]}
    assert host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337) == [_port_error(f"nginx (pid 812) on {ANY_IPV4}")]


def test_another_container_publishing_the_port_is_named_not_its_docker_proxy():
    facts = _host(ours=None, containers=[_container("web")], listening=[DOCKER_PROXY])
    assert host_errors(facts, IMAGE, NAME, LOOPBACK, 1337) == [_port_error("container web")]


@pytest.mark.parametrize(
    ("published", "bind_address"),
    [
        ([(ANY_IPV4, 1337)], LOOPBACK),
        ([("::", 1337)], LOOPBACK),
        ([(LOOPBACK, 1337)], ANY_IPV4),
        ([(LOOPBACK, 1337)], LOOPBACK),
        ([(LOOPBACK, 443), ("::1", 1337)], "::1"),
    ],
    ids=["on-any-ipv4", "on-any-ipv6", "on-loopback-vs-any", "same-address", "one-of-several"],
)
def test_another_container_on_an_overlapping_address_holds_the_port(published, bind_address):
    # With the userland proxy off nothing listens: the container list tells.
    facts = _host(ours=None, containers=[_container("web", published=published)])
    assert host_errors(facts, IMAGE, NAME, bind_address, 1337) == [_port_error("container web")]


def test_every_other_container_holding_the_port_is_named():
    containers = [
        _container("web"),
        _container("api", published=[(LOOPBACK, 1337)]),
        _container("intranet", published=[("10.0.0.5", 1337)]),
    ]
    facts = _host(ours="exited", containers=[*containers, _container(NAME, state="exited")])
    assert host_errors(facts, IMAGE, NAME, LOOPBACK, 1337) == [_port_error("container web, container api")]


@pytest.mark.parametrize("state", ["exited", "created", "dead"])
def test_another_container_not_running_is_ignored(state):
    facts = _host(ours=None, containers=[_container("web", state=state)])
    assert host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337) == []


def test_unknown_containers_and_listeners_are_no_error():
    # containers null: the daemon did not answer; listening not read.
    facts = _host(ours=None)
    facts["containers"] = None
    del facts["listening"]
    assert host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337) == []


@pytest.mark.parametrize(
    ("error", "registry_says"),
    [
        ("manifest unknown", "manifest unknown"),
        (
            'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
            'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host',
        ),
        ("", "nothing"),
        (None, "nothing"),
    ],
    ids=["manifest-unknown", "unreachable", "empty-error", "no-error"],
)
def test_an_image_neither_local_nor_in_the_registry_is_an_error(error, registry_says):
    facts = _host(image={**MISSING_IMAGE, "registry_error": error})
    assert host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337) == [_image_error(registry_says)]


@pytest.mark.parametrize(
    "image",
    [
        {**CURRENT["images"][IMAGE], "registry_digest": None, "registry_error": "manifest unknown"},
        {**MISSING_IMAGE, "registry_digest": DIGEST, "registry_error": ""},
    ],
    ids=["local-but-registry-error", "in-the-registry-not-pulled"],
)
def test_an_image_found_on_either_side_is_no_error(image):
    assert host_errors(_host(image=image), IMAGE, NAME, ANY_IPV4, 1337) == []


@pytest.mark.parametrize(
    "images",
    [None, {}, {"registry:2": MISSING_IMAGE}],
    ids=["daemon-not-answering", "not-asked", "another-image-read"],
)
def test_an_image_not_read_is_no_error(images):
    assert host_errors(_host(images=images), IMAGE, NAME, ANY_IPV4, 1337) == []


def test_both_errors_at_once_port_first():
    facts = _host(ours=None, listening=[(ANY_IPV4, "nginx", 812)], image=MISSING_IMAGE)
    errors = host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337)
    assert errors == [_port_error(f"nginx (pid 812) on {ANY_IPV4}"), _image_error("manifest unknown")]
    # Each names the variable to change and how.
    assert "flask_app_host_port" in errors[0]
    assert "Choose a free port" in errors[0]
    assert "flask_app_image" in errors[1]
    assert "Check the name and tag" in errors[1]


def test_host_errors_do_not_modify_the_facts():
    facts = _host(
        ours="exited", containers=[_container("web")], listening=[DOCKER_PROXY], image=MISSING_IMAGE
    )
    before = copy.deepcopy(facts)
    host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337)
    assert facts == before


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (_host(containers=[_container(NAME)], listening=[DOCKER_PROXY]), []),
        (
            _host(ours=None, listening=[(ANY_IPV4, "nginx", 812)], image=MISSING_IMAGE),
            [_port_error(f"nginx (pid 812) on {ANY_IPV4}"), _image_error("manifest unknown")],
        ),
    ],
    ids=["converged", "both-errors"],
)
def test_host_errors_on_the_fact_as_ansible_has_it(facts, expected):
    # As flask_plan calls it: the port an int, the listening keys strings (JSON).
    assert host_errors(_as_ansible_has_it(facts), IMAGE, NAME, ANY_IPV4, 1337) == expected


def test_our_container_does_not_excuse_another_program_on_the_same_port():
    # Ours publishes 127.0.0.1:1337; nginx holds 10.0.0.5:1337; the role now
    # wants every address: recreating ours would fail once the old one is gone.
    facts = _host(listening=[(LOOPBACK, "docker-proxy", 4242), ("10.0.0.5", "nginx", 812)])
    facts["inspected"][NAME]["port_bindings"] = {"5000/tcp": [{"HostIp": LOOPBACK, "HostPort": "1337"}]}
    assert host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337) == [_port_error("nginx (pid 812) on 10.0.0.5")]


def test_a_docker_proxy_on_an_address_ours_does_not_publish_is_in_the_way():
    facts = _host(listening=[("10.0.0.5", "docker-proxy", 4244)])
    facts["inspected"][NAME]["port_bindings"] = {"5000/tcp": [{"HostIp": LOOPBACK, "HostPort": "1337"}]}
    assert host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337) == [
        _port_error("docker-proxy (pid 4244) on 10.0.0.5")
    ]


def test_a_udp_port_another_container_publishes_is_not_in_the_way():
    web = _container("web", published=[])
    web["published"] = [{"ip": ANY_IPV4, "port": 1337, "type": "udp"}]
    assert host_errors(_host(ours=None, containers=[web]), IMAGE, NAME, ANY_IPV4, 1337) == []


def test_a_listener_whose_owner_is_unknown_is_still_reported():
    facts = _host(ours=None, listening=[(ANY_IPV4, "?", None)])
    (message,) = host_errors(facts, IMAGE, NAME, ANY_IPV4, 1337)
    assert "a process this run may not name (run as root to see it) on 0.0.0.0" in message

"""plugins/module_utils/_systemd: unit file parsing, on real unit text; and
where systemd finds units and drop-ins, and the ExecStart a unit runs after
them, in temporary unit directories."""

import pytest
from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import (
    SYSTEMD_DIR,
    UNIT_DIRS,
    dropins,
    effective_exec_start,
    exec_start_values,
    join_command,
    parse_unit,
    sets_exec_start,
    split_command,
    unit_dropins,
    unit_file,
)

# Debian 12's docker.io 20.10 unit, [Service] section, as packaged.
DEBIAN_SERVICE = """\
[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=network-online.target docker.socket firewalld.service containerd.service
Wants=network-online.target containerd.service
Requires=docker.socket

[Service]
Type=notify
# the default is not to use systemd for cgroups because the delegate issues still
# exists and systemd currently does not support the cgroup feature set required
# for containers run by docker
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
"""
DEBIAN_EXEC = "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS"


def test_parse_unit_returns_section_key_value_in_order():
    entries = parse_unit(DEBIAN_SERVICE)
    assert entries[0] == ("Unit", "Description", "Docker Application Container Engine")
    assert ("Service", "EnvironmentFile", "-/etc/default/docker") in entries
    assert ("Service", "ExecStart", DEBIAN_EXEC) in entries
    assert entries[-1] == ("Install", "WantedBy", "multi-user.target")


@pytest.mark.parametrize("comment", ["# a comment", "; a comment", "   # indented", ""])
def test_parse_unit_skips_comments_and_blank_lines(comment):
    assert parse_unit(f"[Service]\n{comment}\nType=notify\n") == [("Service", "Type", "notify")]


def test_parse_unit_joins_continuation_lines_with_a_space():
    text = "[Service]\nExecStart=/usr/bin/dockerd \\\n    -H fd:// \\\n    --debug\n"
    assert parse_unit(text) == [("Service", "ExecStart", "/usr/bin/dockerd -H fd:// --debug")]


def test_parse_unit_ignores_comments_inside_a_continuation():
    text = "[Service]\nExecStart=/usr/bin/dockerd \\\n# not this\n  -H fd://\n"
    assert parse_unit(text) == [("Service", "ExecStart", "/usr/bin/dockerd -H fd://")]


def test_parse_unit_keeps_a_continuation_left_open_at_the_end():
    assert parse_unit("[Service]\nExecStart=/usr/bin/dockerd \\") == [
        ("Service", "ExecStart", "/usr/bin/dockerd")
    ]


def test_parse_unit_keeps_equals_signs_in_the_value():
    assert parse_unit("[Service]\nEnvironment=A=1 B=2\n") == [("Service", "Environment", "A=1 B=2")]


def test_parse_unit_ignores_lines_without_a_key():
    assert parse_unit("[Service]\ngarbage\nType=notify\n") == [("Service", "Type", "notify")]


def test_parse_unit_before_any_section_has_no_section():
    assert parse_unit("Key=value\n") == [(None, "Key", "value")]


def test_exec_start_values_of_the_debian_unit():
    assert exec_start_values(DEBIAN_SERVICE) == [DEBIAN_EXEC]


def test_an_empty_exec_start_resets_the_list():
    text = "[Service]\nExecStart=/bin/old\nExecStart=\nExecStart=/bin/new\n"
    assert exec_start_values(text) == ["/bin/new"]


def test_exec_start_outside_service_is_ignored():
    assert exec_start_values("[Unit]\nExecStart=/bin/nope\n[Service]\nType=oneshot\n") == []


def test_several_exec_starts_are_all_returned():
    assert exec_start_values("[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n") == ["/bin/a", "/bin/b"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[Service]\nExecStart=\n", True),
        ("[Service]\nExecStart=/usr/bin/dockerd\n", True),
        ("[Service]\nEnvironment=DOCKER_OPTS=--debug\n", False),
        ("[Service]\n# ExecStart=/usr/bin/dockerd\n", False),
        ("[Unit]\nExecStart=/usr/bin/dockerd\n", False),
        ("", False),
    ],
)
def test_sets_exec_start(text, expected):
    assert sets_exec_start(text) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (DEBIAN_EXEC, ("", DEBIAN_EXEC.split())),
        ("-/usr/bin/dockerd --debug", ("-", ["/usr/bin/dockerd", "--debug"])),
        ("+@/usr/bin/dockerd dockerd", ("+@", ["/usr/bin/dockerd", "dockerd"])),
        ('/usr/bin/dockerd --label "a b"', ("", ["/usr/bin/dockerd", "--label", "a b"])),
        ("/usr/bin/dockerd --label 'a b'", ("", ["/usr/bin/dockerd", "--label", "a b"])),
    ],
)
def test_split_command(value, expected):
    assert split_command(value) == expected


@pytest.mark.parametrize(
    ("prefix", "argv", "expected"),
    [
        ("", ["-H", "tcp://0.0.0.0:2376"], "-H tcp://0.0.0.0:2376"),
        ("", ["-H", "tcp://[::1]:2376"], "-H tcp://[::1]:2376"),
        ("", ["--tlscacert=/etc/docker/tls/ca.pem"], "--tlscacert=/etc/docker/tls/ca.pem"),
        ("", ["--tlscert=/etc/my certs/c.pem"], "'--tlscert=/etc/my certs/c.pem'"),
        ("-", ["/usr/bin/dockerd", ""], "-/usr/bin/dockerd ''"),
        ("", ["-H", "tcp://[fe80::1%eth0]:2376"], "-H tcp://[fe80::1%%eth0]:2376"),
        ("", ["--tlskey=/etc/tls/$HOST.pem"], "'--tlskey=/etc/tls/$$HOST.pem'"),
    ],
)
def test_join_command_quotes_only_when_needed_and_escapes_specifiers(prefix, argv, expected):
    assert join_command(prefix, argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["/usr/sbin/dockerd", "-H", "fd://", "--tlscert=/etc/my certs/c.pem"],
        ["/usr/sbin/dockerd", "--label", "it's"],
        ["/usr/sbin/dockerd", "--label", 'say "hi"'],
    ],
)
def test_join_then_split_gives_the_same_argv(argv):
    assert split_command(join_command("-", argv)) == ("-", argv)


def test_dropins_lists_only_conf_files_sorted(tmp_path):
    for name in ("50-b.conf", "10-a.conf", "notes.txt", "z.conf.bak"):
        (tmp_path / name).write_text("[Service]\n")
    assert dropins(str(tmp_path)) == [
        ("10-a.conf", str(tmp_path / "10-a.conf")),
        ("50-b.conf", str(tmp_path / "50-b.conf")),
    ]


def test_dropins_of_a_missing_directory_is_empty(tmp_path):
    assert dropins(str(tmp_path / "docker.service.d")) == []


def test_dropins_of_a_path_that_is_a_file_is_empty(tmp_path):
    (tmp_path / "docker.service.d").write_text("not a directory\n")
    assert dropins(str(tmp_path / "docker.service.d")) == []


def test_the_unit_search_path_is_systemds_highest_precedence_first():
    assert SYSTEMD_DIR == "/etc/systemd/system"
    assert UNIT_DIRS == (
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/local/lib/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
    )


def _unit_dirs(tmp_path, *names):
    dirs = [tmp_path / name for name in names]
    for directory in dirs:
        directory.mkdir(parents=True)
    return [str(directory) for directory in dirs]


def test_unit_file_is_the_first_in_the_search_path(tmp_path):
    etc, run, lib = _unit_dirs(tmp_path, "etc", "run", "lib")
    (tmp_path / "lib" / "docker.service").write_text("[Service]\n")
    assert unit_file("docker.service", (etc, run, lib)) == f"{lib}/docker.service"
    (tmp_path / "run" / "docker.service").write_text("[Service]\n")
    assert unit_file("docker.service", (etc, run, lib)) == f"{run}/docker.service"


def test_unit_file_of_a_unit_not_installed_is_none(tmp_path):
    etc, lib = _unit_dirs(tmp_path, "etc", "lib")
    (tmp_path / "lib" / "docker.service").mkdir()  # a directory is no unit file
    assert unit_file("docker.service", (etc, lib)) is None


def test_unit_dropins_are_ordered_by_name_and_masked_by_earlier_directories(tmp_path):
    etc, lib = _unit_dirs(tmp_path, "etc/docker.service.d", "lib/docker.service.d")
    for directory, name in [(lib, "10-a.conf"), (lib, "50-b.conf"), (etc, "50-b.conf"), (etc, "90-c.conf")]:
        (tmp_path / directory / name).write_text("[Service]\n")
    (tmp_path / lib / "notes.txt").write_text("[Service]\n")
    dirs = (str(tmp_path / "etc"), str(tmp_path / "lib"))
    assert unit_dropins("docker.service", dirs) == [
        f"{lib}/10-a.conf",
        f"{etc}/50-b.conf",
        f"{etc}/90-c.conf",
    ]
    assert unit_dropins("other.service", dirs) == []


# --- effective_exec_start: the command line the unit runs after its drop-ins ------------------

LISTENER_EXEC = (
    f"{DEBIAN_EXEC} -H tcp://0.0.0.0:2376 --tlsverify --tlscacert=/etc/docker/tls/ca.pem"
    " --tlscert=/etc/docker/tls/server-cert.pem --tlskey=/etc/docker/tls/server-key.pem"
)


@pytest.fixture
def units(tmp_path):
    """Unit directories etc and lib (highest precedence first), and
    ``write(directory, relative path, text)`` to put a file in one."""
    dirs = tuple(_unit_dirs(tmp_path, "etc", "lib"))

    def write(directory, path, text):
        target = tmp_path / directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return str(target)

    return dirs, write


def _read_files(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_the_vendor_units_exec_start_when_nothing_overrides_it(units):
    dirs, write = units
    write("lib", "docker.service", DEBIAN_SERVICE)
    assert effective_exec_start("docker.service", _read_files, dirs) == DEBIAN_EXEC.split()


def test_a_dropin_that_resets_exec_start_wins(units):
    dirs, write = units
    write("lib", "docker.service", DEBIAN_SERVICE)
    write(
        "etc",
        "docker.service.d/dockerlab-listener.conf",
        f"[Service]\nExecStart=\nExecStart={LISTENER_EXEC}\n",
    )
    assert effective_exec_start("docker.service", _read_files, dirs) == split_command(LISTENER_EXEC)[1]


def test_a_dropin_that_sets_no_exec_start_changes_nothing(units):
    dirs, write = units
    write("lib", "docker.service", DEBIAN_SERVICE)
    write("etc", "docker.service.d/10-limits.conf", "[Service]\nLimitNOFILE=1024\n")
    assert effective_exec_start("docker.service", _read_files, dirs) == DEBIAN_EXEC.split()


def test_the_last_dropin_by_name_wins_and_an_earlier_directory_masks_a_later_one(units):
    dirs, write = units
    write("lib", "docker.service", DEBIAN_SERVICE)
    write("lib", "docker.service.d/50-a.conf", "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --lib-a\n")
    write("lib", "docker.service.d/90-z.conf", "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --lib-z\n")
    assert effective_exec_start("docker.service", _read_files, dirs) == ["/usr/sbin/dockerd", "--lib-z"]
    # /etc's 90-z.conf masks /lib's: it sets nothing, so 50-a.conf's is left.
    write("etc", "docker.service.d/90-z.conf", "[Service]\nLimitNOFILE=1024\n")
    assert effective_exec_start("docker.service", _read_files, dirs) == ["/usr/sbin/dockerd", "--lib-a"]


def test_the_unit_file_of_an_earlier_directory_is_the_one_read(units):
    dirs, write = units
    write("lib", "docker.service", DEBIAN_SERVICE)
    write("etc", "docker.service", "[Service]\nExecStart=/usr/local/bin/dockerd -H unix:///run/d.sock\n")
    assert effective_exec_start("docker.service", _read_files, dirs) == [
        "/usr/local/bin/dockerd",
        "-H",
        "unix:///run/d.sock",
    ]


def test_the_prefix_is_left_out_and_quoting_and_continuations_are_systemds(units):
    dirs, write = units
    write(
        "lib",
        "docker.service",
        "[Service]\nExecStart=-/usr/sbin/dockerd \\\n  --label 'a b' \\\n  -H fd://\n",
    )
    assert effective_exec_start("docker.service", _read_files, dirs) == [
        "/usr/sbin/dockerd",
        "--label",
        "a b",
        "-H",
        "fd://",
    ]


def test_a_unit_not_installed_runs_nothing_whatever_its_dropins_say(units):
    dirs, write = units
    write(
        "etc",
        "docker.service.d/dockerlab-listener.conf",
        f"[Service]\nExecStart=\nExecStart={LISTENER_EXEC}\n",
    )
    assert effective_exec_start("docker.service", _read_files, dirs) is None


@pytest.mark.parametrize(
    ("unit", "dropin"),
    [
        ("[Service]\nType=notify\n", None),
        (DEBIAN_SERVICE, "[Service]\nExecStart=\n"),
        ("[Unit]\nExecStart=/usr/sbin/dockerd\n", None),
        ("", None),
    ],
    ids=["no-exec-start", "reset-by-a-dropin", "outside-service", "empty-unit"],
)
def test_a_unit_that_sets_no_exec_start_is_none(units, unit, dropin):
    dirs, write = units
    write("lib", "docker.service", unit)
    if dropin is not None:
        write("etc", "docker.service.d/override.conf", dropin)
    assert effective_exec_start("docker.service", _read_files, dirs) is None


def test_the_text_comes_from_read_in_systemds_order(units):
    # The files are found on disk; their text is what ``read`` says.
    dirs, write = units
    vendor = write("lib", "docker.service", "[Service]\nExecStart=/on/disk\n")
    late = write("lib", "docker.service.d/90-late.conf", "")
    early = write("etc", "docker.service.d/10-early.conf", "")
    texts = {
        vendor: DEBIAN_SERVICE,
        early: "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --early\n",
        late: "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd --late\n",
    }
    asked = []

    def read(path):
        asked.append(path)
        return texts.get(path)

    assert effective_exec_start("docker.service", read, dirs) == ["/usr/sbin/dockerd", "--late"]
    assert asked == [vendor, early, late]


def test_a_file_read_gives_no_text_for_counts_as_empty(units):
    dirs, write = units
    vendor = write("lib", "docker.service", DEBIAN_SERVICE)
    write("etc", "docker.service.d/override.conf", "")
    assert effective_exec_start("docker.service", {vendor: DEBIAN_SERVICE}.get, dirs) == DEBIAN_EXEC.split()
    assert effective_exec_start("docker.service", lambda path: None, dirs) is None


def test_the_default_search_path_is_systemds(monkeypatch):
    seen = []
    monkeypatch.setattr("os.path.isfile", lambda path: seen.append(path) or False)
    assert effective_exec_start("dockerlab-no-such.service", lambda path: "") is None
    assert seen == [f"{directory}/dockerlab-no-such.service" for directory in UNIT_DIRS]


# --- socket units that hand their sockets to a service ---------------------------
DEBIAN_DOCKER_SOCKET = """\
[Unit]
Description=Docker Socket for the API

[Socket]
# If /var/run is not implemented as a symlink to /run, you may need to
# specify ListenStream=/var/run/docker.sock instead.
ListenStream=/run/docker.sock
SocketMode=0660
SocketUser=root
SocketGroup=docker

[Install]
WantedBy=sockets.target
"""


@pytest.fixture
def socket_units(tmp_path):
    etc, lib = tmp_path / "etc", tmp_path / "lib"
    (lib).mkdir()
    (lib / "docker.socket").write_text(DEBIAN_DOCKER_SOCKET)
    (lib / "docker.service").write_text("[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n")
    etc.mkdir()
    return etc, lib


def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def test_the_vendor_socket_holds_only_the_unix_socket(socket_units):
    from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import service_sockets

    assert service_sockets("docker.service", read, tuple(map(str, socket_units))) == [
        ("docker.socket", ["/run/docker.sock"])
    ]


def test_a_socket_dropin_adds_a_tcp_stream_and_an_empty_value_resets(socket_units):
    from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import service_sockets

    etc, _lib = socket_units
    (etc / "docker.socket.d").mkdir()
    (etc / "docker.socket.d" / "tcp.conf").write_text("[Socket]\nListenStream=0.0.0.0:2375\n")
    assert service_sockets("docker.service", read, tuple(map(str, socket_units))) == [
        ("docker.socket", ["/run/docker.sock", "0.0.0.0:2375"])
    ]
    (etc / "docker.socket.d" / "zz-only-tcp.conf").write_text("[Socket]\nListenStream=\nListenStream=2376\n")
    assert service_sockets("docker.service", read, tuple(map(str, socket_units))) == [
        ("docker.socket", ["2376"])
    ]


def test_the_sockets_the_service_names_are_read_too(socket_units):
    from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import service_sockets

    etc, _lib = socket_units
    (etc / "docker.service.d").mkdir()
    (etc / "docker.service.d" / "tcp.conf").write_text("[Service]\nSockets=docker.socket docker-tcp.socket\n")
    (etc / "docker-tcp.socket").write_text("[Socket]\nListenStream=127.0.0.1:2376\nService=docker.service\n")
    assert service_sockets("docker.service", read, tuple(map(str, socket_units))) == [
        ("docker.socket", ["/run/docker.sock"]),
        ("docker-tcp.socket", ["127.0.0.1:2376"]),
    ]


def test_a_service_without_socket_units_has_none(tmp_path):
    from ansible_collections.dockerlab.docker.plugins.module_utils._systemd import service_sockets

    assert service_sockets("docker.service", read, (str(tmp_path),)) == []

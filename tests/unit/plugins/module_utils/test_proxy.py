"""plugins/module_utils/_proxy: the environment drop-in of the daemon's
unit, one rendering for docker_daemon_environment (which writes it) and the
filter engine_plan (which predicts its sha256): which names and values it
can hold, systemd's quoting (read back by the real systemd where
systemd-analyze is installed), and the proxy variables dockerd reads."""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.dockerlab.docker.plugins.module_utils._files import text_sha256 as sha256
from ansible_collections.dockerlab.docker.plugins.module_utils._proxy import (
    DROPIN_NAME,
    DROPIN_PATH,
    HEADER,
    UNIT,
    name_error,
    proxy_environment,
    quote,
    render,
    value_error,
)

ROOT = Path(__file__).resolve().parents[4]
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def test_the_default_dropin_is_docker_service_s_dockerlab_proxy():
    assert (UNIT, DROPIN_NAME) == ("docker.service", "dockerlab-proxy")
    assert DROPIN_PATH == "/etc/systemd/system/docker.service.d/dockerlab-proxy.conf"


def test_docker_engine_reads_and_manages_the_same_dropin():
    variables = yaml.safe_load((ROOT / "roles" / "docker_engine" / "vars" / "main.yml").read_text())
    assert variables["_docker_engine_proxy_dropin"] == DROPIN_PATH
    assert DROPIN_PATH in variables["docker_engine_host_read_request"]["files"]


def test_the_dropin_has_a_header_and_one_line_per_variable_in_name_order():
    assert render({"NO_PROXY": "localhost", "HTTP_PROXY": "http://proxy.lab:3128"}) == (
        "# Managed by Ansible (docker_daemon_environment): manual changes will be lost.\n"
        "[Service]\n"
        'Environment="HTTP_PROXY=http://proxy.lab:3128"\n'
        'Environment="NO_PROXY=localhost"\n'
    )
    assert render({"NO_PROXY": "localhost", "HTTP_PROXY": "http://proxy.lab:3128"}).startswith(HEADER)


@pytest.mark.parametrize("environment", [{}, None])
def test_no_environment_is_no_dropin(environment):
    assert render(environment) is None


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("http://proxy.lab:3128", '"A=http://proxy.lab:3128"'),
        ("http://u:p%40ss@proxy.lab:3128", '"A=http://u:p%%40ss@proxy.lab:3128"'),
        ('say "hi"', '"A=say \\"hi\\""'),
        ("C:\\dir\\", '"A=C:\\\\dir\\\\"'),
        ("a b  c ", '"A=a b  c "'),
        ("$HOME ${X}", '"A=$HOME ${X}"'),
        ("", '"A="'),
    ],
)
def test_values_are_quoted_as_systemd_reads_them(value, quoted):
    assert quote("A", value) == quoted


def test_sha256_is_that_of_the_files_bytes():
    text = render({"HTTP_PROXY": "http://prøxy.lab:3128"})
    assert sha256(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert sha256(None) is None


# -------------------------------------------------- read back by the real systemd

ODD_VALUES = {
    "PERCENT": "http://u:p%40ss@proxy.lab:3128/100%",
    "SPECIFIER": "%n %i %%",
    "QUOTES": "say \"hi\" and 'bye'",
    "BACKSLASHES": "C:\\dir\\ \\n \\x41 \\",
    "DOLLARS": "$HOME ${HOME} $$",
    "SPACES": "  a  b  ",
    "SEMICOLON_HASH": "a;b #c",
    "EQUALS": "a=b==c",
    "UNICODE": "prøxy.lab ✓",
    "EMPTY": "",
}


def systemd_environment(tmp_path, text):
    """The environment systemd 's own parser gives a unit with the drop-in
    ``text`` (systemd-analyze verify dumps the unit at debug level)."""
    units = tmp_path / "units"
    (units / "dockerlab-test.service.d").mkdir(parents=True)
    (units / "dockerlab-test.service").write_text("[Service]\nExecStart=/bin/true\n")
    (units / "dockerlab-test.service.d" / "dockerlab-proxy.conf").write_text(text, encoding="utf-8")
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(units / "dockerlab-test.service")],
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "debug", "SYSTEMD_UNIT_PATH": f"{units}:"},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    assert "DropIn Path: " in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Invalid" not in done.stderr, done.stderr[-2000:]
    prefix = "Environment: "
    lines = (line.lstrip("\t") for line in done.stdout.splitlines())
    return dict(line[len(prefix) :].split("=", 1) for line in lines if line.startswith(prefix))


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed here")
def test_systemd_reads_back_every_value_as_given(tmp_path):
    assert systemd_environment(tmp_path, render(ODD_VALUES)) == ODD_VALUES


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed here")
def test_systemd_reads_back_the_proxy_environment(tmp_path):
    environment = proxy_environment(
        "http://proxy.lab:3128", "http://user:p%40ss@proxy.lab:3128", ["localhost", ".lab"]
    )
    assert systemd_environment(tmp_path, render(environment)) == environment


# ----------------------------------------------------------- names and values


@pytest.mark.parametrize("name", ["HTTP_PROXY", "no_proxy", "_X", "A1", "a"])
def test_valid_names(name):
    assert name_error(name) is None


@pytest.mark.parametrize("name", ["", "1X", "HTTP-PROXY", "A B", "A=B", "ÄX", "X\n", 'X"', "%n", 7])
def test_invalid_names_are_named(name):
    assert name_error(name) == (
        f"{name!r} is not a valid variable name: use letters, digits and underscores, "
        "not starting with a digit"
    )


@pytest.mark.parametrize("value", ["", "http://proxy.lab:3128", "a b", "ü", '"\\%$;#'])
def test_values_a_dropin_line_can_hold(value):
    assert value_error(value) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("http://proxy.lab:3128\n", "contains a newline, which a drop-in line cannot hold"),
        ("a\nb", "contains a newline, which a drop-in line cannot hold"),
        ("a\rb", "contains the control character '\\r', which a drop-in line cannot hold"),
        ("a\tb", "contains the control character '\\t', which a drop-in line cannot hold"),
        ("a\x00b", "contains the control character '\\x00', which a drop-in line cannot hold"),
        ("a\x7fb", "contains the control character '\\x7f', which a drop-in line cannot hold"),
        (3128, "is not a string: quote it"),
        (True, "is not a string: quote it"),
        (None, "is not a string: quote it"),
        (["a"], "is not a string: quote it"),
    ],
)
def test_values_a_dropin_line_cannot_hold_say_why(value, why):
    assert value_error(value) == why


# ------------------------------------------------------------ dockerd's proxy


def test_each_proxy_variable_is_set_in_both_cases():
    assert proxy_environment("http://p:3128", "https://p:3129", ["localhost", "10.0.0.0/8"]) == {
        "HTTP_PROXY": "http://p:3128",
        "http_proxy": "http://p:3128",
        "HTTPS_PROXY": "https://p:3129",
        "https_proxy": "https://p:3129",
        "NO_PROXY": "localhost,10.0.0.0/8",
        "no_proxy": "localhost,10.0.0.0/8",
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("", "", []), {}),
        ((None, None, None), {}),
        (("", "", ["", "  "]), {}),
        (("http://p:3128", "", []), {"HTTP_PROXY": "http://p:3128", "http_proxy": "http://p:3128"}),
        (("", "http://p:3128", []), {"HTTPS_PROXY": "http://p:3128", "https_proxy": "http://p:3128"}),
        (("", "", [" .lab ", "", "localhost"]), {"NO_PROXY": ".lab,localhost", "no_proxy": ".lab,localhost"}),
    ],
)
def test_only_what_is_set_is_in_the_environment(args, expected):
    assert proxy_environment(*args) == expected


def test_the_proxy_dropin_in_full():
    environment = proxy_environment("http://proxy.lab:3128", "http://proxy.lab:3128", ["localhost", ".lab"])
    assert render(environment) == (
        "# Managed by Ansible (docker_daemon_environment): manual changes will be lost.\n"
        "[Service]\n"
        'Environment="HTTPS_PROXY=http://proxy.lab:3128"\n'
        'Environment="HTTP_PROXY=http://proxy.lab:3128"\n'
        'Environment="NO_PROXY=localhost,.lab"\n'
        'Environment="http_proxy=http://proxy.lab:3128"\n'
        'Environment="https_proxy=http://proxy.lab:3128"\n'
        'Environment="no_proxy=localhost,.lab"\n'
    )

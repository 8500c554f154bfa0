"""plugins/filter/channel_rows: the rows of docker_channels' table. The
steps' tasks judge them; the filter reads each verdict from the registered
result (failed, skipped, neither) and says what the step said: a skipped
step names the step it needed, and the "no cert" check tells a refusal by
the daemon from a failure of the check itself. Results are shaped as
ansible-core registers them (real curl and docker outputs, as measured on
the lab hosts)."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.dockerlab.docker.plugins.filter.channel_rows import channel_rows

SKIPPED = {
    "changed": False,
    "skipped": True,
    "skip_reason": "Conditional result was False",
    "false_condition": "x",
}


def ran(rc=0, stdout="", stderr="", failed=False):
    result = {"rc": rc, "stdout": stdout, "stderr": stderr, "changed": False}
    if failed:
        result["failed"] = True
    return result


def test_a_walk_that_worked_says_what_each_step_said():
    rows = channel_rows(
        [
            {
                "step": "1 pull",
                "says": "status",
                "result": ran(
                    stdout="latest: Pulling\nStatus: Image is up to date for x:latest\ndocker.io/x:latest"
                ),
            },
            {"step": "2 list images", "says": "lines", "result": ran(stdout="x:latest 3bd86e7b8e9a\n")},
            {
                "step": "3 create",
                "says": "id",
                "name": "flaskapp-unix",
                "result": ran(stdout="05e6047c2d14" + "a" * 52),
            },
            {
                "step": "4 start",
                "says": "port",
                "port": 1338,
                "container_port": 5000,
                "result": ran(stdout="flaskapp-unix"),
            },
            {"step": "5 get page", "says": "page", "port": 1338, "result": ran(stdout="Hello World!")},
        ],
        "unix",
    )
    assert rows == [
        {
            "channel": "unix",
            "step": "1 pull",
            "state": "ok",
            "detail": "Status: Image is up to date for x:latest",
        },
        {"channel": "unix", "step": "2 list images", "state": "ok", "detail": "x:latest 3bd86e7b8e9a"},
        {"channel": "unix", "step": "3 create", "state": "ok", "detail": "flaskapp-unix 05e6047c2d14"},
        {"channel": "unix", "step": "4 start", "state": "ok", "detail": "port 1338 -> 5000"},
        {
            "channel": "unix",
            "step": "5 get page",
            "state": "ok",
            "detail": "http://127.0.0.1:1338/ says Hello World!",
        },
    ]


def test_the_api_answers_are_read_from_their_json():
    stream = (
        '{"status":"Pulling from x","id":"latest"}\n{"status":"Status: Image is up to date for x:latest"}\n'
    )
    rows = channel_rows(
        [
            {
                "step": "0 version",
                "says": "version",
                "result": ran(stdout='{"ApiVersion":"1.45","Version":"26.1.5"}'),
            },
            {"step": "1 pull", "says": "status", "result": ran(stdout=stream)},
            {"step": "2 list images", "says": "count", "result": ran(stdout='[{"Id":"a"},{"Id":"b"}]')},
            {
                "step": "3 create",
                "says": "id",
                "name": "flaskapp-api",
                "result": ran(stdout='{"Id":"754349696f14bbbb","Warnings":[]}'),
            },
            {"step": "4 start", "says": "http", "result": ran(stdout="204")},
        ],
        "api+tls",
    )
    assert [row["detail"] for row in rows] == [
        "API v1.45",
        "Status: Image is up to date for x:latest",
        "2 images",
        "flaskapp-api 754349696f14",
        "HTTP 204",
    ]


def test_a_failed_step_says_its_error_and_the_steps_after_it_name_what_they_needed():
    rows = channel_rows(
        [
            {
                "step": "1 pull",
                "says": "status",
                "result": ran(
                    1,
                    stderr='could not read CA certificate "/home/student/.docker/ca.pem": open: no such file',
                    failed=True,
                ),
            },
            {"step": "3 create", "says": "id", "result": SKIPPED, "needs": "1 pull"},
            {"step": "4 start", "says": "port", "result": SKIPPED, "needs": "3 create"},
        ],
        "tcp+tls",
    )
    assert [(row["state"], row["detail"]) for row in rows] == [
        ("fail", 'could not read CA certificate "/home/student/.docker/ca.pem": open: no such file'),
        ("skip", "skipped: needs 1 pull, which did not work"),
        ("skip", "skipped: needs 3 create, which did not work"),
    ]


def test_a_page_that_never_answered_says_so():
    result = ran(
        7, stderr="curl: (7) Failed to connect to 127.0.0.1 port 1338: Connection refused", failed=True
    )
    result["attempts"] = 30
    [row] = channel_rows([{"step": "5 get page", "says": "page", "port": 1338, "result": result}], "unix")
    assert row == {
        "channel": "unix",
        "step": "5 get page",
        "state": "fail",
        "detail": "http://127.0.0.1:1338/ says " + result["stderr"],
    }


# What curl printed, measured on the lab hosts: Docker 20.10 sends "bad
# certificate", Docker 26.1 (TLS 1.3) "certificate required".
DOCKER_20_REFUSAL = (
    "curl: (56) OpenSSL SSL_read: OpenSSL/3.0.22: error:0A000412:SSL routines::"
    "sslv3 alert bad certificate, errno 0"
)
DOCKER_26_REFUSAL = (
    "curl: (56) OpenSSL SSL_read: OpenSSL/3.5.9: error:0A00045C:SSL routines::"
    "tlsv13 alert certificate required, errno 0"
)


@pytest.mark.parametrize(
    ("stderr", "alert"), [(DOCKER_20_REFUSAL, "bad certificate"), (DOCKER_26_REFUSAL, "certificate required")]
)
def test_a_refusal_by_the_daemon_names_its_alert(stderr, alert):
    [row] = channel_rows(
        [{"step": "GET /version", "says": "refusal", "result": ran(56, stderr=stderr)}], "no cert"
    )
    assert row["state"] == "ok"
    assert row["detail"] == f"refused by the daemon: TLS alert {alert} (curl rc 56)"


@pytest.mark.parametrize(
    ("rc", "stderr"),
    [
        (77, "curl: (77) error setting certificate file: /home/student/.docker/ca.pem"),
        (7, "curl: (7) Failed to connect to lab01 port 2376 after 5 ms: Could not connect to server"),
        (60, "curl: (60) SSL certificate problem: unable to get local issuer certificate"),
    ],
)
def test_a_client_side_error_is_a_failure_of_the_check_not_a_refusal(rc, stderr):
    [row] = channel_rows(
        [{"step": "GET /version", "says": "refusal", "result": ran(rc, stderr=stderr, failed=True)}],
        "no cert",
    )
    assert row["state"] == "fail"
    assert row["detail"] == f"the check itself failed (curl rc {rc}), not a refusal by the daemon: {stderr}"


def test_an_answer_without_a_certificate_is_reported_as_not_refused():
    result = ran(0, stdout='{"ApiVersion":"1.41"}', failed=True)
    [row] = channel_rows([{"step": "GET /version", "says": "refusal", "result": result}], "no cert")
    assert (row["state"], row["detail"]) == ("fail", 'NOT REFUSED: the daemon answered {"ApiVersion":"1.41"}')


def test_long_output_is_cut_to_one_line():
    [row] = channel_rows(
        [{"step": "1 pull", "says": "status", "result": ran(1, stderr="e" * 200, failed=True)}], "unix"
    )
    assert row["detail"] == "e" * 87 + "..."


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("1 pull", "the steps must be a list"),
        ([{"step": "1 pull", "result": {}}], "each step needs 'step', 'says' and 'result'"),
        (
            [{"step": "1 pull", "says": "colour", "result": ran()}],
            "unknown 'says' 'colour' for step '1 pull'",
        ),
    ],
)
def test_a_wrong_call_is_refused_naming_the_mistake(steps, message):
    with pytest.raises(AnsibleFilterError, match=message):
        channel_rows(steps, "unix")

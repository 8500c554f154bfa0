"""plugins/plugin_utils/_values: how the filters read role variables that
Ansible has not converted, booleans and whole numbers as a user gives them in
YAML or with -e (the one copy of what engine_plan, access_checks, access_plan
and flask_plan each had before)."""

import pytest
from ansible_collections.dockerlab.docker.plugins.plugin_utils._values import truthy, url_error, whole_number


@pytest.mark.parametrize("value", [True, "yes", "Yes", "true", "on", "1", 1, "y", "t"])
def test_truthy_reads_what_ansibles_bool_filter_reads_as_true(value):
    assert truthy(value) is True


@pytest.mark.parametrize("value", [False, "no", "false", "off", "0", 0, "", "maybe", None, [], {}, 2.5])
def test_truthy_reads_anything_else_as_false(value):
    assert truthy(value) is False


@pytest.mark.parametrize(
    ("value", "number"),
    [(60, 60), (0, 0), (-1, -1), ("30", 30), (" 5 ", 5), ("-3", -3)],
)
def test_whole_number_of_an_int_or_a_string_of_digits(value, number):
    assert whole_number(value) == number


@pytest.mark.parametrize("value", [True, False, None, "soon", "", "1.5", 1.5, "0x10", [], {}])
def test_whole_number_of_anything_else_is_none(value):
    assert whole_number(value) is None


@pytest.mark.parametrize(
    "value", ["http://u:p@proxy.lab:3128", "http://u@proxy.lab", "https://u:p%40ss@proxy.lab/"]
)
def test_url_error_takes_a_user_only_where_asked(value):
    # A registry mirror cannot have one (moby's ValidateMirror); a proxy URL may.
    assert url_error(value) == f"{value!r} has a user, a query or a fragment, which dockerd refuses"
    assert url_error(value, user=True) is None


@pytest.mark.parametrize(
    "value", ["http://proxy.lab:3128/?a=1", "http://proxy.lab#x", "http://u:p@proxy.lab?a"]
)
def test_url_error_with_user_still_refuses_a_query_or_a_fragment(value):
    assert (
        url_error(value, user=True) == f"{value!r} has a query or a fragment, which a proxy URL cannot have"
    )

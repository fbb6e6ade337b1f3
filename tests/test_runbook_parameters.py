"""``smartdc-nb run -p``: a value the parameter cannot take is refused before any cell runs,
saying what was wrong and what to give instead.

The value checks are asked directly (parse_value, resolve_parameters); one run of the real
command per kind of refusal shows the words reach the terminal, with exit status 2 and
nothing run.
"""

from __future__ import annotations

import pytest
from notebook_runs import smartdc_nb_run, write_notebook

from smartdc_nb.runbook import ParameterError, parse_value, resolve_parameters


def refusal(name: str, text: str, kind: type | None) -> str:
    with pytest.raises(ParameterError) as info:
        parse_value(name, text, kind)
    return str(info.value)


@pytest.mark.parametrize("text, instead", [("7.5", "7 or 8"), ("1e3", "1000"), ("5.0", "5"),
                                           ("-2.5", "-3 or -2")])
def test_a_number_that_is_not_whole_is_said_so_for_an_int(text, instead):
    """``-p batch_size 7.5`` (or 1e3) said "'7.5' is not one" after "is a number": it is a
    number, only not a whole one."""
    said = refusal("batch_size", text, int)
    assert said == (f"parameter batch_size takes a whole number (int): {text!r} is not one; "
                    f"give {instead}")


def test_what_is_no_number_at_all_keeps_its_words():
    assert refusal("count", "three", int) == \
        "parameter count is a number (int): 'three' is not one"
    assert refusal("ratio", "half", float) == \
        "parameter ratio is a number (float): 'half' is not one"


def test_a_decimal_comma_is_said_as_one():
    assert refusal("ratio", "0,5", float) == \
        "parameter ratio is a number (float): write '0,5' with a decimal point: 0.5"


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity"])
def test_a_float_that_is_no_finite_number_is_refused(text):
    """float() takes "nan" and "inf": a timeout of nan seconds reached the notebook."""
    assert refusal("ratio", text, float) == \
        f"parameter ratio is a number (float): {text!r} is not a finite one"


def test_list_and_dict_parameters_take_json_too():
    """``-p hosts '["a", true]'`` (JSON, as a shell user writes it) was refused as "write it
    as Python"."""
    assert parse_value("l", '["web", true, null]', list) == ["web", True, None]
    assert parse_value("d", '{"on": false}', dict) == {"on": False}
    assert parse_value("l", "['web', 'db']", list) == ["web", "db"]
    assert refusal("l", "web,db", list) == ("parameter l is a list: write it as Python or "
                                            "JSON, e.g. '[\"a\", \"b\"]', not 'web,db'")
    assert refusal("l", '{"a": 1}', list) == ("parameter l is a list: write it as Python or "
                                              "JSON, e.g. '[\"a\", \"b\"]', not a dict "
                                              "('{\"a\": 1}')")


@pytest.mark.parametrize("text, what", [('["us-east-1", "us-west-1"]', "a list"),
                                        ('{"role": "web"}', "an object"), ("[]", "a list")])
def test_a_json_list_or_object_for_a_text_parameter_is_refused(text, what):
    """A JSON list for a text parameter ran the notebook, which failed inside it (or took
    the brackets as part of a name); it is refused before, with how to pass text."""
    said = refusal("datacenters", text, str)
    assert said == (f"parameter datacenters is text (str): {text!r} is {what} in JSON; give "
                    f"it as text, or -r datacenters VALUE to pass those brackets as typed")


def test_a_json_refusal_says_what_text_the_parameter_takes():
    """'give it as text (-r NAME VALUE passes it exactly as typed)' left a user who typed
    -p tag_selector '{"role": "web"}' to retype the same JSON with -r, which the runbook then
    fails on; the refusal now says what text it takes: its help and its default."""
    declared = {"tag_selector": {"type": str, "default": '"role=web,env=staging"',
                                 "help": "the tags a machine must all carry"},
                "datacenters": {"type": str, "default": '""', "help": "comma-separated names"}}
    with pytest.raises(ParameterError) as info:
        resolve_parameters(declared, [("tag_selector", '{"role": "web"}')], [])
    assert str(info.value) == (
        "parameter tag_selector is text (str): '{\"role\": \"web\"}' is an object in JSON; "
        "give it as text (the tags a machine must all carry; its default is "
        "\"role=web,env=staging\"), or -r tag_selector VALUE to pass those brackets as typed")
    with pytest.raises(ParameterError, match=r"give it as text \(comma-separated names\), or "):
        resolve_parameters(declared, [("datacenters", '["a"]')], [])


@pytest.mark.parametrize("text", ["[abc]", "[0-9]{3}", "role=web", "{date}-x", '"quoted"', ""])
def test_text_that_is_no_json_list_or_object_stays_text(text):
    assert parse_value("pattern", text, str) == text


def test_a_parameter_given_twice_is_refused_naming_both_values():
    """papermill keeps the last of two ``-p count`` without a word: a runbook run as
    ``-p dry_run False ... -p dry_run True`` did whichever came last."""
    declared = {"count": {"type": int}, "label": {"type": str}}
    with pytest.raises(ParameterError) as info:
        resolve_parameters(declared, [("count", "2"), ("label", "x"), ("count", "3")], [])
    assert str(info.value) == ("parameter count is given twice (-p count 2, then -p count 3); "
                               "give it once")
    with pytest.raises(ParameterError, match=r"parameter label is given twice \(-p label x, "
                                             r"then -r label y\)"):
        resolve_parameters(declared, [("label", "x")], [("label", "y")])
    assert resolve_parameters(declared, [("count", "2")], [("label", "y")]) == \
        {"count": 2, "label": "y"}


PARAMETERS = 'count = 2  # how many\nratio = 0.5\ndatacenters = ""  # comma-separated names\n'


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["-p", "count", "7.5"], "parameter count takes a whole number (int): '7.5' is not one; "
                             "give 7 or 8"),
    (["-p", "count", "2", "-p", "ratio", "1", "-p", "count", "3"],
     "parameter count is given twice (-p count 2, then -p count 3); give it once"),
    (["-p", "datacenters", '["us-east-1"]'],
     "parameter datacenters is text (str): '[\"us-east-1\"]' is a list in JSON; give it as "
     "text (comma-separated names), or -r datacenters VALUE to pass those brackets as typed"),
])
def test_the_command_refuses_them_before_running(tmp_path, args, message):
    nb = write_notebook(tmp_path / "book.ipynb", 'open("ran", "w").write("yes")',
                        parameters=PARAMETERS)
    proc = smartdc_nb_run(nb, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"smartdc-nb run: {message}"
    assert not (tmp_path / "ran").exists() and not (tmp_path / "book.out.ipynb").exists()


@pytest.mark.slow
def test_raw_text_that_looks_like_json_still_reaches_the_notebook(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", "print(repr(datacenters))", parameters=PARAMETERS)
    proc = smartdc_nb_run(nb, "-r", "datacenters", '["us-east-1"]', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "'[\"us-east-1\"]'"


@pytest.mark.parametrize("kind, what", [
    (int, "a whole number (int)"), (float, "a number (float)"), (bool, "True or False"),
    (list, "a list, e.g. '[\"a\", \"b\"]'"), (dict, "a dict, e.g. '{\"key\": \"value\"}'")])
@pytest.mark.parametrize("text", ["", "  "])
def test_an_empty_value_is_said_to_be_empty(kind, what, text):
    """``-p batch_size "$SIZE"`` with SIZE unset gave "'' is not one", as if '' were a typo
    of a number; it says now that the value is empty, and what to give."""
    assert refusal("size", text, kind) == \
        f"parameter size is empty (an unset shell variable?); give {what}"


def test_an_empty_value_says_what_the_parameter_takes():
    declared = {"batch_size": {"type": int, "default": "2", "help": "machines rebooted at once"}}
    with pytest.raises(ParameterError) as info:
        resolve_parameters(declared, [("batch_size", "")], [])
    assert str(info.value) == ("parameter batch_size is empty (an unset shell variable?); give "
                               "a whole number (int): machines rebooted at once; its default is 2")


@pytest.mark.slow
def test_the_command_says_an_empty_number_is_empty(tmp_path):
    nb = write_notebook(tmp_path / "book.ipynb", 'open("ran", "w").write("yes")',
                        parameters=PARAMETERS)
    proc = smartdc_nb_run(nb, "-p", "count", "", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == ("smartdc-nb run: parameter count is empty (an unset shell "
                                   "variable?); give a whole number (int): how many; its "
                                   "default is 2")
    assert not (tmp_path / "ran").exists()

"""A runbook's parameters: what its ``parameters`` cell declares, and ``-p`` values read as their types."""

from __future__ import annotations

import ast
import io
import json
import math
import re
import shlex
import tokenize
from pathlib import Path
from typing import Any

PARAMETERS_TAG = "parameters"
KNOWN_TYPES = {t.__name__: t for t in (bool, int, float, str, list, dict)}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
#: What a value of each typed kind is, in the words of a refusal.
_WHAT = {int: "a whole number (int)", float: "a number (float)", bool: "True or False",
         list: 'a list, e.g. \'["a", "b"]\'', dict: 'a dict, e.g. \'{"key": "value"}\''}


class ParameterError(ValueError):
    """A ``-p``/``-r`` parameter the notebook cannot take."""


def cell_tags(cell: Any) -> list[str]:
    """The tags of a notebook cell."""
    return cell.get("metadata", {}).get("tags", [])


def declared_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The notebook's parameters: ``{name: {"type": python type or None, "default": source, "help": ...}}``.

    Read from the first cell tagged ``parameters`` with :mod:`ast` rather than
    papermill.inspect_notebook, whose line pattern drops any assignment whose
    value contains ``=`` (``selector = "role=web"``). A parameter's type is its
    annotation, else the type of its literal default; its help is the comment
    ending its line.
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    cell = next((c for c in nb.cells if c.cell_type == "code" and PARAMETERS_TAG in cell_tags(c)), None)
    if cell is None:
        return {}
    source = cell.source
    tree = ast.parse(source)
    comments = {token.start[0]: token.string.lstrip("#").strip()
                for token in tokenize.generate_tokens(io.StringIO(source).readline)
                if token.type == tokenize.COMMENT}
    declared = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value, annotation = node.targets[0], node.value, None
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value, annotation = node.target, node.value, node.annotation
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        kind = KNOWN_TYPES.get(annotation.id) if isinstance(annotation, ast.Name) else None
        if kind is None:
            try:
                kind = type(ast.literal_eval(value))
            except ValueError:
                kind = None
            kind = kind if kind in KNOWN_TYPES.values() else None
        declared[target.id] = {"type": kind, "default": ast.get_source_segment(source, value),
                               "help": comments.get(node.end_lineno, "")}
    return declared


def papermill_value(text: str) -> Any:
    """A value read as papermill's ``-p`` reads it (True, False, None, int, float, else str)."""
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_value(name: str, text: str, kind: type | None, takes: str = "") -> Any:
    """``text`` as a value of ``kind`` (the parameter's declared type); ParameterError if it is
    not one. ``takes`` says in words what the parameter takes (its help, its default)."""
    if kind in _WHAT and not text.strip():  # "-p batch_size $SIZE" with SIZE unset: no typo
        raise ParameterError(f"parameter {name} is empty (an unset shell variable?); give "
                             f"{_WHAT[kind]}" + (f": {takes}" if takes else ""))
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ParameterError(f"parameter {name} is a boolean: give True or False, not {text!r}")
    if kind is int:
        return _whole_number(name, text)
    if kind is float:
        return _finite_number(name, text)
    if kind is str:
        _refuse_json_for_text(name, text, takes)
        return text
    if kind in (list, dict):
        value = _structure(text)
        if not isinstance(value, kind):
            example = '["a", "b"]' if kind is list else '{"key": "value"}'
            got = f"a {type(value).__name__} ({text!r})" if isinstance(value, (list, dict)) \
                else repr(text)
            raise ParameterError(f"parameter {name} is a {kind.__name__}: write it as Python or "
                                 f"JSON, e.g. '{example}', not {got}")
        return value
    return papermill_value(text)


def _not_a_number(name: str, kind: type, text: str) -> ParameterError:
    return ParameterError(f"parameter {name} is a number ({kind.__name__}): {text!r} is not one")


def _whole_number(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise _not_a_number(name, int, text) from None
    if not math.isfinite(value):
        raise _not_a_number(name, int, text)
    low, high = math.floor(value), math.ceil(value)
    instead = str(low) if low == high else f"{low} or {high}"
    raise ParameterError(f"parameter {name} takes a whole number (int): {text!r} is not one; "
                         f"give {instead}")


def _finite_number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        # a decimal comma: the one spelling of a number float() does not take
        if re.fullmatch(r"\s*[-+]?\d+,\d+\s*", text):
            raise ParameterError(f"parameter {name} is a number (float): write {text!r} with a "
                                 f"decimal point: {text.strip().replace(',', '.')}") from None
        raise _not_a_number(name, float, text) from None
    if not math.isfinite(value):  # float() takes "nan" and "inf"; no runbook means them
        raise ParameterError(f"parameter {name} is a number (float): {text!r} is not a finite one")
    return value


def _structure(text: str) -> Any:
    """``text`` read as a Python literal, else as JSON (``true``, ``null``); None if neither."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _refuse_json_for_text(name: str, text: str, takes: str) -> None:
    """A JSON list or object given to a text parameter: the notebook would fail on it, or take
    the brackets as part of a name. Only JSON counts (not Python's literals), so that text such
    as a regular expression's ``[0-9]`` stays text; -r passes anything as typed."""
    if not text.lstrip().startswith(("[", "{")):
        return
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return
    what = "a list" if isinstance(value, list) else "an object"
    takes = f" ({takes})" if takes else ""
    raise ParameterError(f"parameter {name} is text (str): {text!r} is {what} in JSON; give it "
                         f"as text{takes}, or -r {name} VALUE to pass those brackets as typed")


def _takes(entry: dict[str, Any]) -> str:
    """What a declared parameter takes, in words: its help, and its default unless empty."""
    said = [entry["help"]] if entry.get("help") else []
    default = entry.get("default")
    if default and default not in ('""', "''"):
        said.append(f"its default is {default}")
    return "; ".join(said)


def resolve_parameters(declared: dict[str, dict[str, Any]], typed: list[tuple[str, str]],
                       raw: list[tuple[str, str]]) -> dict[str, Any]:
    """The parameters to inject, checked against the declared ones."""
    given = [(name, text, False) for name, text in typed] + [(name, text, True) for name, text in raw]
    if given and not declared:
        raise ParameterError("the notebook has no cell tagged 'parameters', so it takes no parameters")
    values: dict[str, Any] = {}
    first: dict[str, str] = {}  # each name's -p/-r, as typed
    for name, text, is_raw in given:
        if name not in declared:
            raise ParameterError(f"the notebook has no parameter {name!r}; it takes: "
                                 + ", ".join(declared))
        typed = f"{'-r' if is_raw else '-p'} {name} {shlex.quote(text)}"
        if name in first:  # papermill keeps the last without a word; which did the user mean?
            raise ParameterError(f"parameter {name} is given twice ({first[name]}, then {typed}); "
                                 "give it once")
        first[name] = typed
        values[name] = text if is_raw else parse_value(name, text, declared[name]["type"],
                                                       _takes(declared[name]))
    return values

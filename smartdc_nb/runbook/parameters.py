"""A runbook's parameters: what its ``parameters`` cell declares, and ``-p`` values read as their types."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path
from typing import Any

PARAMETERS_TAG = "parameters"
KNOWN_TYPES = {t.__name__: t for t in (bool, int, float, str, list, dict)}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


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


def parse_value(name: str, text: str, kind: type | None) -> Any:
    """``text`` as a value of ``kind`` (the parameter's declared type); ParameterError if it is not one."""
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ParameterError(f"parameter {name} is a boolean: give True or False, not {text!r}")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise ParameterError(
                f"parameter {name} is a number ({kind.__name__}): {text!r} is not one") from None
    if kind is str:
        return text
    if kind in (list, dict):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        if not isinstance(value, kind):
            example = '["a", "b"]' if kind is list else '{"key": "value"}'
            raise ParameterError(f"parameter {name} is a {kind.__name__}: write it as Python, e.g. "
                                 f"'{example}', not {text!r}")
        return value
    return papermill_value(text)


def resolve_parameters(declared: dict[str, dict[str, Any]], typed: list[tuple[str, str]],
                       raw: list[tuple[str, str]]) -> dict[str, Any]:
    """The parameters to inject, checked against the declared ones."""
    given = [(name, text, False) for name, text in typed] + [(name, text, True) for name, text in raw]
    if given and not declared:
        raise ParameterError("the notebook has no cell tagged 'parameters', so it takes no parameters")
    values = {}
    for name, text, is_raw in given:
        if name not in declared:
            raise ParameterError(f"the notebook has no parameter {name!r}; it takes: "
                                 + ", ".join(declared))
        values[name] = text if is_raw else parse_value(name, text, declared[name]["type"])
    return values

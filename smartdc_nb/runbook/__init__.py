"""Runbooks: the notebooks that ship with the package, and ``smartdc-nb run`` to execute them headless.

- :mod:`.command` — the ``smartdc-nb run`` command (papermill), with a line per cell as it runs;
- :mod:`.parameters` — a notebook's declared parameters and typed ``-p`` values;
- :mod:`.report` — the summary, the failing cell and line, the offline HTML report;
- :mod:`.progress` — the papermill engine that reports cells as they start;
- :mod:`.library` — the packaged runbooks by short name, and ``smartdc-nb notebooks``.
"""

from __future__ import annotations

from .command import add_arguments, run
from .parameters import ParameterError, declared_parameters, parse_value, resolve_parameters

__all__ = ["ParameterError", "add_arguments", "declared_parameters", "parse_value",
           "resolve_parameters", "run"]

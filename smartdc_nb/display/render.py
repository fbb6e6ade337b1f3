"""Turning objects into HTML and text: dispatch by type, the jinja2 environment, the stylesheet."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from .. import dictionary
from . import cards
from .layout import Card, card_text
from .values import text



@dataclass
class Options:
    """Display settings: ``smartdc_nb.display.options.max_rows = 50``."""

    max_rows: int = 20  # the most rows a table shows before "… and N more"


options = Options()


def card_for(obj: Any, max_rows: int | None = None) -> Card:
    """The card that displays ``obj`` (dispatch on the class names of its type, lazily)."""
    limit = options.max_rows if max_rows is None else max(0, int(max_rows))
    names = {cls.__name__ for cls in type(obj).__mro__}
    if "Machine" in names:
        return cards.machine_card(obj)
    if "Snapshot" in names:
        return cards.snapshot_card(obj)
    if "DataCenter" in names:
        return cards.datacenter_card(obj)
    if "Fleet" in names:
        return cards.fleet_card(obj, limit)
    if isinstance(obj, (list, tuple)) and not isinstance(obj, str):
        kinds = {cls for item in obj for cls in ("Machine", "Snapshot")
                 if cls in {c.__name__ for c in type(item).__mro__}}
        # a SnapshotList by its class too: an empty one has no item to tell it by
        if kinds == {"Snapshot"} or (not obj and "SnapshotList" in names):
            return cards.snapshots_card(list(obj), limit)
        if kinds <= {"Machine"}:  # MachineList, or a plain list of machines (or empty)
            return cards.machines_card(obj, limit)
    if hasattr(type(obj), "frame") or "frame" in getattr(obj, "__dict__", {}):
        return cards.outcomes_card(obj, limit)
    return Card(type(obj).__name__, "", blocks=[text(_safe_repr(obj), limit=2000)])


def render_html(obj: Any, *, max_rows: int | None = None) -> str:
    """The rich HTML repr of a smartdc_nb object: escaped, scoped, made without any request.

    Machines, snapshots, datacenters, fleets, lists of machines or snapshots,
    and wait/bulk results (anything with an outcome ``frame``) each get their
    own card; tables show at most ``max_rows`` rows (default ``options.max_rows``).
    """
    return _template().render(card=card_for(obj, max_rows), css=Markup(stylesheet()))


def render_text(obj: Any, *, max_rows: int | None = None) -> str:
    """The same card as plain text (for ``_repr_pretty_`` and terminals)."""
    return card_text(card_for(obj, max_rows))


def _safe_repr(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception as exc:  # the fallback display must not fail either
        return f"<{type(obj).__name__}: repr failed: {exc!r}>"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "plain"
    if isinstance(value, (int, float)):
        return "number"
    return getattr(type(value), "kind", "plain")


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The display's jinja2 environment: package templates, autoescape, the ``kind`` filter.

    Everything smartdc_nb renders as HTML (cards, panels) goes through it, so
    cloud strings are escaped in one place.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("smartdc_nb.display", "."),
        autoescape=True,  # everything from the cloud is data; our nested HTML is Markup only
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )
    env.filters["kind"] = _kind
    env.filters["column_tip"] = dictionary.tip  # header tooltips from the column dictionary
    return env


def _template() -> jinja2.Template:
    return environment().get_template("card.html.j2")


@functools.lru_cache(maxsize=1)
def stylesheet() -> str:
    """The display's one stylesheet (CSS text, every selector under the root class)."""
    return resources.files("smartdc_nb.display").joinpath("smartdc_nb.css").read_text("utf-8")




"""The panels' HTML, written by the display package's templates (one look, one escaping).

HTML widgets take raw HTML, so nothing here writes markup around cloud data by
hand: cards go through the display's ``card.html.j2``, and the two small
shapes the panels add (a line of values, a table row with fixed columns) are
jinja2 templates compiled in the display's environment, so they use its
autoescaping and its ``value`` macro (badges, ids, times, clipping). The
stylesheet is the display's, plus ``panel.css`` for the panels' own pieces,
which only uses the display's ``--sdcnb-*`` colours.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Iterable

from markupsafe import Markup

from ..display import environment
from ..display.layout import Card

LINE = """{%- from "macros.html.j2" import value -%}
<div class="sdcnb sdcnb-panel-line tex2jax_ignore mathjax_ignore {{ css_class }}">
{%- for v in values %}{{ value(v) }}{% if not loop.last %} {% endif %}{% endfor -%}
</div>"""

ROW = """{%- from "macros.html.j2" import value -%}
<div class="sdcnb sdcnb-panel-row tex2jax_ignore mathjax_ignore {{ css_class }}"
 style="grid-template-columns: {{ widths }}">
{%- for v in values %}<span>{{ value(v) }}</span>{% endfor -%}
</div>"""


@functools.lru_cache(maxsize=2)
def _compiled(source: str) -> Any:
    return environment().from_string(source)


def render_card(card: Card) -> str:
    """A display Card as HTML, without the stylesheet (a panel carries it once)."""
    page = environment().get_template("card.html.j2").render(card=card, css=Markup(""))
    return page.replace("<style></style>", "", 1)  # the template's slot for the stylesheet


def render_line(*values: Any, css_class: str = "") -> str:
    """Display values (text, badges, notes, ...) in one escaped line."""
    return _compiled(LINE).render(values=values, css_class=css_class)


def render_row(values: Iterable[Any], widths: Iterable[str], css_class: str = "") -> str:
    """One table row of display values in fixed-width columns, so rows align in a list."""
    return _compiled(ROW).render(values=list(values), widths=" ".join(widths),
                                 css_class=css_class)


@functools.lru_cache(maxsize=1)
def stylesheet() -> str:
    """A ``<style>`` element with the display's stylesheet and the panels' additions."""
    from ..display import stylesheet as display_stylesheet

    panel = resources.files("smartdc_nb.widgets").joinpath("panel.css").read_text("utf-8")
    return f"<style>{display_stylesheet()}\n{panel}</style>"


__all__ = ["render_card", "render_line", "render_row", "stylesheet"]

"""The HTML card of a :class:`~smartdc_nb.frames.diff.FleetDiff` (the display's cards and CSS)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup

from ..display import environment, options, stylesheet
from ..display.layout import Card, Section, Table, capped
from ..display.values import Badge, Note, badge, text

TONES = {"appeared": "ok", "vanished": "gone", "changed": "busy"}
GAP_WORDS = {"machines": "machines could not be listed",
             "snapshots": "snapshots could not be listed",
             "tags": "tags not compared (no tag information)"}


def card(d: Any, limit: int) -> Card:
    """Counts per datacenter, then appeared, vanished and changed machines (``limit`` rows each)."""
    header = [Badge("partial", "warn")] if d.notes() else []
    header += [Badge(f"{n} {word}", TONES[word]) for word, n in (
        ("appeared", len(d.appeared)), ("vanished", len(d.vanished)),
        ("changed", d.changes["machine_id"].nunique() if len(d.changes) else 0)) if n]
    counts = d.counts
    blocks: list[Any] = [Table(["Datacenter", "Appeared", "Vanished", "Changed", "Changes",
                                "Not read at"],
                               [[text(r.datacenter), *(_count(v) for v in (
                                   r.appeared, r.vanished, r.changed, r.changes)),
                                 text(r.not_read) if isinstance(r.not_read, str) else ""]
                                for r in counts.itertuples(index=False)],
                               empty="no datacenters", frame="diff_counts")]
    if d.gaps:
        blocks.append(Section("Partial: not compared", len(d.gaps), Table(
            ["Point", "Datacenter", "Machine", "What", "Why"],
            [[text(g.point), text(g.datacenter) if g.datacenter else "",
              text(g.machine) if g.machine else "", GAP_WORDS[g.what], text(g.error)]
             for g in d.gaps], frame=None), open=True))
    for title, machines in (("Appeared", d.appeared), ("Vanished", d.vanished)):
        rows = machines.to_dict("records")
        blocks.append(Section(title, len(rows), capped(
            ["Datacenter", "Name", "State", "Package", "ID"], rows,
            lambda r: [text(r.get("datacenter")), text(r.get("name")), badge(r.get("state")),
                       text(r.get("package")), text(r.get("id"))],
            limit, "(.frame has every row)", "none", frame="machines"), open=0 < len(rows) <= 8))
    changes = d.changes.to_dict("records")
    blocks.append(Section("Changed", len(changes), capped(
        ["Datacenter", "Machine", "Column", "Before", "After"], changes,
        lambda r: [text(r["datacenter"]), text(r["machine_name"]), text(r["column"]),
                   _value(r["before"]), _value(r["after"])],
        limit, "(.changes has every row)", "nothing changed", frame="diff"),
        open=0 < len(changes) <= 20))
    footer = [] if d.compared_snapshots else ["snapshots not compared (a side has none)"]
    return Card("Fleet diff", f"{d.before_label} → {d.after_label}", header=header,
                blocks=blocks, footer=footer)


def _count(value: Any) -> Any:
    return Note("unknown") if value is None or value is pd.NA else value


def _value(value: Any) -> Any:
    return Note("absent") if value is None or value is pd.NA else text(value)


def render(d: Any) -> str:
    template = environment().get_template("card.html.j2")
    return template.render(card=card(d, options.max_rows), css=Markup(stylesheet()))

"""The HTML card of a query's :class:`~smartdc_nb.frames.query.Explanation` (the display's cards)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from ..display import environment, stylesheet
from ..display.layout import Card, Table
from ..display.values import Badge, Note, text

WHERE = {"server": Badge("server", "ok"), "pandas": Badge("pandas", "busy"),
         "re-check": Badge("re-check", "idle")}


def card(explanation: Any) -> Card:
    """Filters (where each ran, rows it removed), then requests, seconds and rows per datacenter."""
    r = explanation.record
    ran = "ran" in r
    steps = [[WHERE["re-check" if s["recheck"] else s["where"]], text(s["filter"]), text(s["what"]),
              "" if s["rows_removed"] is None else s["rows_removed"]] for s in r.get("steps", [])]
    blocks: list[Any] = [Table(["Where", "Filter", "What", "Rows removed"], steps,
                               empty="no filters: every machine", frame="query_steps")]
    if ran:
        rows = [[text(name), dc["requests"], f"{dc['seconds']:.3f}", dc["rows"],
                 text(dc["error"]) if dc.get("error") else ""]
                for name, dc in r.get("datacenters", {}).items()]
        blocks.append(Table(["Datacenter", "Requests", "Seconds", "Rows", "Error"], rows,
                            empty="no datacenters", frame="query_datacenters"))
        footer = [f"{r['rows_from_server']:,} rows from CloudAPI, {r['rows']:,} after pandas",
                  f"{r['seconds']:.3f}s in all"]
        header = [Badge(f"{r['rows']:,} machines", "ok")]
    else:
        footer, header = [Note("not run yet: .run() sends it")], [Badge("not run", "idle")]
    params = " ".join(f"{k}={v}" for k, v in (r.get("params") or {}).items())
    return Card("Query", r.get("call") or "(no filters)", header=header,
                subtitle=[f"ListMachines {params}" if params else "ListMachines (no filters)"],
                blocks=blocks, footer=footer)


def render(explanation: Any) -> str:
    template = environment().get_template("card.html.j2")
    return template.render(card=card(explanation), css=Markup(stylesheet()))

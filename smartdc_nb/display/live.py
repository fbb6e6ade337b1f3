"""The card of a live fleet (smartdc_nb.live): feed status, counts per state, recent changes."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

from markupsafe import Markup

from .layout import Card, Facts, Section, Table
from .values import Badge, Note, badge, text, when
from .parts import count_badges, ident, state_counts

#: tone of each feed status
FEED_TONES = {"live": "ok", "connecting": "busy", "down": "warn", "absent": "idle", "off": "idle",
              "closed": "gone"}
FEED_WORDS = {"live": "live", "connecting": "connecting", "down": "reconnecting (polling)",
              "absent": "no feed (polling)", "off": "feed off (polling)", "closed": "closed"}


def live_card(live: Any, recent: int = 10) -> Card:
    """The live fleet as a display Card (made from what is known: no request)."""
    payloads = live.payloads()
    machines = [SimpleNamespace(raw=m, datacenter=SimpleNamespace(name=name))
                for name, group in payloads.items() for m in group]
    total = sum(live.counts().values(), Counter())
    feeds = Facts([(name, Badge(FEED_WORDS.get(status, status), FEED_TONES.get(status, "neutral")))
                   for name, status in live.status.items()])
    rows = [[when(c.published), text(c.datacenter), text(c.name) if c.name else ident(c.machine_id),
             badge(c.state), text(", ".join(c.kinds)), text(c.source)]
            for c in live.recent(recent)]
    changes = Table(["Time", "Datacenter", "Machine", "State", "Changed", "Seen by"], rows,
                    empty="no change yet")
    blocks: list[Any] = [feeds, state_counts(machines) if machines else Note("no machines known yet"),
                         Section("Recent changes", len(rows), changes, open=True)]
    # counts of unknown age must not pass for live ones: name each datacenter and why
    gaps = {} if live.closed else live.stream.gaps()
    if gaps:
        blocks.insert(1, Section("Out of date", len(gaps),
                                 Facts([(name, Note(why)) for name, why in gaps.items()]),
                                 open=True))
    word = "closed" if live.closed else f"{len(gaps)} out of date" if gaps else "live"
    return Card("Live fleet", f"{len(machines):,} machine{'s' * (len(machines) != 1)}",
                header=count_badges(total),
                subtitle=[f"{len(payloads)} datacenter{'s' * (len(payloads) != 1)}, {word}"],
                blocks=blocks, footer=[f"updated {live.updated:%H:%M:%S} UTC"])


def render_live(live: Any, css: bool = True) -> str:
    """The card as HTML (escaped by the display's environment)."""
    from .render import environment, stylesheet

    page = environment().get_template("card.html.j2").render(
        card=live_card(live), css=Markup(stylesheet() if css else ""))
    return page if css else page.replace("<style></style>", "", 1)

"""Cards of the operations: a plan (smartdc_nb.plans) and a journal run (smartdc_nb.journal_views).

Made from what the objects hold (no request), escaped by the display's template like
every other card.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from markupsafe import Markup

from .layout import Card, Facts, Table, capped
from .values import Badge, badge, text, when
from .parts import ident

#: tone of each verdict of a plan, and of each status of a journal run's machine
TONES = {"act": "ok", "skip": "idle", "protected": "warn", "refused": "bad",
         "done": "ok", "accepted": "ok", "not sent": "idle", "sent, outcome unknown": "warn", "failed": "bad",
         "interrupted": "warn", "ended": "ok", "running": "idle", "incomplete": "warn",
         "error": "bad"}


def _badge(word: Any) -> Badge:
    return Badge(str(word), TONES.get(str(word), badge(word).tone))


def _counts(counts: dict[str, int]) -> list[Badge]:
    return [Badge(f"{n:,} {word}", TONES.get(word, "neutral")) for word, n in counts.items() if n]


def _sentence(words: str) -> str:
    """A clause (as an error message continues it) as a sentence of its own on a card."""
    return words[:1].upper() + words[1:] + ("" if words.endswith(".") else ".")


def plan_card(plan: Any, limit: int = 20) -> Card:
    """A plan: counts per verdict and datacenter, the machines that act first, estimate, id."""
    per_dc: dict[str, Counter] = {}
    for row in plan.rows:
        name = str(row.machine.datacenter.name or row.machine.datacenter.url)
        per_dc.setdefault(name, Counter())[row.verdict] += 1
    verdicts = [v for v in ("act", "skip", "protected", "refused")
                if any(c[v] for c in per_dc.values())]
    counts = Table(["Datacenter", *[_badge(v) for v in verdicts], "Total"],
                   [[text(name), *[c[v] or "" for v in verdicts], sum(c.values())]
                    for name, c in sorted(per_dc.items())], empty="no machines")
    order = {"act": 0, "refused": 1, "protected": 2, "skip": 3}
    rows = sorted(plan.rows, key=lambda r: order.get(r.verdict, 4))
    table = capped(["Verdict", "Datacenter", "Machine", "Id", "State", "Batch", "Reason or request"],
                   rows, lambda r: [_badge(r.verdict),
                                    text(r.machine.datacenter.name or r.machine.datacenter.url),
                                    text(r.machine.name or ""), ident(r.machine.id),
                                    badge(r.state), r.batch if r.batch else "",
                                    text(r.reason or r.request or "", limit=160)],
                   limit, "(plan.frame has every row)", "no machines")
    est = plan.estimate
    facts = Facts([("Plan id", plan.id),
                   ("Requests", f"{est['requests']:,}"),
                   ("Sending", f"about {est['send_seconds']:g} s under the rate limit"
                               if est["send_seconds"] else "within the rate limit's burst"),
                   ("Waits", f"{est['batches']} batch(es), at most "
                             f"{est['wait_bound_seconds']:g} s in all"
                    if est["wait"] and est["wait_bound_seconds"] else
                    (f"{est['batches']} batch(es)" if est["wait"] else "no wait")),
                   *([("Also covers", plan._covers_text())] if plan.covers else []),
                   ("Apply with", f"plan.apply(approve={plan.id!r})"),
                   *([("Note", text(_sentence(plan.time_bound), limit=600))]
                     if plan.time_bound else []),
                   ("Pace", text(plan.pace_text()))])
    return Card("Plan", f"{plan.action} on {len(plan.rows):,} machine"
                        f"{'s' * (len(plan.rows) != 1)}",
                header=_counts(plan.counts), subtitle=[f"plan {plan.id}", "nothing was sent"],
                blocks=[facts, counts, table])


def run_card(run: Any, limit: int = 20) -> Card:
    """A journal run: who, when, how it ended, and each machine's status."""
    machines = list(run.machines().values())
    start = run.start
    who = str(start.get("account") or "?") + (f"/{start['user']}" if start.get("user") else "")
    facts = [("Run id", text(run.run_id)),
             ("Started", when(start.get("time"))), ("By", text(who)),
             ("Datacenters" if len(run.datacenters) > 1 else "Datacenter",
              text(", ".join(run.datacenters)))]
    if start.get("plan_id"):
        facts.append(("Plan", text(start["plan_id"])))
    if run.status != "ended":
        facts.append(("Continue it", text(f"smartdc_nb.resume({run.run_id!r})")))
    table = capped(["Datacenter", "Machine", "Id", "State before", "Status", "HTTP", "Error"],
                   machines, lambda m: [text(m.datacenter or ""), text(m.name or ""),
                                        ident(m.id), badge(m.state) if m.state else "",
                                        _badge(m.status),
                                        (m.outcome or {}).get("http_status") or "",
                                        text((m.outcome or {}).get("error") or "", limit=160)],
                   limit, "(run.frame has every row)", "no machines")
    return Card("Journal run", f"{run.action}", header=[_badge(run.status), *_counts(run.counts())],
                subtitle=[f"run {run.run_id}"], blocks=[Facts(facts), table])


def runs_card(runs: Any, limit: int = 50) -> Card:
    """The journal's runs, newest first: when, what, where, how each ended."""
    table = capped(["Started", "Action", "Datacenters", "Plan", "Status", "Machines", "Run id"],
                   list(runs), lambda r: [when(r.start.get("time")), text(r.action or ""),
                                          text(", ".join(r.datacenters)),
                                          text(r.start.get("plan_id") or ""), _badge(r.status),
                                          ", ".join(f"{n} {s}" for s, n in r.counts().items()),
                                          text(r.run_id)],
                   limit, "(runs.frame has every row)", "no runs in the journal")
    return Card("Journal", f"{len(runs):,} run{'s' * (len(runs) != 1)}",
                header=_counts(Counter(r.status for r in runs)),
                subtitle=["newest first", "smartdc_nb.resume(run_id) continues an interrupted one"],
                blocks=[table])


def render(card: Card) -> str:
    from .render import environment, stylesheet

    return environment().get_template("card.html.j2").render(card=card,
                                                             css=Markup(stylesheet()))


__all__ = ["plan_card", "run_card", "runs_card", "render"]

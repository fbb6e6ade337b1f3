"""Read-your-writes for a Machine's tags, metadata and boot script.

CloudAPI applies tag and metadata changes through a job: the write's answer
already shows the merged result, but a GET right after can still show the old
value (and a DELETE of a key just set can answer 404). A Machine remembers
each such write as a :class:`Write` (what it changes, how to tell it has
landed, how to apply it to a copy) in its :class:`PendingWrites`, and:

- reads through the same Machine (``get_tags``, ``get_tag``, ``get_metadata``,
  and the reads behind ``delete_metadata_at_key``/``delete_all_metadata``)
  poll until every pending write of that kind is visible, for at most
  :data:`VISIBLE_WITHIN` seconds; a write still not visible then is merged into
  the returned copy and said once with a :class:`ReadYourWritesWarning`;
- deletes of a tag or metadata key first wait the same way, so a delete right
  after a set finds the key;
- ``refresh()`` (and any payload the Machine keeps) shows pending writes merged
  over the payload, without waiting; :attr:`Machine.pending_writes` lists them.

A write is forgotten once a read shows it, once it has been said not visible,
or once later writes of the same Machine have changed everything it changed.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import ReadYourWritesWarning

#: seconds a read waits for this Machine's earlier writes to become visible
VISIBLE_WITHIN = 15.0
#: first and longest pause between the reads of that wait
FIRST_PAUSE, LONGEST_PAUSE = 0.05, 1.0
#: Seconds between reads of the audit log while a write is still not visible: a refused
#: write is found within them, without a second request on every poll.
AUDIT_EVERY = 5.0


@dataclass
class Write:
    """One tag or metadata change sent by a Machine, not yet seen by a read.

    ``items`` are the keys it sets (``op`` "set"), the whole new dict ("replace": with
    ``keep``, keys CloudAPI keeps) or the one key it deletes ("remove", value ignored).
    ``later`` are keys a later write of the same Machine changed: they are no longer this
    write's to show (a superseded value never shows, and waiting for it would wait in vain).
    """

    kind: str  # "tags" or "metadata"
    op: str  # "set", "remove" or "replace"
    items: dict[str, Any]
    keep: tuple[str, ...] = ()
    later: set[str] = field(default_factory=set)
    sent_at: float = field(default_factory=time.monotonic)
    #: the request's PendingAction (smartdc_nb.resources.audit): its audit entry says whether
    #: the cloud's job applied the write or refused it
    action: Any = None
    #: its job's audit entry says ``success: "no"``: the cloud changed nothing
    refused: bool = False

    @property
    def what(self) -> str:
        """For messages, e.g. "tags last_drill set"."""
        if self.op == "replace":
            return f"{self.kind} replaced" if self.items else f"all {self.kind} deleted"
        keys = ", ".join(sorted(k for k in self.items if k not in self.later))
        return f"{self.kind} {keys} {'set' if self.op == 'set' else 'deleted'}"

    def landed(self, d: Mapping[str, Any]) -> bool:
        """Whether ``d`` (what a read shows) shows this write."""
        if self.op == "set":
            return all(k in d and d[k] == v for k, v in self.items.items() if k not in self.later)
        if self.op == "remove":
            return all(k not in d for k in self.items if k not in self.later)
        mine = {k: v for k, v in d.items() if k not in self.keep and k not in self.later}
        return mine == {k: v for k, v in self.items.items() if k not in self.later}

    def apply(self, d: dict) -> None:
        """Merge this write into ``d`` (a copy of what a read showed)."""
        if self.op == "set":
            d.update({k: v for k, v in self.items.items() if k not in self.later})
        elif self.op == "remove":
            for key in self.items:
                if key not in self.later:
                    d.pop(key, None)
        else:
            kept = {k: d[k] for k in (*self.keep, *self.later) if k in d}
            d.clear()
            d.update({k: v for k, v in self.items.items() if k not in self.later}, **kept)

    def overridden_by(self, newer: Write) -> bool:
        """Let ``newer`` take the keys it changes; True when nothing of this write is left."""
        if newer.kind != self.kind:
            return False
        if newer.op == "replace":
            return True
        self.later.update(newer.items)
        return self.op != "replace" and set(self.items) <= self.later


def set_items(kind: str, items: Mapping[str, Any]) -> Write:
    """``items`` added or overwritten."""
    return Write(kind, "set", dict(items))


def replaced(kind: str, items: Mapping[str, Any], keep: tuple[str, ...] = ()) -> Write:
    """Every item replaced by ``items`` (the keys in ``keep`` stay, as CloudAPI keeps them)."""
    return Write(kind, "replace", dict(items), tuple(keep))


def removed(kind: str, key: str) -> Write:
    """One key deleted."""
    return Write(kind, "remove", {key: None})


class PendingWrites:
    """The writes of one Machine that no read has shown yet."""

    def __init__(self) -> None:
        self.writes: list[Write] = []

    def add(self, write: Write) -> None:
        """Remember ``write``; earlier writes it overrides wholly are forgotten (setting one tag
        a thousand times keeps one write, not a thousand that could never all show)."""
        self.writes = [w for w in self.writes if not w.overridden_by(write)]
        self.writes.append(write)

    def of(self, kind: str) -> list[Write]:
        return [w for w in self.writes if w.kind == kind]

    def merged(self, kind: str, current: Mapping[str, Any]) -> dict[str, Any]:
        """``current`` with the writes not visible in it applied; the visible ones are forgotten."""
        result = dict(current)
        for write in self.of(kind):
            if write.landed(result):
                self.writes.remove(write)
            else:
                write.apply(result)
        return result

    def forget(self, refused: list[Write]) -> None:
        """Forget writes the cloud refused (their job failed): they will never show."""
        for write in refused:
            write.refused = True
            if write in self.writes:
                self.writes.remove(write)

    def settle(self, kind: str, fetch: Callable[[], Mapping[str, Any]],
               label: str, audit: Callable[[], Any] | None = None) -> dict[str, Any]:
        """``fetch()`` until every pending write of ``kind`` shows (bounded); returns the result.

        ``audit()`` (the machine's audit log, which :meth:`forget`\\ s the writes it shows
        refused) is read once the pauses are at their longest, then every
        :data:`AUDIT_EVERY` seconds and before giving up: a refused write is never merged,
        and is said. Writes still not visible after
        :data:`VISIBLE_WITHIN` seconds are merged into the result, said with a
        ReadYourWritesWarning, and forgotten.
        """
        current = dict(fetch())
        pending = [w for w in self.of(kind) if not w.landed(current)]
        waited_on = list(pending)
        deadline = time.monotonic() + VISIBLE_WITHIN
        pause, audit_due = FIRST_PAUSE, 0.0
        while pending and time.monotonic() < deadline:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, LONGEST_PAUSE)
            current = dict(fetch())
            pending = [w for w in pending if not w.landed(current)]
            now = time.monotonic()
            if pending and audit is not None and pause >= LONGEST_PAUSE and \
                    (now >= audit_due or now >= deadline):
                audit()
                audit_due = now + AUDIT_EVERY
                pending = [w for w in pending if not w.refused]
        refused = [w for w in waited_on if w.refused]
        for write in self.of(kind):
            self.writes.remove(write)
        said = ", ".join(w.what for w in refused)
        if said:
            warnings.warn(f"{label}: {said} was refused by the cloud (the job's audit entry "
                          "says success \"no\"); not shown", ReadYourWritesWarning, stacklevel=4)
        if not pending:
            return current
        for write in pending:
            write.apply(current)
        waited = ", ".join(w.what for w in pending)
        warnings.warn(f"{label}: {waited} is not visible in the cloud after {VISIBLE_WITHIN:g}s "
                      "(CloudAPI applies it through a job); shown merged into what the cloud "
                      "answered. machine.audit() says whether the job ran.",
                      ReadYourWritesWarning, stacklevel=4)
        return current


__all__ = ["PendingWrites", "Write", "ReadYourWritesWarning", "VISIBLE_WITHIN", "set_items",
           "replaced", "removed"]

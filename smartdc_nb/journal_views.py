"""Reading the journal: :func:`journal` (a DataFrame), runs with reprs (``smartdc-nb journal``:
smartdc_nb.journal_command).

    >>> smartdc_nb.journal()                          # every record, oldest first
    >>> smartdc_nb.journal(run="20260101T120000-1a2b3c4d", machine="web-01")
    >>> smartdc_nb.journal_runs()                     # recent runs, one row each (HTML repr)
    >>> smartdc_nb.journal_run(run_id)                # one run: its machines and requests

A record that cannot be read (damaged JSON, or not a record's shape: journal_shape) is skipped
with a :class:`JournalWarning` naming the file and the record's number; the
other records are still returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .errors import InvalidInputError
from .journal_place import JournalWarning
from .journaling import COLUMNS, ENV, NOT_SENT, Journal, default_path
from .pandas_text import dtypes
from .resources.values import parse_time

if TYPE_CHECKING:
    import pandas



def _journal(path: str | Path | None) -> Journal:
    return Journal.at(journal_path(path, "path=PATH"))


def journal_path(path: str | Path | None, option: str) -> Path:
    """The journal file to read: ``path``, else the default; InvalidInputError naming
    ``option`` (``path=PATH`` in Python, ``--path FILE`` on a terminal) when it is off."""
    target = Path(path).expanduser() if path is not None else default_path()
    if target is None:
        raise InvalidInputError(f"the journal is off (${ENV} says so); give {option} to read one")
    return target


def _parse_time(text: Any) -> datetime:
    moment = parse_time(str(text))  # CloudAPI's rule: a trailing Z read on Python 3.10 too
    if moment is None:
        raise ValueError(f"not an ISO 8601 time: {text!r}")
    return moment


def read_records(path: str | Path | None = None,
                 match: Callable[[dict], bool] | None = None) -> list[dict[str, Any]]:
    """The journal's records as dicts that ``match``, damaged ones skipped with a warning
    (Journal.rows() checks each record's shape: here its fields are as the writers make them)."""
    return list(iter_records(path, match))


def iter_records(path: str | Path | None = None,
                 match: Callable[[dict], bool] | None = None) -> Iterator[dict[str, Any]]:
    """:func:`read_records` one at a time, the file read as they are (consume it at once)."""
    for record in _journal(path).iter_rows(match):
        record["time"] = _parse_time(record["time"])
        yield record


def journal(run: str | None = None, machine: str | None = None, since: Any = None,
            until: Any = None, *, path: str | Path | None = None,
            kinds: tuple[str, ...] | None = None) -> pandas.DataFrame:
    """The journal as a DataFrame, one row per record, oldest first.

    ``run`` a run id; ``machine`` a machine id or name; ``since``/``until``
    datetimes or ISO text (UTC when naive); ``path`` another journal file;
    ``kinds`` e.g. ``("intent", "outcome")``. Columns: see
    smartdc_nb.journaling.COLUMNS.
    """
    import pandas as pd

    tests: list[Callable[[dict], bool]] = []
    if run is not None:
        tests.append(lambda r, run=str(run): r.get("run_id") == run)
    if machine is not None:
        tests.append(lambda r, m=str(machine): m in (r.get("machine_id"), r.get("machine_name")))
    if since is not None:
        tests.append(_bound(since, after=True))
    if until is not None:
        tests.append(_bound(until, after=False))
    if kinds:
        tests.append(lambda r, k=tuple(kinds): r.get("kind") in k)
    records = read_records(path, lambda r: all(test(r) for test in tests))
    frame = pd.DataFrame(records, columns=list(COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[ns, UTC]")
    # explicit: inferred, a column no record filled (user, plan_id, error) would be object
    texts = [c for c in COLUMNS if c not in ("seq", "time", "arguments", "detail", "http_status",
                                             "intent", "seconds")]
    frame = frame.astype(dtypes({**dict.fromkeys(texts, "str"), "http_status": "Int64",
                                 "intent": "Int64", "seconds": "Float64"}))
    frame.attrs["kind"] = "journal"
    return frame


def _bound(value: Any, after: bool) -> Callable[[dict], bool]:
    """Whether a record's time is at or ``after`` the bound ``value`` (else at or before it).

    The journal's writers all write UTC to the microsecond, whose text order is time order:
    such a time is compared as text (a journal of a million records is read in seconds). Any
    other (another offset, fewer digits: written by hand or by another tool) is read first."""
    moment = _as_time(value).astimezone(timezone.utc)
    text = moment.isoformat(timespec="microseconds")

    def test(record: dict) -> bool:
        when = str(record.get("time"))
        if len(when) == 32 and when.endswith("+00:00") and when[19] == ".":
            return when >= text if after else when <= text
        try:
            parsed = _parse_time(when)
        except ValueError:  # journal_shape let it through: it is ISO 8601 to Python
            return False
        return parsed >= moment if after else parsed <= moment
    return test


def _as_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        return _parse_time(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"since/until must be a datetime or ISO text like "
                                f"'2026-01-31T12:00', not {value!r}") from None


# ------------------------------------------------------------------ runs

#: What a recorded outcome says the cloud did with the request (MachineRecord.answer).
ACCEPTED, REFUSED, UNKNOWN = "accepted", "refused", "unknown"


def answer_of(outcome: dict) -> str:
    """ACCEPTED, REFUSED (the cloud answered that it did not act: safe to send again) or
    UNKNOWN (no answer, or one that does not say: only the cloud can tell) for an outcome.

    A 4xx is the cloud refusing the request (throttled, invalid, not allowed) and a 503 is
    CloudAPI unavailable: neither acted. A 500/502/504 may come from something in front of
    CloudAPI after it passed the request on, and a broken connection or Ctrl-C says nothing.
    """
    if outcome.get("outcome") == "accepted":
        return ACCEPTED
    if outcome.get("outcome") == NOT_SENT:  # refused before it went out: nothing reached it
        return REFUSED
    status = outcome.get("http_status")
    if isinstance(status, int) and (400 <= status < 500 or status == 503):
        return REFUSED
    return UNKNOWN


@dataclass
class MachineRecord:
    """What the journal says about one machine of a run."""

    datacenter: str | None
    id: str
    name: str | None
    state: str | None = None  # at the start of the run
    intent: dict | None = None  # the last intent without an outcome, if any
    outcome: dict | None = None  # the last outcome
    request: dict | None = None  # the intent the last outcome answers

    @property
    def answer(self) -> str | None:
        """What the last outcome says the cloud did (see answer_of); None without one."""
        return answer_of(self.outcome) if self.outcome is not None else None

    @property
    def status(self) -> str:
        if self.intent is not None:
            return "sent, outcome unknown"
        if self.outcome is None:
            return "not sent"
        return "accepted" if self.outcome["outcome"] == "accepted" else self.outcome["outcome"]


@dataclass
class Run:
    """One run of the journal: its ``run`` record, its requests, how it ended."""

    run_id: str
    start: dict
    records: list[dict] = field(default_factory=list)
    path: Path | None = None

    @property
    def detail(self) -> dict:
        return self.start.get("detail") or {}

    @property
    def action(self) -> str | None:
        return self.start.get("action")

    @property
    def ended(self) -> dict | None:
        ends = [r for r in self.records if r["kind"] == "run-end"]
        resumes = [r for r in self.records if r["kind"] == "resume"]
        if ends and (not resumes or ends[-1]["seq"] > resumes[-1]["seq"]):
            return ends[-1]
        return None

    @property
    def status(self) -> str:
        """``ended``, ``interrupted`` (Ctrl-C or error), ``running`` (a process has it now) or
        ``incomplete`` (the process died: resume it)."""
        if self.detail.get("kind") == "single":  # one request: no run records around it
            pending = any(m.intent is not None for m in self.machines().values())
            return "incomplete" if pending else "ended"
        end = self.ended
        if end is None:
            from .run_locks import holder

            return "running" if self.path and holder(self.path, self.run_id) else "incomplete"
        return "ended" if end["outcome"] == "ended" else end["outcome"]

    def machines(self) -> dict[str, MachineRecord]:
        """``{machine id: MachineRecord}`` in the run's order (requests outside it appended)."""
        found: dict[str, MachineRecord] = {}
        for item in self.detail.get("machines") or []:
            found[item["id"]] = MachineRecord(item.get("datacenter"), item["id"],
                                              item.get("name"), item.get("state"))
        intents: dict[int, dict] = {}
        for record in self.records:
            machine_id = record.get("machine_id")
            if not machine_id or record["kind"] not in ("intent", "outcome"):
                continue
            row = found.setdefault(machine_id, MachineRecord(
                record.get("datacenter"), machine_id, record.get("machine_name")))
            if record["kind"] == "intent":
                intents[record["seq"]] = record
                row.intent = record
            else:
                row.request = intents.pop(record.get("intent"), None)
                row.outcome = record
                if row.intent is not None and row.intent["seq"] == record.get("intent"):
                    row.intent = None
        return found

    @property
    def datacenters(self) -> list[str]:
        """The datacenters the run's machines are in, in the run's order (its first record's
        when it names no machine)."""
        names = dict.fromkeys(m.datacenter for m in self.machines().values() if m.datacenter)
        return list(names) or ([self.start["datacenter"]] if self.start.get("datacenter") else [])

    def checked(self) -> set[str]:
        """Ids of the machines whose batch was waited on and passed its health check (the
        ``batch`` records; runs journalled before those were written have none)."""
        passed: set[str] = set()
        for record in self.records:
            if record["kind"] == "batch":
                passed.update((record.get("detail") or {}).get("passed") or ())
        return passed

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.machines().values():
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts

    def summary(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        who = self.start.get("account") or "?"
        if self.start.get("user"):
            who += "/" + self.start["user"]
        plan = f" (plan {self.start['plan_id']})" if self.start.get("plan_id") else ""
        return (f"run {self.run_id}: {self.action} by {who} at "
                f"{self.start['time']:%Y-%m-%d %H:%M:%S} UTC{plan} — {self.status}; "
                f"{counts or 'no machines'}")

    @property
    def frame(self) -> pandas.DataFrame:
        """One row per machine: datacenter, id, name, state at start, status, HTTP status, error."""
        import pandas as pd

        rows = [{"datacenter": m.datacenter, "id": m.id, "name": m.name,
                 "state_before": m.state, "status": m.status,
                 "http_status": (m.outcome or {}).get("http_status"),
                 "request_id": (m.outcome or {}).get("request_id"),
                 "error": (m.outcome or {}).get("error")} for m in self.machines().values()]
        frame = pd.DataFrame(rows, columns=["datacenter", "id", "name", "state_before", "status",
                                            "http_status", "request_id", "error"])
        return frame.astype(dtypes({"datacenter": "string", "id": "string", "name": "string",
                                    "state_before": "str", "status": "str", "http_status": "Int64",
                                    "request_id": "str", "error": "str"}))

    def __repr__(self) -> str:
        return f"<Run {self.summary()}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        from .display.operations import render, run_card

        return render(run_card(self))


class RunList(list):
    """Runs, newest first; displays as a table."""

    @property
    def frame(self) -> pandas.DataFrame:
        import pandas as pd

        return pd.DataFrame([{"run_id": r.run_id, "time": r.start["time"], "action": r.action,
                              "account": r.start.get("account"),
                              "datacenter": ", ".join(r.datacenters),
                              "plan_id": r.start.get("plan_id"), "status": r.status,
                              "machines": len(r.machines()),
                              "summary": ", ".join(f"{n} {s}" for s, n in r.counts().items())}
                             for r in self],
                            columns=["run_id", "time", "action", "account", "datacenter",
                                     "plan_id", "status", "machines", "summary"]
                            ).astype(dtypes({"run_id": "str", "time": "datetime64[ns, UTC]",
                                             "action": "str", "account": "str", "datacenter": "str",
                                             "plan_id": "str", "status": "str", "machines": "int64",
                                             "summary": "str"}))

    def __repr__(self) -> str:
        return "\n".join(r.summary() for r in self) or "no runs in the journal"

    def _repr_html_(self) -> str:
        from .display.operations import render, runs_card

        return render(runs_card(self))


def journal_runs(limit: int | None = 20, *, path: str | Path | None = None,
                 since: Any = None) -> RunList:
    """The most recent runs (newest first): bulk runs and single requests, with their status."""
    bound = _bound(since, after=True) if since is not None else None
    runs: dict[str, Run] = {}
    # A run is listed by its first record, so the newest `limit` runs are the last `limit`
    # run ids seen first: one pushed out never comes back, and its records are not kept
    # (a journal of months is not held in memory to show 20 runs).
    dropped: set[str] = set()
    where = _journal(path).path
    for record in iter_records(path, bound):
        run_id = record["run_id"]
        if run_id in dropped:
            continue
        if run_id not in runs:
            start = record if record["kind"] in ("run", "resume") else {
                **record, "detail": {"kind": "single"}}
            runs[run_id] = Run(run_id, start, path=where)
            if limit and len(runs) > limit:
                oldest = next(iter(runs))
                del runs[oldest]
                dropped.add(oldest)
        runs[run_id].records.append(record)
    ordered = sorted(runs.values(), key=lambda r: r.start["seq"], reverse=True)
    return RunList(ordered[:limit] if limit else ordered)


def journal_run(run_id: str, *, path: str | Path | None = None) -> Run:
    """One run by id (InvalidInputError naming the journal when it is not there)."""
    records = read_records(path, lambda r: r.get("run_id") == str(run_id))
    if not records:
        raise InvalidInputError(f"no run {run_id!r} in the journal at {_journal(path).path}; "
                                "smartdc-nb journal lists the recent runs")
    start = next((r for r in records if r["kind"] == "run"), None) or {
        **records[0], "detail": {"kind": "single"}}
    return Run(str(run_id), start, records, path=_journal(path).path)


__all__ = ["journal", "journal_runs", "journal_run", "Run", "RunList", "JournalWarning",
           "read_records", "journal_path"]

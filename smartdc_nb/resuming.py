"""Resume a bulk run that was interrupted: ``smartdc_nb.resume(run_id)``, ``smartdc-nb resume``.

A bulk run writes its action, arguments, options and machines to the journal
(smartdc_nb.journaling) before it sends anything, and an intent and an outcome
around every request. After Ctrl-C, an exception, a dead kernel or ``kill -9``,
:func:`resume` continues it under the same run id:

- a machine whose request the cloud accepted is not sent it again; in a run that
  waited (or rolled with a health check) it is done only once its batch's wait
  and check ended (the journal's ``batch`` record): else it is waited on and
  checked again first, and a failure stops the roll as it would have;
- a request the cloud refused (a 4xx, a 503: it did not act) is sent again;
- a machine with an intent but no outcome (the process died with the request
  in flight), or whose request got no answer that says (a broken connection, a
  500), is read first — the machine and its audit log — and is only sent again
  when the cloud shows the action did not happen (no audit entry of it since the
  intent, and the machine still in the state it was in);
- the rest run as planned, with the run's options (wait, batch size,
  concurrency, timeout); every machine is judged again by the rules table on
  fresh states before anything is sent, as in any bulk run.

The connections are made again from what the run recorded (URL, account, key
fingerprint or file, user, roles; never a secret: an encrypted key needs
``passphrase=`` or SMARTDC_NB_KEY_PASSPHRASE), unless ``datacenters=`` gives
them. A run that used a ``health_check`` needs it again (``health_check=``):
code cannot be stored in a journal, but its name and a digest of its body are,
and another check is refused unless ``check_changed=True`` says it is meant.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Mapping

from .operations.actions import ACTIONS
from .operations.bulk import Resumed, run_bulk
from .operations.outcomes import FAILED, SKIPPED, BulkInterrupted, BulkResult, Outcome
from .operations.polling import refresh_machines
from .errors import InvalidInputError, NotFoundError, SmartDCError, TransportError
from .journal_views import ACCEPTED, REFUSED, MachineRecord, Run, journal_path, journal_run
from .journal_lines import holds_secret
from .resources.audit import PendingAction, action_entry
from .plan_ids import callable_identity, identity_name
from .plans import PlannedNames
from .resources.machine import Machine
from .run_locks import RunInProgressError, RunLock

#: Audit entries this much older than an intent's (local) time still count as its
#: action: the client's and the cloud's clocks are not the same clock.
CLOCK_SKEW = timedelta(seconds=5)


class ReconnectError(SmartDCError):
    """A datacenter of the run could not be reached any way the run or the caller gave."""

    def __init__(self, run_id: str, datacenter: str, tried: list[str]):
        self.run_id, self.datacenter, self.tried = run_id, datacenter, tried
        super().__init__(self.saying("profile=NAME or url=URL (or datacenters=...)"))

    def saying(self, options: str) -> str:
        """The message, naming ``options`` as the way to say where the datacenter is now."""
        return (f"cannot reconnect to datacenter {self.datacenter!r} of run {self.run_id}: "
                f"{'; '.join(self.tried)}. Say where it is now with {options}")


def _connections(run: Run, datacenters: Any, passphrase: str | None, profile: str | None = None,
                 url: str | None = None) -> dict[str, Any]:
    """``{datacenter name: DataCenter}`` for the run's datacenters."""
    from .datacenter import DataCenter
    from .fleet import Fleet

    given: dict[str, Any] = {}
    if isinstance(datacenters, Fleet):
        given = datacenters.datacenters
    elif isinstance(datacenters, DataCenter):
        given = {datacenters.name or datacenters.url: datacenters}
    elif isinstance(datacenters, Mapping):
        given = dict(datacenters)
    elif datacenters is not None:
        raise InvalidInputError("datacenters= takes a Fleet, a DataCenter or {name: DataCenter}")
    out = {}
    for name, conn in (run.detail.get("connections") or {}).items():
        if name in given:
            out[name] = given[name]
            continue
        by_url = next((d for d in given.values() if d.url == conn.get("url")), None)
        if by_url is not None:
            out[name] = by_url
            continue
        out[name] = _reconnect(run, name, conn, passphrase, profile, url)
    return out


def _reconnect(run: Run, name: str, conn: Mapping[str, Any], passphrase: str | None,
               profile: str | None, url: str | None) -> Any:
    """Datacenter ``name`` of the run, reached through ``profile``/``url`` when given, else
    the recorded profile, else the recorded URL: a profile can know where its cloud is now
    (the demo cloud gets a new port with each process that starts it), a URL cannot.

    Each way is tried with one request (GET datacenters), so a dead address is said here,
    with every way tried, instead of as each machine's failure later.
    """
    from .datacenter import connect

    same = dict(account=conn["account"], user=conn.get("user"), act_as=conn.get("act_as"),
                roles=conn.get("roles") or None, passphrase=passphrase, journal=str(run.path),
                rate_limit=conn.get("rate_limit", True))
    # the recorded key goes with the recorded URL; a profile brings its own (it may be newer)
    keyed = dict(key_id=conn.get("key_id"), key_path=conn.get("key_path"),
                 insecure=conn.get("insecure") or None)
    ways: list[tuple[str, Callable[[], Any]]] = []
    if profile or url:
        ways.append((f"through profile {profile!r}" if profile else "at the URL given",
                     lambda: connect(profile, url=url, **same) if profile else
                     connect(url=url, **keyed, **same)))
    else:
        if conn.get("profile"):
            ways.append((f"through profile {conn['profile']!r}", lambda: connect(conn["profile"], **same)))
        ways.append(("at the URL the run recorded", lambda: connect(url=conn["url"], **keyed, **same,
                                                          name=conn.get("name") or name)))
    tried = []
    for how, make in ways:
        dc = None
        try:
            dc = make()
            known = dc.datacenters()
            if name in known:
                return dc.datacenter(name)
            if not known or name in (dc.url, dc.name):
                return dc
            raise InvalidInputError(f"that cloud has no datacenter {name!r} (it has "
                                    f"{', '.join(sorted(known))})")
        except TransportError as exc:  # its own advice is about a profile's url: not this case
            where = f" from {dc.url}" if dc is not None else ""
            tried.append(f"{how}: no answer{where} ({exc.__cause__ or exc})")
        except SmartDCError as exc:
            tried.append(f"{how}: {exc}")
    raise ReconnectError(run.run_id, name, tried)


def _arguments(run: Run) -> tuple[tuple, dict]:
    detail = run.detail
    arguments = detail.get("arguments") or {}
    if detail.get("names"):
        return (PlannedNames(detail["names"]),), {}
    if arguments.get("callable"):
        raise InvalidInputError(
            f"run {run.run_id} was given a callable argument, which a journal cannot keep; "
            "it cannot be resumed as it was")
    args, kwargs = tuple(arguments.get("args") or ()), dict(arguments.get("kwargs") or {})
    if holds_secret([*args, kwargs]):
        raise InvalidInputError(
            f"run {run.run_id} set secret values (such as a password), which the journal does "
            "not keep, so it cannot send them again; nothing was sent. Run the action again "
            f"for the machines it did not reach (smartdc_nb.journal_run({run.run_id!r}) shows "
            "them)")
    return args, kwargs


def _pending(intent: dict) -> PendingAction:
    """The action of a journalled intent, as a wait or the audit check looks for it."""
    return PendingAction(intent.get("action"), intent["time"] - CLOCK_SKEW,
                         intent.get("state_before"), time.monotonic())


def _happened(machine: Machine, intent: dict) -> tuple[str, bool] | None:
    """How the cloud shows the request of ``intent`` landed, in words, and whether its job
    failed; None when it does not (one GET of the machine, and its audit log)."""
    try:
        machine.refresh()
    except NotFoundError:
        return "the machine no longer exists", False
    before = intent.get("state_before")
    if before and machine.state != before:
        return (f"the machine is {machine.state} now (it was {before} when the request was "
                "sent)"), False
    entry = action_entry(_pending(intent), machine.audit())
    if entry is not None:
        failed = entry.get("success") == "no"
        return (f"its audit log shows {entry.get('action')} at {entry.get('time')}"
                f"{', which failed (success: no)' if failed else ''}"), failed
    return None


def _what_happened(record: MachineRecord, machine: Machine
                   ) -> tuple[dict | None, str, bool]:
    """``(the intent of the run's request the cloud took, in words, whether its job
    failed)``, or ``(None, "", False)`` when the machine has no request that took effect:
    never sent, refused (the cloud answered that it did not act), or one the cloud shows did
    not happen."""
    if record.intent is None and record.answer == ACCEPTED:
        sent = record.outcome or {}
        return record.request or sent, (f"already sent in this run at {sent['time']:%H:%M:%S} "
                                        f"UTC (accepted: HTTP {sent.get('http_status')})"), False
    if record.intent is None and record.answer in (None, REFUSED):
        return None, "", False
    intent = record.intent or record.request or record.outcome or {}
    shown = _happened(machine, intent)
    if shown is None:
        return None, "", False
    words, failed = shown
    if record.intent is not None:
        return intent, f"sent before the interruption and {words}", failed
    error = (record.outcome or {}).get("error") or "no answer"
    return intent, f"sent in this run without an answer that says ({error}), and {words}", failed


def _waits(run: Run) -> bool:
    """Whether the run waited on its machines (or rolled with a health check): a machine of
    it is done only once its batch's wait and check ended."""
    options = run.detail.get("options") or {}
    return bool(options.get("wait") or options.get("batch_size") or run.detail.get("health_check"))


def nothing_to_send(run: Run) -> bool:
    """Whether the journal alone shows a resume of ``run`` would send nothing, nor wait on or
    check anything: the cloud accepted every machine's request, and, in a run that waited,
    each machine's batch passed its wait and check. Any other machine :func:`resume` sends,
    reads from the cloud first, or waits on and checks again."""
    machines = run.machines().values()
    waits, checked = _waits(run), run.checked()
    return bool(machines) and all(
        record.intent is None and record.answer == ACCEPTED and (not waits or record.id in checked)
        for record in machines)


def _read_states(machines: list[Machine]) -> None:
    """Read the machines' states now (one listing per datacenter): a row must not show the
    state the run started from as its final state. Those that cannot be read keep none."""
    if machines:
        refresh_machines(machines, errors={})


def _check_is_the_runs(run_id: str, recorded: Any, given: Any, changed: bool) -> None:
    """InvalidInputError unless ``given`` is the run's health check (or ``changed`` says
    another is meant). Runs journalled before checks were named recorded only ``True``."""
    if recorded and given is None:
        raise InvalidInputError(f"run {run_id} checked each batch with a health check; give it "
                                "again: resume(run_id, health_check=...)")
    if isinstance(recorded, (str, dict)) and given is not None and not changed:
        now = callable_identity(given)
        if now != recorded:
            name, was = identity_name(now), identity_name(recorded)
            body = "another body" if name == was else name
            raise InvalidInputError(
                f"run {run_id} checked each batch with {was}, not the health check "
                f"given ({body}): the rest of a run goes as it was planned. Give the run's own "
                "check, or check_changed=True to run the rest with this one")


def resume(run_id: str, *, path: str | Path | None = None, datacenters: Any = None,
           health_check: Callable[[Machine], Any] | None = None, check_changed: bool = False,
           passphrase: str | None = None, progress: Any = None, profile: str | None = None,
           url: str | None = None) -> BulkResult:
    """Continue the interrupted bulk run ``run_id`` (see the module docstring).

    ``path`` is the journal (default as for connect()); ``datacenters`` a Fleet,
    DataCenter or ``{name: DataCenter}`` to use instead of reconnecting; ``profile`` or
    ``url`` where to reconnect instead of the run's recorded profile and URL;
    ``health_check`` the run's health check, when it had one: the same name and
    body, or ``check_changed=True`` to run the rest with another (a fixed one).
    Returns a BulkResult with a row for every machine of the run. While the run itself, or
    another resume of it, still goes on (another process, thread or notebook), this raises
    RunInProgressError and sends nothing.
    """
    where = journal_path(path, "path=PATH")
    # Read the run only once it is ours: two resumes that both read it first both sent
    # every machine its request (a resume that ended while this one waited is read whole).
    with RunLock(where, str(run_id)).acquire(
            f"run {run_id} is still running or being resumed elsewhere",
            "Let that end (smartdc-nb journal shows the run's status), then resume again if "
            "the run is still unfinished"):
        return _resume(run_id, where, datacenters, health_check, check_changed, passphrase,
                       progress, profile, url)


def _resume(run_id: str, path: Path, datacenters: Any,
            health_check: Callable[[Machine], Any] | None, check_changed: bool,
            passphrase: str | None, progress: Any, profile: str | None,
            url: str | None) -> BulkResult:
    run = journal_run(run_id, path=path)
    detail = run.detail
    if detail.get("kind") != "bulk":
        raise InvalidInputError(f"run {run_id} is a single request, not a bulk run: there is "
                                f"nothing to resume (smartdc_nb.journal(run={run_id!r}), or "
                                f"`smartdc-nb journal {run_id}` on a terminal, shows it)")
    action = run.action
    spec = ACTIONS.get(action or "")
    if spec is None:
        raise InvalidInputError(f"run {run_id} is a {action!r} run, which this version cannot run")
    options = dict(detail.get("options") or {})
    _check_is_the_runs(run_id, detail.get("health_check"), health_check, check_changed)
    if health_check is not None:
        options["health_check"] = health_check
    args, kwargs = _arguments(run)
    connections = _connections(run, datacenters, passphrase, profile, url)
    started = time.monotonic()
    outcomes: dict[str, Outcome] = {}
    carried: dict[str, Resumed] = {}  # sent, to wait on and check; or to send (batch only)
    read: set[str] = set()  # machines whose state this resume read
    waits = _waits(run)
    checked = run.checked()
    size = options.get("batch_size")
    order = {m["id"]: i for i, m in enumerate(detail.get("machines") or ())}
    for record in run.machines().values():
        dc = connections.get(record.datacenter or "")
        if dc is None:
            raise InvalidInputError(f"run {run_id} has machines in {record.datacenter!r}, which "
                                    "it has no connection for")
        # no state: the one recorded is the run's start, not now (it is read below)
        machine = Machine(dc, data={"id": record.id, "name": record.name})
        row = outcomes[record.id] = Outcome(machine, action or "")
        batch = order.get(record.id, 0) // size + 1 if size else None
        sent, how, job_failed = _what_happened(record, machine)
        if record.intent is not None or record.answer not in (ACCEPTED, REFUSED):
            read.add(record.id)
        if sent is None:  # never sent, refused, or the cloud shows it did not happen
            carried[record.id] = Resumed(batch)
        elif waits and record.id not in checked:
            carried[record.id] = Resumed(batch, _pending(sent), f"{how}; not sent again, "
                                                                "waited on and checked now")
        elif job_failed:  # the cloud's job refused it: not done, and said so
            row.end(FAILED, reason=f"{how}; not sent again")
        else:
            row.end(SKIPPED, reason=f"{how}; not sent again")
    todo = [outcomes[i].machine for i in carried]
    from .journaling import Journal, resuming, under_plan

    interrupted = None
    ran = None
    with under_plan(run.start.get("plan_id")), resuming(run.run_id, Journal.at(run.path)):
        if todo:
            try:
                ran = run_bulk(todo, action, *args, confirm=True, refresh=True,
                               progress=progress, _resumed=carried, **options, **kwargs)
            except BulkInterrupted as exc:
                ran, interrupted = exc.result, exc
    if ran is not None:
        for outcome in ran.outcomes:
            outcomes[outcome.machine.id] = outcome
    _read_states([o.machine for o in outcomes.values()
                  if o.outcome == SKIPPED and o.machine.id not in read])
    result = BulkResult(action or "", list(outcomes.values()), time.monotonic() - started,
                        interrupted=interrupted is not None,
                        waited_for=ran.waited_for if ran is not None else None)
    if not todo and outcomes:  # nothing left to send: the run still ends, or it stays
        _end_without_sending(run, action, result, next(iter(outcomes.values())))  # "incomplete"
    result.run_id = run.run_id
    if interrupted is not None:
        raise BulkInterrupted.of(result) from interrupted
    return result


def _end_without_sending(run: Run, action: str | None, result: BulkResult, any_row: Outcome
                         ) -> None:
    """Journal a resume that found every machine done (its ``resume`` and ``run-end``)."""
    from .journaling import Journal, end_run, resuming, start_run

    with resuming(run.run_id, Journal.at(run.path)):
        context = start_run(Journal.at(run.path), kind="bulk", action=action or "",
                            datacenter=any_row.machine.datacenter, detail={"machines": []})
    end_run(context, "ended", result.counts)


__all__ = ["resume", "nothing_to_send", "ReconnectError", "RunInProgressError"]

"""Cards for each object a person looks at, built only from what the object already holds.

Every read goes through :func:`attr` (a missing or failing attribute shows as
"unknown", never as a crash) and touches only local state: ``raw`` payloads,
``fetched_at``, the DataCenter's catalog memory (``known_package`` /
``known_image``), ``known_snapshots``, a Fleet's last listing. Nothing here
calls ``refresh()``, ``snapshots()`` or any other method that makes a request.

What each card reads (a missing attribute shows as unknown):

- Machine: ``raw`` (id, name, state, brand, type, image, package, memory, disk,
  ips, primaryIp, nics, networks, tags, metadata, created, updated,
  firewall_enabled, deletion_protection, compute_node, docker, dns_names,
  disks), ``fetched_at``, ``created``, ``updated``, ``age``, ``known_snapshots``,
  ``datacenter`` (``name``, ``url``, ``known_image(id)``, ``known_package(name)``),
  and ``public_ips``/``private_ips`` only when ``raw["ips"]`` is not empty
  (with no IPs they would re-fetch the machine).
- Snapshot: ``raw`` (name, state, size, created, updated), ``created``,
  ``updated``, ``fetched_at``, ``machine`` (``name``, ``id``, ``datacenter``).
- DataCenter: ``name``, ``url``, ``account_name``, ``login``, ``user``,
  ``roles``, ``insecure``, ``profile.name``, and its catalog memory
  ``known_packages()``, ``known_images()``, ``known_datacenters()``.
- Fleet: ``status()`` (datacenter, url, machines, error per datacenter),
  ``known_machines``, ``datacenters`` (for the account's ``login``).
- Wait and bulk results: ``frame``, ``counts``, ``action`` (bulk), ``title``
  (wait), ``dry_run``, ``interrupted``, ``waited_for``, ``elapsed``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from .layout import Card, Facts, Section, Table, capped
from .values import (STATE_ORDER, Badge, Ident, Masked, Note, Series, badge, byte_size, duration,
                     flag, mebibytes, text, when)

#: metadata keys whose values are secrets (CloudAPI's ``*_pw`` convention and common names)
SECRET_KEY = re.compile(r"(_pw$|passw(or)?d|secret|token|api[_-]?key|private[_-]?key|credential)",
                        re.I)
#: metadata keys shown by size only (a boot script, the injected SSH keys)
SCRIPT_KEYS = {"user-script", "user-data", "root_authorized_keys"}
#: sections with at most this many entries start open
OPEN_UP_TO = 8
#: the longest text in one cell of a compact list (a card shows more)
CELL = 48
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name``, or ``default`` when it is missing or fails (a repr must never raise)."""
    try:
        value = getattr(obj, name)
    except Exception:  # a property that fails must not break the display
        return default
    return default if value is None else value


def raw_of(obj: Any) -> Mapping:
    """The payload an object holds (read, never changed: no copy, lists can be 100,000 long)."""
    raw = attr(obj, "raw")
    if isinstance(raw, Mapping):
        return raw
    return obj if isinstance(obj, Mapping) else {}


def ident(value: Any) -> Ident | str | Note:
    if isinstance(value, str) and UUID.match(value):
        return Ident(value)
    return text(value) if value else Note("unknown")


def dc_name(dc: Any) -> str | Note:
    name = attr(dc, "name") or attr(dc, "url")
    return text(name) if name else Note("unknown datacenter")


def fetched(obj: Any, how: str) -> list[Any]:
    at = attr(obj, "fetched_at")
    if at is None:
        return []
    return ["fetched " + str(when(at)), Note(how)]


# ------------------------------------------------------------------ machines

def image_value(dc: Any, image_id: Any, *, short: bool = False) -> Any:
    known = _call(dc, "known_image", image_id) if image_id else None
    if isinstance(known, Mapping) and known.get("name"):
        name = f"{known['name']}@{known['version']}" if known.get("version") else known["name"]
        return text(name, CELL) if short else Series((text(name), ident(image_id)), " ")
    if not image_id:
        return Note("none")
    return ident(image_id) if short else Series(
        (ident(image_id), Note("name not known: dc.images() loads the catalog")), " ")


def package_value(dc: Any, raw: Mapping, *, short: bool = False) -> Any:
    name = raw.get("package")
    if short:
        return text(name, CELL) if name else Note("unknown")
    known = _call(dc, "known_package", name) if name else None
    if isinstance(known, Mapping):
        sizes = (f"{known.get('vcpus', '?')} vCPU · {mebibytes(known.get('memory'))} RAM · "
                 f"{mebibytes(known.get('disk'))} disk")
        return Series((text(name), sizes), " — ")
    sizes = f"{mebibytes(raw.get('memory'))} RAM · {mebibytes(raw.get('disk'))} disk"
    hint = Note("vCPUs not known: dc.packages() loads the catalog")
    return Series((text(name) if name else Note("no package"), sizes, hint), " — ")


def ip_facts(machine: Any, raw: Mapping) -> list[tuple[str, Any]]:
    ips = raw.get("ips") or []
    if not ips:  # public_ips would re-fetch the machine (the seed's behaviour): stay local
        return [("IPs", Note("none known yet"))]
    public, private = attr(machine, "public_ips"), attr(machine, "private_ips")
    if public is None and private is None:
        return [("IPs", Series(tuple(text(ip) for ip in ips)))]
    rows = [("Public IPs", Series(tuple(text(ip) for ip in public or ()))),
            ("Private IPs", Series(tuple(text(ip) for ip in private or ())))]
    if raw.get("primaryIp"):
        rows.append(("Primary IP", text(raw["primaryIp"])))
    return rows


def machine_card(machine: Any) -> Card:
    raw = raw_of(machine)
    dc = attr(machine, "datacenter")
    kind = " / ".join(text(raw[k]) for k in ("brand", "type") if isinstance(raw.get(k), str))
    created = attr(machine, "created") or raw.get("created")
    age = attr(machine, "age")
    facts: list[tuple[str, Any]] = [
        ("Datacenter", dc_name(dc)),
        ("Brand / type", kind or Note("unknown")),
        ("Image", image_value(dc, raw.get("image"))),
        ("Package", package_value(dc, raw)),
        *ip_facts(machine, raw),
        ("Created", when(created)),
        ("Updated", when(attr(machine, "updated") or raw.get("updated"))),
        ("Age", duration(age) if isinstance(age, timedelta) else _age(created)),
        ("Firewall", flag(raw.get("firewall_enabled"))),
        ("Deletion protection", flag(raw.get("deletion_protection"), "protected", "off")),
    ]
    if raw.get("compute_node"):
        facts.append(("Compute node", ident(raw["compute_node"])))
    if raw.get("docker"):
        facts.append(("Docker", "yes"))
    if raw.get("dns_names"):
        facts.append(("DNS names", Series(tuple(text(n) for n in raw["dns_names"]))))
    blocks: list[Any] = [
        Facts(facts),
        mapping_section("Tags", raw.get("tags"), tag_value, "Tag"),
        mapping_section("Metadata", raw.get("metadata"), metadata_value, "Key"),
        networks_section(raw),
    ]
    if raw.get("disks"):
        blocks.append(disks_section(raw["disks"]))
    blocks.append(known_snapshots_section(attr(machine, "known_snapshots")))
    return Card("Machine", text(raw.get("name")) if raw.get("name") else Note("no name"),
                header=[badge(raw.get("state")), ident(raw.get("id"))],
                subtitle=[dc_name(dc)], blocks=blocks,
                footer=fetched(machine, "m.refresh() fetches it again"))


def tag_value(_key: str, value: Any) -> Any:
    return text(value)


def metadata_value(key: str, value: Any) -> Any:
    """A metadata value as shown: credentials masked, scripts and keys by size, the rest clipped."""
    if key == "credentials" and isinstance(value, Mapping):
        return Series(tuple(Series((text(user), Masked("password masked")), ": ")
                            for user in value), "; ")
    if SECRET_KEY.search(key):
        return Masked()
    if key in SCRIPT_KEYS and isinstance(value, str):
        size = byte_size(len(value.encode()))
        if key == "root_authorized_keys":
            count = len([line for line in value.splitlines() if line.strip()])
            return Note(f"{count} public key{'s' * (count != 1)}, {size}")
        return Note(f"script, {size}, {len(value.splitlines())} lines")
    return text(value)


def mapping_section(title: str, mapping: Any, show, column: str) -> Section:
    if not isinstance(mapping, Mapping) or not mapping:
        return Section(title, 0, Note("none"))
    items = sorted(mapping.items(), key=lambda kv: str(kv[0]))
    rows = [[text(str(k)), show(str(k), v)] for k, v in items]
    return Section(title, len(items), Table([column, "Value"], rows, kv=True),
                   open=title == "Tags" and len(items) <= OPEN_UP_TO)


def networks_section(raw: Mapping) -> Section:
    nics = raw.get("nics") or []
    if nics:
        rows = [[text(n.get("ip")), ident(n.get("network")), "yes" if n.get("primary") else "",
                 text(n.get("mac")), text(n.get("gateway")), text(n.get("netmask")),
                 badge(n["state"]) if n.get("state") else ""]
                for n in nics if isinstance(n, Mapping)]
        table = Table(["IP", "Network", "Primary", "MAC", "Gateway", "Netmask", "State"], rows)
        return Section("Networks", len(rows), table)
    networks = [n for n in raw.get("networks") or [] if n]
    if not networks:
        return Section("Networks", 0, Note("none"))
    return Section("Networks", len(networks), Table(["Network"], [[ident(n)] for n in networks]))


def disks_section(disks: list) -> Section:
    rows = [[ident(d.get("id")), mebibytes(d.get("size")), "yes" if d.get("boot") else "",
             ident(d.get("image")) if d.get("image") else ""]
            for d in disks if isinstance(d, Mapping)]
    return Section("Disks", len(rows), Table(["Disk", "Size", "Boot", "Image"], rows))


def known_snapshots_section(snapshots: Any) -> Section:
    if snapshots is None:
        return Section("Snapshots", None, Note("not fetched yet: m.snapshots() lists them"))
    rows = [snapshot_row(s, with_machine=False) for s in snapshots]
    return Section("Snapshots", len(rows),
                   Table(["Name", "State", "Created", "Size"], rows, empty="no snapshots",
                         frame="snapshots"),
                   open=0 < len(rows) <= OPEN_UP_TO)


def machine_row(machine: Any) -> list[Any]:
    raw = raw_of(machine)
    dc = attr(machine, "datacenter")
    return [text(raw.get("name"), CELL) if raw.get("name") else Note("no name"),
            badge(raw.get("state")),
            ident(raw.get("id")), dc_name(dc), text(raw.get("brand")),
            image_value(dc, raw.get("image"), short=True), package_value(dc, raw, short=True),
            text(raw.get("primaryIp")) if raw.get("primaryIp") else "",
            _age(raw.get("created"))]


MACHINE_COLUMNS = ["Name", "State", "ID", "Datacenter", "Brand", "Image", "Package", "Primary IP",
                   "Age"]


def state_counts(machines: Iterable[Any]) -> Table:
    """Machines per datacenter and state: a cross table with a badge per state."""
    per_dc: dict[str, Counter] = {}
    for machine in machines:
        raw = raw_of(machine)
        name = str(dc_name(attr(machine, "datacenter")))
        per_dc.setdefault(name, Counter())[str(raw.get("state") or "unknown")] += 1
    total: Counter = sum(per_dc.values(), Counter())
    states = sorted(total, key=lambda s: (STATE_ORDER.index(s) if s in STATE_ORDER
                                          else len(STATE_ORDER), s))
    rows = [[text(name), *[counts[s] or "" for s in states], sum(counts.values())]
            for name, counts in sorted(per_dc.items())]
    if len(rows) > 1:
        rows.append(["All", *[total[s] for s in states], sum(total.values())])
    return Table(["Datacenter", *[badge(s) for s in states], "Total"], rows)


def machines_blocks(machines: list, limit: int) -> list[Any]:
    if not machines:
        return [Note("no machines")]
    return [state_counts(machines),
            capped(MACHINE_COLUMNS, machines, machine_row, limit, "(.to_frame() has every row)",
                   frame="machines")]


def machines_card(machines: Any, limit: int) -> Card:
    machines = list(machines)
    dcs = {str(dc_name(attr(m, "datacenter"))) for m in machines}
    where = f"in {len(dcs)} datacenter{'s' * (len(dcs) != 1)}" if dcs else ""
    return Card("Machines", f"{len(machines):,} machine{'s' * (len(machines) != 1)}",
                subtitle=[where] if where else [], blocks=machines_blocks(machines, limit))


# ------------------------------------------------------------------ snapshots

def snapshot_row(snapshot: Any, with_machine: bool = True) -> list[Any]:
    raw = raw_of(snapshot)
    row = [text(raw.get("name")), badge(raw.get("state")),
           when(attr(snapshot, "created") or raw.get("created")), mebibytes(raw.get("size"))]
    if with_machine:
        machine = attr(snapshot, "machine")
        row.insert(0, text(attr(machine, "name")) if attr(machine, "name")
                   else ident(attr(machine, "id")))
    return row


def snapshot_card(snapshot: Any) -> Card:
    raw = raw_of(snapshot)
    machine = attr(snapshot, "machine")
    created = attr(snapshot, "created") or raw.get("created")
    updated = attr(snapshot, "updated") or raw.get("updated")
    facts = [
        ("Machine", Series((text(attr(machine, "name")) if attr(machine, "name")
                            else Note("no name"), ident(attr(machine, "id"))), " ")),
        ("Datacenter", dc_name(attr(machine, "datacenter"))),
        ("Created", when(created)),
        ("Updated", when(updated) if updated else Note("not given")),
        ("Age", _age(created)),
        ("Size", mebibytes(raw.get("size"))),
    ]
    return Card("Snapshot", text(raw.get("name")), header=[badge(raw.get("state"))],
                blocks=[Facts(facts)], footer=fetched(snapshot, "s.refresh() fetches it again"))


def snapshots_card(snapshots: list, limit: int) -> Card:
    counts = Counter(str(raw_of(s).get("state") or "unknown") for s in snapshots)
    return Card("Snapshots", f"{len(snapshots):,} snapshot{'s' * (len(snapshots) != 1)}",
                header=count_badges(counts),
                blocks=[capped(["Machine", "Name", "State", "Created", "Size"], snapshots,
                               snapshot_row, limit, empty="no snapshots", frame="snapshots")])


def count_badges(counts: Counter) -> list[Badge]:
    """``3 running``, ``1 failed``, ...: one badge per word, most frequent first."""
    return [Badge(f"{n:,} {word}", badge(word).tone) for word, n in counts.most_common()]


# ------------------------------------------------------------------ datacenter and fleet

def datacenter_card(dc: Any) -> Card:
    account = attr(dc, "account_name")
    login = attr(dc, "login")
    profile = attr(dc, "profile")
    facts: list[tuple[str, Any]] = [
        ("URL", text(attr(dc, "url"))),
        ("Account", text(account) if account else Note("unknown")),
    ]
    if attr(dc, "user"):
        facts.append(("User", text(dc.user)))
    if login and login != account:
        facts.append(("Acting as", text(login)))
    if attr(dc, "roles"):
        facts.append(("Roles", Series(tuple(text(r) for r in dc.roles))))
    if attr(profile, "name"):
        facts.append(("Profile", text(profile.name)))
    facts.append(("TLS verification", Badge("off (insecure)", "warn") if attr(dc, "insecure")
                  else Badge("on", "ok")))
    facts.append(("Packages known", _count_known(dc, "known_packages", "dc.packages()")))
    facts.append(("Images known", _count_known(dc, "known_images", "dc.images()")))
    known = dc.known_datacenters() if callable(attr(dc, "known_datacenters")) else None
    if isinstance(known, Mapping):
        rows = [[text(name), text(url)] for name, url in known.items()]
        cloud = Section("Datacenters of this cloud", len(rows), Table(["Name", "URL"], rows),
                        open=len(rows) <= OPEN_UP_TO)
    else:
        cloud = Section("Datacenters of this cloud", None,
                        Note("not listed yet: dc.datacenters() lists them"))
    return Card("DataCenter", dc_name(dc) if attr(dc, "name") else Note("name not known yet"),
                subtitle=[text(attr(dc, "url"))], blocks=[Facts(facts), cloud])


def fleet_card(fleet: Any, limit: int) -> Card:
    """Per datacenter: URL, machines counted by the last listing, its error; then the machines."""
    status = _call(fleet, "status") or []
    machines = attr(fleet, "known_machines")
    rows = []
    for row in status if isinstance(status, list) else []:
        error = row.get("error")
        status = (Series((Badge("failed", "bad"), text(_error_text(error), 400)), " ") if error
                  else Note("not listed yet") if row.get("machines") is None else Badge("ok", "ok"))
        rows.append([text(row.get("datacenter")), text(row.get("url")),
                     row["machines"] if isinstance(row.get("machines"), int) else "", status])
    blocks: list[Any] = [Table(["Datacenter", "URL", "Machines", "Status"], rows,
                               empty="no datacenters")]
    if machines is None:
        blocks.append(Note("per-state counts: fleet.machines() lists the machines"))
    else:
        blocks.extend(machines_blocks(list(machines), limit))
    datacenters = attr(fleet, "datacenters") or {}
    account = attr(next(iter(datacenters.values()), None), "login")
    failed = sum(1 for row in rows if isinstance(row[-1], Series))
    total = sum(row[2] for row in rows if isinstance(row[2], int))
    subtitle = [f"{len(rows)} datacenter{'s' * (len(rows) != 1)}"]
    if any(isinstance(row[2], int) for row in rows):
        subtitle.append(f"{total:,} machine{'s' * (total != 1)}")
    return Card("Fleet", text(account) if account else Note("no datacenters"),
                header=[Badge(f"{failed} failed", "bad")] if failed else [], subtitle=subtitle,
                blocks=blocks)


# ------------------------------------------------------------------ wait and bulk results

BADGE_COLUMNS = {"state", "outcome", "final_state", "final state", "status", "last_state"}


def outcomes_card(result: Any, limit: int) -> Card:
    """A wait or bulk result: counts by outcome, then the outcome table (from ``result.frame``)."""
    frame = attr(result, "frame")
    if not hasattr(frame, "columns"):
        return Card(type(result).__name__, "", blocks=[Note("no outcome table")])
    shown = frame.head(limit)
    bulk = "Bulk" in type(result).__name__
    # columns with nothing in them (e.g. batch outside a rolling update) only take room, and
    # so do the request line and the action of a bulk run (both in .frame and the journal; the
    # action is in the title): the card fits a notebook's width
    hidden = {"request", "action"} if bulk else set()
    columns = [str(c) for c in frame.columns
               if str(c) not in hidden and not all(map(_blank, shown[c]))]
    counts = attr(result, "counts")
    if isinstance(counts, Mapping):
        counts = Counter({str(k): int(v) for k, v in counts.items() if v})
    elif "outcome" in frame.columns:
        counts = Counter({str(k): int(v) for k, v in frame["outcome"].value_counts().items() if v})
    else:
        counts = Counter()
    action = attr(result, "action") if bulk else None
    title = f"{action}: " if isinstance(action, str) else ""
    title += f"{len(frame):,} machine{'s' * (len(frame) != 1)}"
    subtitle: list[Any] = []
    if not bulk and isinstance(attr(result, "title"), str):
        subtitle.append(f"waited for {result.title}")
    if attr(result, "dry_run"):
        subtitle.append(Badge("dry run: nothing was sent", "busy"))
    if attr(result, "interrupted"):
        subtitle.append(Badge("interrupted", "warn"))
    if isinstance(attr(result, "waited_for"), str):
        subtitle.append(f"waited for {result.waited_for}")
    elapsed = attr(result, "elapsed")
    if isinstance(elapsed, (int, float)) and not attr(result, "dry_run"):
        subtitle.append(f"in {duration(elapsed)}")
    return Card("Bulk result" if bulk else "Wait result", title,
                header=count_badges(counts), subtitle=subtitle,
                blocks=[capped(columns, shown.to_dict("records"),
                               lambda r: [cell(c, r.get(c)) for c in columns], limit,
                               "(.frame has every row)", "no machines", total=len(frame),
                               frame="bulk" if bulk else "wait")])


def cell(column: str, value: Any) -> Any:
    """One outcome-table cell as a display value."""
    if _missing(value):
        return ""
    if column == "reached":
        return Badge("reached", "ok") if _truthy(value) else Badge("not reached", "warn")
    if column in BADGE_COLUMNS:
        return badge(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, timedelta):
        return duration(value)
    if isinstance(value, float):
        return duration(value) if column == "seconds" else f"{value:g}"
    if isinstance(value, (list, tuple)):  # a state history reads in order; an audit list not
        sep = ", " if value and isinstance(value[0], Mapping) else " → "
        return text(sep.join(_step(v) for v in value))
    if isinstance(value, BaseException) or column == "error":
        return text(_error_text(value), 400)
    if column == "id" or column.endswith("_id"):
        return ident(value)
    return text(value)


def _step(item: Any) -> str:
    """One entry of a history (``(time, state)``) or an audit list (``{action, success}``)."""
    if isinstance(item, Mapping):
        success = {"yes": "ok", "no": "FAILED"}.get(str(item.get("success")), "")
        return f"{item.get('action', '?')} {success}".strip()
    if isinstance(item, (list, tuple)) and item:
        return str(item[-1])
    return str(item)


# ------------------------------------------------------------------ helpers

def _call(obj: Any, method: str, *args: Any) -> Any:
    function = attr(obj, method)
    if not callable(function):
        return None
    try:
        return function(*args)
    except Exception:  # catalog memory lookups only; a failure means "not known"
        return None


def _age(created: Any) -> Any:
    moment = when(created)
    return moment.relative.removesuffix(" ago") if hasattr(moment, "relative") else moment


def _count_known(dc: Any, method: str, how: str) -> Any:
    known = attr(dc, method)
    if not callable(known):
        return Note("unknown")
    count = len(known())
    return str(count) if count else Note(f"none yet: {how} fetches them")


def _error_text(error: Any) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return type(value).__name__ in ("NaTType", "NAType")


def _blank(value: Any) -> bool:
    return _missing(value) or (isinstance(value, (str, list, tuple)) and not value)


def _truthy(value: Any) -> bool:
    return not _missing(value) and bool(value)

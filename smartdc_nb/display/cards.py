"""Cards for each object a person looks at, built only from what the object already holds.

The values, rows and safe reads they are made of are in :mod:`.parts`.

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

from collections import Counter
from datetime import timedelta
from typing import Any, Mapping

from .layout import Card, Facts, Section, Table, capped
from .values import (Badge, Note, Series, When, badge, duration,
                     flag, mebibytes, snapshot_badge, text, when)

from .parts import (MACHINE_COLUMNS, OPEN_UP_TO, _age, _blank, _call, _count_known, _error_text,
                    attr, cell, count_badges, dc_name, fetched, ident, image_value, ip_facts,
                    machine_row, metadata_value, package_value, raw_of, snapshot_row,
                    state_counts, tag_value)


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
    header: list[Any] = [snapshot_badge(raw.get("state"))]
    if raw.get("state") == "running":
        facts.insert(0, ("State", Note(
            "a job on it is still running: its create job, which has taken it (the machine "
            "has it), or a rollback or delete of it; CloudAPI shows that job's execution. "
            "s.wait_for() waits for created")))
    elif raw.get("state") == "deleted":
        header, note = _not_on_the_machine(attr(snapshot, "create_sent_at"),
                                           attr(snapshot, "create_failed_at"))
        facts.insert(0, ("State", note))
    return Card("Snapshot", text(raw.get("name")), header=header,
                blocks=[Facts(facts)], footer=fetched(snapshot, "s.refresh() fetches it again"))


def _exact(moment: Any) -> str:
    shown = when(moment)
    return shown.exact if isinstance(shown, When) else "an unknown time"


def _not_on_the_machine(create_sent: Any, create_failed: Any = None) -> tuple[list[Any], Note]:
    """CloudAPI's ``deleted`` in words: it shows it for any snapshot the machine does not
    have, one its create job has not made yet included, where 'deleted' reads as gone."""
    if create_failed is not None:
        sent = f", sent at {_exact(create_sent)}," if create_sent is not None else ""
        return [Badge("not made (its create job did not succeed)", "bad")], Note(
            f"its create job{sent} is in the audit log with success "
            f"\"no\" at {_exact(create_failed)}: it failed or was canceled, and CloudAPI shows deleted "
            "for good; m.create_snapshot() can try again")
    if create_sent is not None:
        return [Badge("not made (CloudAPI: deleted)", "busy")], Note(
            f"its create job was sent at {_exact(create_sent)}: CloudAPI shows deleted until "
            "the job takes it (then running, until the job ends), and for good if the job "
            "failed or was canceled; s.wait_for() waits for it and names a failure")
    return [Badge("not on the machine (CloudAPI: deleted)", "gone")], Note(
        "CloudAPI shows deleted for a snapshot the machine does not have: deleted, not made "
        "yet by its create job, or never made because the job failed")


def snapshots_card(snapshots: list, limit: int) -> Card:
    counts = Counter(str(raw_of(s).get("state") or "unknown") for s in snapshots)
    return Card("Snapshots", f"{len(snapshots):,} snapshot{'s' * (len(snapshots) != 1)}",
                header=count_badges(counts, snapshot_badge),
                blocks=[capped(["Machine", "Name", "State", "Created", "Size"], snapshots,
                               snapshot_row, limit, empty="no snapshots", frame="snapshots")])


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

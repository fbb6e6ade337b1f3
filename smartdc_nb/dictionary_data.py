"""The entries of the column dictionary (plain data): one :class:`Column` per column of
every frame the toolkit makes, and :data:`FRAMES`, frame kind -> its columns in frame order.
The functions that read it are :mod:`smartdc_nb.dictionary`; a new frame or column is
documented here.
"""

from __future__ import annotations

from typing import NamedTuple


class Column(NamedTuple):
    name: str          # the column; "tag.<key>" and "<other field>" are patterns
    dtype: str         # pandas dtype of a built frame (text/"str" where pandas infers it)
    field: str         # CloudAPI field (dotted path), or "" when the toolkit computes it
    returned_by: str   # endpoint(s), "computed", or where else it comes from
    units: str
    description: str
    values: str = ""   # vocabulary of a categorical/enumerated column


_LIST = "ListMachines, GetMachine"
_MS = ("provisioning (being created), ready (booting during a reboot), running, stopping, "
       "stopped, offline (compute node unreachable), failed (provisioning failed; listed only "
       "with tombstone), deleted (destroyed: CloudAPI's filter word is 'destroyed', "
       "node-triton#178; listed only with tombstone), unknown")
_SNAP = "queued, running (being taken), created, failed, canceled, deleted"
_BRANDS = "joyent, joyent-minimal (SmartOS zones), lx (Linux zones; Docker containers too), " \
          "kvm, bhyve (hardware VMs)"
_DC = Column("datacenter", "string", "", "ListDatacenters (the name the rows were fetched from)",
             "", "Datacenter the row came from")
_MID = Column("machine_id", "string", "id", _LIST, "", "Machine UUID")
_MNAME = Column("machine_name", "string", "name", _LIST, "", "Machine name (alias)")
_CREATED = Column("created", "datetime64[ns, UTC]", "created", _LIST, "UTC", "When it was created")
_UPDATED = Column("updated", "datetime64[ns, UTC]", "updated", _LIST, "UTC",
                  "When it last changed")
_AGE = Column("age", "timedelta64[ns]", "", "computed: fetched_at - created", "duration",
              "Age when the frame was fetched")


def _c(name: str, dtype: str, field: str, returned_by: str, units: str, description: str,
       values: str = "") -> Column:
    return Column(name, dtype, field, returned_by, units, description, values)


MACHINES = [
    _DC,
    _c("id", "string", "id", _LIST, "", "Machine UUID"),
    _c("name", "string", "name", _LIST, "", "Machine name (alias); unique per account among "
       "active machines"),
    _c("state", "category", "state", _LIST, "", "Machine state", _MS),
    _c("type", "string", "type", _LIST, "", "Deprecated kind", "smartmachine, virtualmachine"),
    _c("brand", "string", "brand", _LIST, "", "Virtualisation brand", _BRANDS),
    _c("image", "string", "image", _LIST, "", "Image UUID (the boot disk's for kvm/bhyve)"),
    _c("image_name", "string", "name", "ListImages?state=all (joined by image id)", "",
       "Image name; missing when the image no longer exists"),
    _c("image_version", "string", "version", "ListImages?state=all (joined by image id)", "",
       "Image version"),
    _c("package", "string", "package", _LIST, "", "Package (billing) name; missing when CloudAPI "
       "does not know it (it sends \"\")"),
    _c("package_vcpus", "Int64", "vcpus", "ListPackages (joined by name, highest version)",
       "vCPUs", "Package vCPUs (0: shares the compute node's)"),
    _c("package_memory", "Int64", "memory", "ListPackages (joined)", "MiB", "Package memory"),
    _c("package_disk", "Int64", "disk", "ListPackages (joined)", "MiB", "Package disk"),
    _c("package_swap", "Int64", "swap", "ListPackages (joined)", "MiB", "Package swap"),
    _c("memory", "Int64", "memory", _LIST, "MiB", "Memory of the machine"),
    _c("disk", "Int64", "disk", _LIST, "MiB", "Disk of the machine"),
    _c("primary_ip", "string", "primaryIp", _LIST, "", "Primary IP address (absent without NICs)"),
    _c("public_ips", "object", "ips", _LIST, "", "Public addresses (list), as Machine.public_ips"),
    _c("private_ips", "object", "ips", _LIST, "", "Private addresses (list), as "
       "Machine.private_ips"),
    _CREATED, _UPDATED, _AGE,
    _c("firewall_enabled", "boolean", "firewall_enabled", _LIST, "", "Cloud firewall on"),
    _c("deletion_protection", "boolean", "deletion_protection", _LIST, "",
       "Deletion protection on (delete is refused)"),
    _c("compute_node", "string", "compute_node", _LIST, "", "Server UUID (null right after "
       "create)"),
    _c("docker", "boolean", "docker", _LIST, "", "A Docker container (CloudAPI sends only true)"),
    _c("tag_count", "Int64", "tags", _LIST, "tags", "Number of tags"),
    _c("tags", "object", "tags", _LIST, "", "Tags as a dict (tags_as='dict')"),
    _c("tag.<key>", "string, Int64, boolean or object", "tags.<key>", _LIST, "",
       "One tag's value (tags_as='columns'); typed from its values"),
    _c("price_per_hour", "Float64", "", "df.triton.with_prices (your price table)",
       "currency/hour", "The package's price per hour; missing when unpriced"),
    _c("price_per_month", "Float64", "", "df.triton.with_prices", "currency/month",
       "price_per_hour x 730 (hours in an average month)"),
    _c("priced", "boolean", "", "df.triton.with_prices", "",
       "False when the price table has no price for the machine's package (never dropped)"),
]
TAGS = [_DC, _MID, _MNAME, _c("key", "string", "tags.<key>", _LIST, "", "Tag name"),
        _c("value", "object", "tags.<key>", _LIST, "", "Tag value as CloudAPI sent it "
           "(text, number or boolean)")]
METADATA = [_DC, _MID, _MNAME, _c("key", "string", "metadata.<key>", _LIST, "", "Metadata key"),
            _c("value", "object", "metadata.<key>", _LIST, "", "Metadata value; empty for a "
               "secret (credentials, *_pw, password, token, ... keys: smartdc_nb.masking) and "
               "for a boot script or the injected SSH keys (user-script, user-data, "
               "root_authorized_keys; their size is shown); a saved point keeps no value of "
               "a masked key"),
            _c("size", "Int64", "metadata.<key>", "computed", "bytes", "UTF-8 size of the value")]
SNAPSHOTS = [_DC, _MID, _MNAME,
             _c("name", "string", "name", "ListMachineSnapshots (GET /machines/:id/snapshots)",
                "", "Snapshot name"),
             _c("state", "category", "state", "ListMachineSnapshots", "", "Snapshot state", _SNAP),
             _c("size", "Int64", "size", "ListMachineSnapshots", "MiB", "Snapshot size"),
             _CREATED._replace(returned_by="ListMachineSnapshots"),
             _UPDATED._replace(returned_by="ListMachineSnapshots"), _AGE]
_PK = "ListPackages"
PACKAGES = [_DC, _c("id", "string", "id", _PK, "", "Package UUID"),
            _c("name", "string", "name", _PK, "", "Package name"),
            _c("version", "string", "version", _PK, "", "Package version (semver)"),
            _c("memory", "Int64", "memory", _PK, "MiB", "Memory"),
            _c("disk", "Int64", "disk", _PK, "MiB", "Disk"),
            _c("swap", "Int64", "swap", _PK, "MiB", "Swap"),
            _c("vcpus", "Int64", "vcpus", _PK, "vCPUs", "vCPUs (0: shared)"),
            _c("lwps", "Int64", "lwps", _PK, "processes", "Lightweight processes allowed"),
            _c("group", "string", "group", _PK, "", "Package group"),
            _c("brand", "string", "brand", _PK, "", "Brand the package is for", _BRANDS),
            _c("default", "boolean", "default", _PK, "", "The default package"),
            _c("flexible_disk", "boolean", "flexible_disk", _PK, "", "bhyve disks sized freely"),
            _c("description", "string", "description", _PK, "", "Description")]
_IM = "ListImages"
IMAGES = [_DC, _c("id", "string", "id", _IM, "", "Image UUID"),
          _c("name", "string", "name", _IM, "", "Image name"),
          _c("version", "string", "version", _IM, "", "Image version"),
          _c("os", "string", "os", _IM, "", "Operating system", "smartos, linux, windows, bsd, "
             "illumos, other"),
          _c("type", "string", "type", _IM, "", "Image type", "zone-dataset, lx-dataset, "
             "zvol, docker, other"),
          _c("state", "string", "state", _IM, "", "Image state", "active, unactivated, disabled, "
             "creating, failed"),
          _c("public", "boolean", "public", _IM, "", "Public image"),
          _c("owner", "string", "owner", _IM, "", "Owner account UUID"),
          _c("published_at", "datetime64[ns, UTC]", "published_at", _IM, "UTC", "When published"),
          _c("image_size", "Int64", "image_size", _IM, "MiB", "Size of a zvol image"),
          _c("origin", "string", "origin", _IM, "", "Origin image UUID"),
          _c("description", "string", "description", _IM, "", "Description"),
          _c("homepage", "string", "homepage", _IM, "", "Homepage URL"),
          _c("requirements", "object", "requirements", _IM, "", "Requirements (dict)"),
          _c("tags", "object", "tags", _IM, "", "Image tags (dict)"),
          _c("files", "object", "files", _IM, "", "Files (list of dicts)")]
_NW = "ListNetworks"
NETWORKS = [_DC, _c("id", "string", "id", _NW, "", "Network or pool UUID"),
            _c("name", "string", "name", _NW, "", "Network name"),
            _c("public", "boolean", "public", _NW, "", "Public (internet) network"),
            _c("fabric", "boolean", "fabric", _NW, "", "A fabric (overlay) network"),
            _c("description", "string", "description", _NW, "", "Description"),
            _c("subnet", "string", "subnet", _NW, "CIDR", "Subnet (fabrics)"),
            _c("gateway", "string", "gateway", _NW, "", "Gateway"),
            _c("provision_start_ip", "string", "provision_start_ip", _NW, "", "First address"),
            _c("provision_end_ip", "string", "provision_end_ip", _NW, "", "Last address"),
            _c("vlan_id", "Int64", "vlan_id", _NW, "", "VLAN id"),
            _c("internet_nat", "boolean", "internet_nat", _NW, "", "NAT to the internet"),
            _c("resolvers", "object", "resolvers", _NW, "", "DNS resolvers (list)"),
            _c("routes", "object", "routes", _NW, "", "Static routes (dict)")]
_AU = "MachineAudit (GET /machines/:id/audit)"
AUDIT = [_DC, _MID, _MNAME,
         _c("action", "string", "action", _AU, "", "What was asked (start, stop, reboot, ...)"),
         _c("success", "boolean", "success", _AU, "", "Whether it worked ('yes'/'no' in "
            "CloudAPI)"),
         _c("time", "datetime64[ns, UTC]", "time", _AU, "UTC", "When"),
         _c("caller_type", "string", "caller.type", _AU, "", "Who asked", "signature, token, "
            "operator"),
         _c("caller_ip", "string", "caller.ip", _AU, "", "From which address"),
         _c("caller_key_id", "string", "caller.keyId", _AU, "", "With which key")]
_BK = "the bulk engine (BulkResult.frame)"
_WT = "the wait engine (WaitResult.frame)"
_OUTCOMES = "done, failed, skipped, not reached, planned (dry run)"
BULK = [_DC, _c("name", "string", "name", _BK, "", "Machine name"),
        _c("id", "string", "id", _BK, "", "Machine UUID"),
        _c("action", "string", "", _BK, "", "The action (start, stop, ...)"),
        _c("outcome", "category", "", _BK, "", "What happened to this machine", _OUTCOMES),
        _c("final_state", "string", "state", _BK, "", "The machine's last known state", _MS),
        _c("reason", "string", "", _BK, "", "Why it was skipped or not reached"),
        _c("error", "string", "", _BK, "", "The error, when it failed"),
        _c("seconds", "Float64", "", _BK, "seconds", "Time from request to outcome"),
        _c("batch", "Int64", "", _BK, "", "Batch number of a rolling update"),
        _c("request", "string", "", _BK, "", "The request sent (or that would be sent)"),
        _c("history", "string", "", _BK, "", "States seen while waiting, in order "
           "(stopping → stopped); with times in result.outcomes[i].history")]
_BULK = {entry.name: entry for entry in BULK}
WAIT = [_DC, _BULK["id"]._replace(returned_by=_WT), _BULK["name"]._replace(returned_by=_WT),
        _c("final_state", "str", "state", _WT, "", "The machine's last known state", _MS),
        _c("reached", "boolean", "", _WT, "", "Reached the wanted state"),
        _c("outcome", "str", "", _WT, "", "How the wait ended", "reached, failed, timed out, "
           "interrupted"),
        _BULK["seconds"]._replace(returned_by=_WT, description="Time waited"),
        _c("error", "str", "", _WT, "", "Why it did not reach the state"),
        _c("history", "object", "", _WT, "", "States seen while waiting: [(time, state)]"),
        _c("audit", "object", "", _WT + " from MachineAudit", "", "Latest audit entries")]
_Q = "query().explain()"
QUERY_STEPS = [_c("filter", "str", "", _Q, "", "The query filter"),
               _c("where", "str", "", _Q, "", "Where it ran", "server, pandas"),
               _c("what", "str", "", _Q, "", "The ListMachines parameter or pandas test"),
               _c("rows_removed", "Int64", "", _Q, "rows", "Rows the pandas step removed; "
                 "missing for a step the server ran (not counted)"),
               _c("recheck", "bool", "", _Q, "", "A pandas re-check of a server filter")]
QUERY_DATACENTERS = [_DC, _c("requests", "int64", "", _Q, "requests", "Requests sent"),
                     _c("seconds", "float64", "", _Q, "seconds", "Time spent in requests"),
                     _c("rows", "int64", "", _Q, "rows", "Machines CloudAPI sent"),
                     _c("error", "object", "", _Q, "", "Why the datacenter failed")]
_H = "smartdc_nb.history()"
HISTORY = [_c("point", "string", "", _H, "", "The point's name (its directory)"),
           _c("time", "datetime64[ns, UTC]", "", _H, "UTC", "When the point was taken"),
           _c("account", "string", "", _H, "", "The account (login)"),
           _c("datacenters", "object", "", _H, "", "Datacenters in the point (list)"),
           _c("machines", "Int64", "", _H, "machines", "Machines in the point"),
           _c("snapshots", "Int64", "", _H, "snapshots", "Snapshots in the point"),
           _c("errors", "object", "", _H, "", "What the point could not read: {datacenter (its "
              "machines) or datacenter/machine_id (its snapshots): why}; empty: complete"),
           _c("path", "string", "", _H, "", "Where the point is stored")]
_D = "smartdc_nb.diff()"
DIFF = [_DC, _MID._replace(returned_by=_D), _MNAME._replace(returned_by=_D),
        _c("change", "category", "", _D, "", "What happened to the machine",
           "appeared, vanished, changed"),
        _c("column", "string", "", _D, "", "What changed: state, name, package, image, "
           "primary_ip, public_ips, private_ips, firewall_enabled, deletion_protection, "
           "tag.<key>, snapshot.<name>"),
        _c("before", "string", "", _D, "", "The value before (text; missing: absent)"),
        _c("after", "string", "", _D, "", "The value after (text; missing: absent)")]
DIFF_COUNTS = [_DC, _c("appeared", "Int64", "", _D, "machines", "Machines that appeared"),
               _c("vanished", "Int64", "", _D, "machines", "Machines that vanished"),
               _c("changed", "Int64", "", _D, "machines", "Machines with changes"),
               _c("changes", "Int64", "", _D, "changes", "Changed values"),
               _c("not_read", "string", "", _D, "", "The point(s) at which the datacenter's "
                  "machines could not be read (its counts are then missing: unknown); "
                  "missing: read at both")]
_CO = "df.triton.cost_by()"
COST = [_c("<group>", "string", "", _CO, "", "The rollup key: datacenter, the owner tag, a tag's "
           "value or any column (missing values grouped as <NA>)"),
        _c("machines", "Int64", "", _CO, "machines", "Machines in the group"),
        _c("unpriced", "Int64", "", _CO, "machines", "Machines whose package has no price"),
        _c("price_per_hour", "Float64", "", _CO, "currency/hour", "Sum of the priced machines"),
        _c("price_per_month", "Float64", "", _CO, "currency/month", "price_per_hour x 730")]

_PL = "Plan.frame (machines.plan(...), fleet.plan(...), df.triton.plan(...))"
_VERDICT = "the rules table's verdict"
PLAN = [_DC, _BULK["id"]._replace(returned_by=_PL), _BULK["name"]._replace(returned_by=_PL),
        _c("state", "str", "state", _PL, "", "The machine's state when planned", _MS),
        _c("verdict", "category", "", _PL, "", "What the plan does with it", "act, skip (already "
           "so), protected (deletion protection), refused (the action cannot apply)"),
        _c("reason", "str", "", _PL, "", f"Why ({_VERDICT})"),
        _c("request", "str", "", _PL, "", "The request that will be sent"),
        _c("batch", "Int64", "", _PL, "", "Batch number of a rolling plan")]
_VD = "df.triton.verdicts(action)"
VERDICTS = [_DC, _BULK["id"]._replace(returned_by=_VD), _BULK["name"]._replace(returned_by=_VD),
            PLAN[3]._replace(returned_by=_VD),
            _c("verdict", "category", "", _VD, "", _VERDICT, "ok, skip, refused, protected"),
            _c("reason", "string", "", _VD, "", "Why")]
_JR = "smartdc_nb.journal() (the journal of mutating requests)"
JOURNAL = [_c(name, dtype, "", _JR, units, text, values) for name, dtype, units, text, values in (
    ("seq", "int64", "", "Record number, in write order", ""),
    ("time", "datetime64[ns, UTC]", "UTC", "When the record was written", ""),
    ("kind", "str", "", "What the record is", "run, resume, intent, outcome, batch, run-end"),
    ("run_id", "str", "", "The bulk run it belongs to", ""),
    ("plan_id", "str", "", "The approved plan the run applies", ""),
    ("profile", "str", "", "The connection's profile", ""),
    ("account", "str", "", "The account acted on", ""),
    ("user", "str", "", "The sub-user who signed", ""),
    ("datacenter", "str", "", "Datacenter of the request", ""),
    ("machine_id", "str", "", "Machine UUID", ""), ("machine_name", "str", "", "Machine name", ""),
    ("action", "str", "", "The action (stop, create_snapshot, ...)", ""),
    ("arguments", "object", "", "The action's arguments (decoded JSON)", ""),
    ("method", "str", "", "HTTP method", ""), ("path", "str", "", "Request path", ""),
    ("request_id", "str", "", "CloudAPI's request id", ""),
    ("state_before", "str", "", "Machine state before the request", _MS),
    ("http_status", "Int64", "", "HTTP status of the answer", ""),
    ("outcome", "str", "", "What came of the request", ""),
    ("error", "str", "", "The error, when it failed", ""),
    ("seconds", "Float64", "seconds", "Time the request took", ""),
    ("intent", "Int64", "", "The intent record an outcome answers (its seq)", ""),
    ("detail", "object", "", "Anything else recorded (decoded JSON)", ""))]
_RN = "smartdc_nb.journal_run(run_id).frame"
RUN = [_DC, _BULK["id"]._replace(returned_by=_RN), _BULK["name"]._replace(returned_by=_RN),
       JOURNAL[16]._replace(returned_by=_RN),
       _c("status", "str", "", _RN, "", "Where the machine got to in the run"),
       JOURNAL[17]._replace(returned_by=_RN), JOURNAL[15]._replace(returned_by=_RN),
       JOURNAL[19]._replace(returned_by=_RN)]
_RS = "smartdc_nb.journal_runs().frame"
RUNS = [JOURNAL[3]._replace(returned_by=_RS),
        _c("time", "datetime64[ns, UTC]", "", _RS, "UTC", "When the run started"),
        *(JOURNAL[i]._replace(returned_by=_RS) for i in (11, 6, 8, 4)),
        _c("status", "str", "", _RS, "", "Whether the run ended",
           "ended, interrupted, running (a process has it now), incomplete (resume it)"),
        _c("machines", "int64", "", _RS, "machines", "Machines in the run"),
        _c("summary", "str", "", _RS, "", "Machines per status")]
_LV = "fleet.live().changes (the changefeed)"
LIVE_CHANGES = [_c("time", "datetime64[ns, UTC]", "published", _LV, "UTC", "When CloudAPI "
                   "published the change"), _DC,
                _BULK["id"]._replace(returned_by=_LV), _BULK["name"]._replace(returned_by=_LV),
                _c("kinds", "str", "changedResourceSubresources", _LV, "", "What changed "
                   "(comma-separated changefeed sub-resources)", "alias, customer_metadata, "
                   "destroyed, nics, owner_uuid, server_uuid, state, tags, ..."),
                _c("state", "str", "state", _LV, "", "The machine's state after the change", _MS),
                _c("source", "str", "", _LV, "", "How it was seen", "feed, reconcile (a listing "
                   "after a gap)")]

#: every frame kind -> its columns, in frame order
FRAMES: dict[str, list[Column]] = {
    "machines": MACHINES, "tags": TAGS, "metadata": METADATA, "snapshots": SNAPSHOTS,
    "packages": PACKAGES, "images": IMAGES, "networks": NETWORKS, "audit": AUDIT,
    "bulk": BULK, "wait": WAIT, "query_steps": QUERY_STEPS, "query_datacenters": QUERY_DATACENTERS,
    "history": HISTORY, "diff": DIFF, "diff_counts": DIFF_COUNTS, "cost": COST,
    "plan": PLAN, "verdicts": VERDICTS, "journal": JOURNAL, "run": RUN, "runs": RUNS,
    "live_changes": LIVE_CHANGES,
}

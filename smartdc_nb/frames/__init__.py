"""DataFrame views of a fleet, and the ``df.triton`` accessor (pandas is imported here).

    >>> df = dc.frames.machines()            # or fleet.frames.machines(): every datacenter
    >>> df.groupby(["datacenter", "state"], observed=True).size()
    >>> df[df.state == "stopped"].triton.machines()

Views (methods of ``dc.frames`` / ``fleet.frames``, see :class:`Frames`):

``machines(tags_as="dict", **filters)``
    one row per machine, columns in this order (:data:`MACHINE_COLUMNS`):
    ``datacenter``, ``id``, ``name`` (string); ``state`` (categorical over
    every CloudAPI state, :data:`MACHINE_STATES`); ``type``, ``brand``,
    ``image`` (string); ``image_name``, ``image_version`` (string, joined from
    the datacenter's images); ``package`` (string; missing when CloudAPI does
    not know it); ``package_vcpus``, ``package_memory``, ``package_disk``,
    ``package_swap`` (Int64, joined from the datacenter's packages by name, the
    highest version of a name); ``memory``, ``disk`` (Int64, MiB);
    ``primary_ip`` (string); ``public_ips``, ``private_ips`` (lists, split as
    ``Machine.public_ips``/``private_ips`` do); ``created``, ``updated``
    (datetime64[ns, UTC]); ``age`` (timedelta64[ns], at fetch time);
    ``firewall_enabled``, ``deletion_protection``, ``docker`` (boolean);
    ``compute_node`` (string); ``tag_count`` (Int64); then ``tags`` (dicts) or,
    with ``tags_as="columns"``, one ``tag.<key>`` column per tag key (sorted;
    typed from its values). A machine whose package or image no longer exists
    keeps its row with those join columns missing. Packages and images come
    from ``dc.catalog`` (smartdc_nb.catalog): fetched once per datacenter and
    reused for ``catalog_ttl`` seconds (5 minutes); ``dc.catalog.refresh()``
    fetches them again.
``tags()`` / ``metadata()``
    long form: datacenter, machine_id, machine_name, key, value (+ ``size`` in
    bytes for metadata; ``user-script`` shows only its size; credentials are
    never fetched nor shown).
``snapshots(machines=None, concurrency=8, **filters)``
    datacenter, machine_id, machine_name, name, state (categorical), size
    (Int64 MiB), created, updated, age (a request per machine, ``concurrency``
    at once in each datacenter, the datacenters side by side).
``packages()``, ``images()``, ``networks()``
    one row per record per datacenter: ``datacenter`` then the documented
    fields with their dtypes, then any other field CloudAPI sent (object).
``audit(machine)``
    datacenter, machine_id, machine_name, action, success (boolean), time,
    caller_type, caller_ip, caller_key_id; newest first.

``fleet.query(...)`` / ``dc.query(...)`` (:mod:`smartdc_nb.frames.query`) return the
machines frame filtered on the server where CloudAPI can and in pandas otherwise, with
``.explain()``.

Each frame's ``attrs`` say what it is and when it was fetched (see
:mod:`smartdc_nb.frames.tables`). Export is plain pandas (``to_csv``,
``to_parquet``). Importing this package registers the ``df.triton`` accessor
(:mod:`smartdc_nb.frames.accessor`); a frame read back from a file needs
``import smartdc_nb.frames`` before ``df.triton`` works.

Cloud strings are data: pandas escapes them in a frame's HTML, but Jupyter
typesets text between ``$`` signs (a tag like ``cost=$5 to $9``) unless
``pd.set_option("display.html.use_mathjax", False)``; it is a session-wide
pandas option, so the toolkit leaves it to you.
"""

from __future__ import annotations

from . import accessor as _accessor  # noqa: F401  (registers df.triton)
from .accessor import TritonAccessor
from .build import (AUDIT_COLUMNS, MACHINE_COLUMNS, METADATA_COLUMNS, SNAPSHOT_COLUMNS,
                    TAGS_COLUMNS)
from .columns import MACHINE_STATES, SNAPSHOT_STATES
from .query import Query, QueryFrame
from .source import FrameSource
from .tables import Frames, from_machines

__all__ = ["Frames", "from_machines", "TritonAccessor", "FrameSource", "Query", "QueryFrame",
           "MACHINE_COLUMNS", "TAGS_COLUMNS", "METADATA_COLUMNS", "SNAPSHOT_COLUMNS", "AUDIT_COLUMNS",
           "MACHINE_STATES", "SNAPSHOT_STATES"]

"""The CloudAPI routes: ``(rule, throttle group, {method: handler})`` per resource."""

from __future__ import annotations

from . import account, audit, catalog, changefeed, machines, metadata, snapshots, tags

ROUTES = [*account.ROUTES, *catalog.ROUTES, *machines.ROUTES, *tags.ROUTES, *metadata.ROUTES,
          *snapshots.ROUTES, *audit.ROUTES, *changefeed.ROUTES]

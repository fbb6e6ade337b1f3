"""Bulk actions as methods of collections (MachineList, Fleet, ``df.triton``).

The methods only name the action and its options; running it is
:func:`smartdc_nb.operations.bulk.run_bulk`'s, reached through :mod:`smartdc_nb.seam`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from .. import seam

if TYPE_CHECKING:
    from ..operations.outcomes import BulkResult
    from .machine import Machine


# ------------------------------------------------------------------ the mixin

class BulkActions:
    """Bulk actions as methods over ``self._bulk_targets()`` (an iterable of Machines).

    Every method takes the options of :func:`~smartdc_nb.operations.bulk.run_bulk` (confirm, dry_run,
    wait, timeout, concurrency, batch_size, health_check, raise_on_failure,
    progress, refresh, interval, max_interval) and returns a BulkResult. Tag
    and metadata methods take a dict and/or key=value pairs (a key named like
    an option must go in the dict).
    """

    def _bulk_targets(self) -> Iterable[Machine]:
        raise NotImplementedError

    def _bulk(self, action: str, *args: Any, **kwargs: Any) -> BulkResult:
        # run_bulk's keyword-only options bind by name; the rest are the action's.
        return seam.run_bulk(self._bulk_targets(), action, *args, **kwargs)

    def plan(self, action: str, *args: Any, **kwargs: Any) -> Any:
        """A :class:`~smartdc_nb.plans.Plan` of ``action`` over these machines (no change is
        made); ``plan.apply(approve=plan.id)`` runs it. See smartdc_nb.plans."""
        return seam.make_plan(self._bulk_targets(), action, *args, **kwargs)

    def start(self, **options: Any) -> BulkResult:
        """Start the stopped machines (running ones are skipped)."""
        return self._bulk("start", **options)

    def stop(self, **options: Any) -> BulkResult:
        """Stop the running machines (destructive: confirm=True)."""
        return self._bulk("stop", **options)

    def reboot(self, **options: Any) -> BulkResult:
        """Reboot the running machines; with wait, until the audit log shows each reboot done."""
        return self._bulk("reboot", **options)

    def resize(self, package: Any, **options: Any) -> BulkResult:
        """Resize to ``package`` (name, UUID or dict); machines already on it are skipped."""
        return self._bulk("resize", package, **options)

    def rename(self, pattern: str | Callable[[Machine], str], **options: Any) -> BulkResult:
        """Rename by template (``"{name}-old"``; fields name, id, short_id, datacenter, date,
        time, datetime) or ``callable(machine) -> name``."""
        return self._bulk("rename", pattern, **options)

    def create_snapshot(self, name: str | Callable[[Machine], str] = "{datetime}",
                        **options: Any) -> BulkResult:
        """Snapshot each machine; ``name`` is a template like ``"pre-{date}"`` (as rename)."""
        return self._bulk("create_snapshot", name, **options)

    def start_from_snapshot(self, name: str, **options: Any) -> BulkResult:
        """Boot each machine from snapshot ``name`` (destructive: confirm=True)."""
        return self._bulk("start_from_snapshot", name, **options)

    def delete_snapshot(self, name: str, **options: Any) -> BulkResult:
        """Delete snapshot ``name`` of each machine (destructive: confirm=True)."""
        return self._bulk("delete_snapshot", name, **options)

    def add_tags(self, tags: Mapping[str, Any] | None = None, /, **kwargs: Any) -> BulkResult:
        """Add or overwrite tags (a dict and/or tag=value)."""
        return self._bulk("add_tags", *([tags] if tags else []), **kwargs)

    def replace_tags(self, tags: Mapping[str, Any] | None = None, /, **kwargs: Any) -> BulkResult:
        """Replace all tags with these (a dict and/or tag=value)."""
        return self._bulk("replace_tags", *([tags] if tags else []), **kwargs)

    def delete_tags(self, *names: str, **options: Any) -> BulkResult:
        """Delete the named tags (machines having none of them are skipped)."""
        return self._bulk("delete_tags", *names, **options)

    def update_metadata(self, metadata: Mapping[str, str] | None = None, /,
                        **kwargs: Any) -> BulkResult:
        """Add or overwrite metadata keys (string values)."""
        return self._bulk("update_metadata", *([metadata] if metadata else []), **kwargs)

    def delete(self, **options: Any) -> BulkResult:
        """Delete the machines (destructive: confirm=True; deletion-protected ones are skipped)."""
        return self._bulk("delete", **options)


__all__ = ["BulkActions"]

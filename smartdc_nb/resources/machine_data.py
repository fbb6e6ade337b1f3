"""A Machine's tags and metadata: reads and writes (the seed's method names and returns).

:class:`MachineData` is the part of :class:`~smartdc_nb.resources.machine.Machine`
for ``/machines/:id/tags`` and ``/machines/:id/metadata``. A write is remembered
until a read shows it (smartdc_nb.writes), so a read right after a write never
shows the old value.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import InvalidInputError
from .. import writes
from ..writes import Write
from .audit import action_entry
from .validate import check_metadata, check_tags, read_script
from .values import Metadata

if TYPE_CHECKING:
    from .machine import Machine


class MachineData:
    """Tags and metadata methods of a Machine (see Machine)."""

    # read-your-writes (smartdc_nb.writes) -------------------------------

    @property
    def pending_writes(self) -> list[Write]:
        """Tag and metadata writes of this Machine that no read has shown yet (see writes)."""
        return list(self._writes.writes)

    def _wrote(self, write: Write) -> None:
        # what the cloud served before this write, until a read shows the write: the write's
        # answer (kept as raw) already shows it, but waits judge raw_as_served
        self._served.setdefault(write.kind, dict(self.raw.get(write.kind) or {}))
        write.action = self.pending_action  # its audit entry tells a refused write
        self._writes.add(write)

    def _forget_refused(self, entries: list[dict[str, Any]]) -> None:
        """Stop showing writes whose job the audit log (``entries``) says failed: the cloud
        changed nothing, so the kinds they touched show again what it served."""
        refused = [w for w in self._writes.writes if w.action is not None and
                   (action_entry(w.action, entries) or {}).get("success") == "no"]
        self._writes.forget(refused)
        for kind in {w.kind for w in refused}:
            served = self._served.get(kind)
            if served is None:
                continue
            self.raw[kind] = self._writes.merged(kind, served)
            if not self._writes.of(kind):
                self._served.pop(kind, None)

    def _read(self, kind: str) -> dict[str, Any]:
        """GET tags or metadata, waiting (bounded) until this Machine's writes show."""
        fetched: dict[str, Any] = {}

        def fetch() -> dict[str, Any]:
            fetched["last"] = self._request("GET", kind).data or {}
            return fetched["last"]

        result = self._writes.settle(kind, fetch, f"machine {self.label}", audit=self.audit)
        self._served.pop(kind, None)
        if result != fetched["last"]:  # a write merged in that the cloud did not show
            self._served[kind] = dict(fetched["last"])
        return result

    # metadata --------------------------------------------------------

    def _keep_metadata(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in metadata.items() if k != "credentials"}
        self.raw["metadata"] = kept
        return Metadata(kept)  # shown in a cell, a db_password's value is masked

    def get_metadata(self) -> dict[str, Any]:
        """GET /:login/machines/:id/metadata — all metadata (also kept as ``metadata``).

        Writes of this Machine are visible: the read waits for them (see smartdc_nb.writes).
        """
        return self._keep_metadata(self._read("metadata"))

    def update_metadata(self, **kwargs: str) -> dict[str, Any]:
        """POST /:login/machines/:id/metadata — add or overwrite keys; returns all metadata.

        Values must be strings. CloudAPI applies the change through a job (its
        answer already shows the merged result); later reads of this Machine show it.
        """
        body = check_metadata(kwargs)
        if not body:
            raise InvalidInputError("update_metadata needs at least one key=value")
        reply = self._change("set_metadata", "POST", "metadata", json=body,
                             rule="update_metadata")
        self._wrote(writes.set_items("metadata", body))
        return self._keep_metadata(reply.data or {})

    def delete_metadata_at_key(self, key: str) -> dict[str, Any]:
        """DELETE /:login/machines/:id/metadata/:key, then GET the metadata; returns it.

        The delete is applied through a job: the GET waits (bounded) until it shows.
        """
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"a metadata key must be a non-empty string, not {key!r}")
        self._delete_metadata(key)
        return self.get_metadata()

    def _delete_metadata(self, key: str) -> None:
        if self._writes.of("metadata"):
            self._read("metadata")  # a key this Machine just set must exist before its delete
        self._change("remove_metadata", "DELETE", "metadata", key, rule="delete_metadata")
        self._wrote(writes.removed("metadata", key))

    def set_boot_script(self, filename: str | Path) -> Machine:
        """POST /:login/machines/:id/metadata with ``{"user-script": <the file's text>}``.

        The script runs at every boot; the SMF service that runs it kills it
        after 60 seconds, so it is not the place for long installations.
        """
        script = read_script(filename)
        reply = self._change("set_metadata", "POST", "metadata", json={"user-script": script},
                             rule="update_metadata")
        self._wrote(writes.set_items("metadata", {"user-script": script}))
        self._keep_metadata(reply.data or {})
        return self

    def delete_boot_script(self) -> Machine:
        """DELETE /:login/machines/:id/metadata/user-script."""
        self._delete_metadata("user-script")
        self._keep_metadata(self._writes.merged("metadata", self.raw.get("metadata") or {}))
        return self

    def delete_all_metadata(self) -> dict[str, Any]:
        """DELETE /:login/machines/:id/metadata, then GET the metadata; returns it.

        CloudAPI keeps ``root_authorized_keys`` and ``administrator_pw``; the GET
        waits (bounded) until the job has run, so only those are left.
        """
        self._change("replace_metadata", "DELETE", "metadata", rule="delete_metadata")
        self._wrote(writes.replaced("metadata", {}, keep=("root_authorized_keys",
                                                          "administrator_pw")))
        return self.get_metadata()

    # tags ------------------------------------------------------------

    def _keep_tags(self, tags: Mapping[str, Any]) -> dict[str, Any]:
        self.raw["tags"] = dict(tags)
        return dict(tags)

    def get_tags(self) -> dict[str, Any]:
        """GET /:login/machines/:id/tags — all tags (also kept as ``tags``).

        Writes of this Machine are visible: the read waits for them (see smartdc_nb.writes).
        """
        return self._keep_tags(self._read("tags"))

    def add_tags(self, **kwargs: Any) -> dict[str, Any]:
        """POST /:login/machines/:id/tags — add or overwrite tags (string, number or boolean).

        Returns every tag of the machine as the cloud answered (the seed's return value).
        """
        body = check_tags(kwargs)
        if not body:
            raise InvalidInputError("add_tags needs at least one tag=value")
        reply = self._change("set_tags", "POST", "tags", json=body, rule="add_tags")
        self._wrote(writes.set_items("tags", body))
        return self._keep_tags(reply.data or {})

    def replace_tags(self, **kwargs: Any) -> dict[str, Any]:
        """PUT /:login/machines/:id/tags — replace every tag with these; returns the tags.

        With no tags it sends DELETE /:login/machines/:id/tags instead: CloudAPI refuses
        a PUT of none (VMAPI wants at least one key).
        """
        body = check_tags(kwargs)
        if not body:
            self._change("remove_tags", "DELETE", "tags", rule="replace_tags")
            self._wrote(writes.replaced("tags", {}))
            return self._keep_tags({})
        reply = self._change("replace_tags", "PUT", "tags", json=body, rule="replace_tags")
        self._wrote(writes.replaced("tags", body))
        return self._keep_tags(reply.data or {})

    def get_tag(self, tag: str) -> Any:
        """GET /:login/machines/:id/tags/:tag — one tag's value (NotFoundError if absent).

        After a tag write of this Machine, the tags are read first until it shows.
        """
        name = self._tag_name(tag)
        if self._writes.of("tags"):
            self.get_tags()
        value = self._request("GET", "tags", name).data
        if value == "":
            # CloudAPI answers "" for a number or boolean too: the tags say which it was
            return self.get_tags().get(name, value)
        return value

    @staticmethod
    def _tag_name(tag: Any) -> str:
        if not isinstance(tag, str) or not tag:
            raise InvalidInputError(f"a tag name must be a non-empty string, not {tag!r}")
        return tag

    def delete_tag(self, tag: str) -> Machine:
        """DELETE /:login/machines/:id/tags/:tag (after a tag this Machine just set shows)."""
        name = self._tag_name(tag)
        if self._writes.of("tags"):
            self._read("tags")  # a tag this Machine just set must exist before its delete
        self._change("remove_tags", "DELETE", "tags", name, rule="delete_tags")
        self._wrote(writes.removed("tags", name))
        self._keep_tags(self._writes.merged("tags", self.raw.get("tags") or {}))
        return self

    def delete_all_tags(self) -> Machine:
        """DELETE /:login/machines/:id/tags."""
        self._change("remove_tags", "DELETE", "tags", rule="delete_tags")
        self._wrote(writes.replaced("tags", {}))
        self._keep_tags({})
        return self


__all__ = ["MachineData"]

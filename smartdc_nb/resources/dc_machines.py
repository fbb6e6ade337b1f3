"""A DataCenter's machines: listing (filters, parallel pages), counting, fetching, creating.

:class:`MachineCalls` is the part of :class:`~smartdc_nb.datacenter.DataCenter` for
``/:login/machines``; it returns Machine objects (or CloudAPI's plain dicts for the
``raw_`` methods).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from ..errors import InvalidInputError, NotFoundError, PagingError
from .machine import Machine
from .validate import (is_uuid, read_script, resource_ref, validate_machine_name,
                       validate_values)

if TYPE_CHECKING:
    from ..machinelist import MachineList

log = logging.getLogger("smartdc_nb.datacenter")

#: ``state`` values ListMachines accepts as a filter (cloudapi.md §4.3).
LIST_STATE_FILTERS = ("provisioning", "stopping", "active", "running", "stopped", "unknown",
                      "destroyed")
#: Query parameters ListMachines understands, besides ``tag.KEY``.
MACHINE_FILTERS = ("name", "image", "state", "memory", "brand", "type", "docker", "tombstone",
                   "credentials")
#: What VMAPI's tag search (an LDAP substring filter on its tag string) cannot match as
#: written: ``*`` is its wildcard, ``=`` is stored escaped but searched raw, ( ) \\ are
#: filter syntax. A ``tag.KEY`` filter holding one is matched here instead.
_UNSEARCHABLE = re.compile(r"[*=()\\]")


def _split_exact(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the parameters to send, the exact matches to check here: ``{field: value}``).

    VMAPI matches ``name`` as a prefix, ``(alias=<name>*)``: it is sent, to narrow the
    listing, and checked here. A tag filter VMAPI's search cannot match is not sent."""
    tags = {k[4:]: v for k, v in params.items() if k.startswith("tag.")
            and isinstance(v, str) and (_UNSEARCHABLE.search(k) or _UNSEARCHABLE.search(v))}
    local: dict[str, Any] = {("tags", k): v for k, v in tags.items()}
    if params.get("name"):
        local[("name", None)] = str(params["name"])
    return {k: v for k, v in params.items()
            if not (k.startswith("tag.") and k[4:] in tags)}, local


def _exact(machine: dict, wanted: dict[tuple[str, str | None], Any]) -> bool:
    for (field, key), value in wanted.items():
        found = machine.get(field)
        if key is not None:
            found = found.get(key) if isinstance(found, dict) else None
        if found != value:
            return False
    return True


def _kept(pages: Iterator[list[dict]], wanted: dict[tuple[str, str | None], Any]
          ) -> Iterator[list[dict]]:
    try:
        for page in pages:
            yield [m for m in page if _exact(m, wanted)]
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


class MachineCalls:
    """Machine methods of a DataCenter (see DataCenter)."""

    def machine_filters(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        """ListMachines query parameters from keyword filters, checked before sending.

        ``tags={"role": "web"}`` becomes ``tag.role=web``; booleans become
        ``true``/``false``; an unknown filter or a state CloudAPI cannot filter
        on is refused with an explanation.
        """
        params: dict[str, Any] = {}
        for key, value in filters.items():
            if value is None:
                continue
            if key == "tags":
                if not isinstance(value, Mapping):
                    raise InvalidInputError("tags= must be a dict of tag name to value")
                for tag, tag_value in value.items():
                    params[f"tag.{tag}"] = tag_value
            elif key.startswith("tag."):
                params[key] = value
            elif key == "state":
                if value not in LIST_STATE_FILTERS:
                    hint = (" (use tombstone=True to include deleted and failed machines)"
                            if value in ("deleted", "failed") else "")
                    raise InvalidInputError(
                        f"CloudAPI cannot filter machines by state {value!r}{hint}; "
                        f"valid states: {', '.join(LIST_STATE_FILTERS)}")
                params[key] = value
            elif key in MACHINE_FILTERS:
                params[key] = value
            else:
                raise InvalidInputError(
                    f"unknown machine filter {key!r}; use one of {', '.join(MACHINE_FILTERS)} "
                    "or tags={'key': 'value'}")
        return params

    def iter_machine_pages(self, *, page_concurrency: int | None = None,
                           **filters: Any) -> Iterator[list[dict]]:
        """Yield ListMachines pages (raw dicts), paging until the fleet is whole.

        Several pages are asked at once (``page_concurrency``, default the
        DataCenter's) and each machine comes once, even when the fleet changes
        during the listing (see smartdc_nb.paging). A caller that may stop
        early to save requests asks with ``page_concurrency=1``.
        """
        params, local = _split_exact(self.machine_filters(filters))
        pages = self.transport.paginate(self.path("machines"), params,
                                        concurrency=page_concurrency)
        return _kept(pages, local) if local else pages

    def raw_machines(self, **filters: Any) -> list[dict]:
        """Every machine matching ``filters`` as CloudAPI's dicts (all pages)."""
        return [m for page in self.iter_machine_pages(**filters) for m in page]

    def machines(self, **filters: Any) -> MachineList:
        """GET /:login/machines — every matching machine (all pages) as Machine objects.

        Filters: name, image, state, memory, brand, type, docker, tombstone,
        credentials, and ``tags={"key": "value", ...}``. A name and tag values are exact:
        what VMAPI matches otherwise (a name as a prefix, a tag value with ``*`` or ``=``)
        is checked here.
        """
        from ..machinelist import MachineList

        machines = MachineList(Machine(self, data=m) for m in self.raw_machines(**filters))
        self.images_for_cards()
        return machines

    def num_machines(self, **filters: Any) -> int:
        """How many machines match ``filters`` (HEAD requests: no bodies are transferred)."""
        params, local = _split_exact(self.machine_filters(filters))
        if local:  # matched here, so counted here
            return len(self.raw_machines(**filters))
        total, offset, limit = 0, 0, 1000
        for _ in range(self.transport.max_pages):
            reply = self.request("HEAD", "machines",
                                 params={**params, "limit": limit, "offset": offset})
            count = reply.headers.get("x-resource-count", "")
            if not count.isdigit():
                raise PagingError(f"counting machines: CloudAPI's answer has no usable "
                                  f"x-resource-count ({count!r}); use len(dc.raw_machines())")
            total += int(count)
            if int(count) < limit:
                return total
            offset += limit
        raise PagingError(
            f"counting machines did not end after {self.transport.max_pages:,} pages: the "
            "server says every page is full. Raise connect(max_pages=...) if the fleet "
            "really is that big.")

    def raw_machine_data(self, machine_id: str, credentials: bool = False) -> dict:
        """GET /:login/machines/:id — the machine's payload (410 tombstones raise MachineDeletedError)."""
        if not is_uuid(machine_id):
            raise InvalidInputError(f"{machine_id!r} is not a machine id (a UUID)")
        params = {"credentials": True} if credentials else {}
        return self._get("machines", machine_id, **params)

    def machine(self, id_or_name: str) -> Machine:
        """One machine by UUID or by exact name (fetched now)."""
        if is_uuid(id_or_name):
            machine = Machine(self, id_or_name)
            self.images_for_cards()
            return machine
        found = self.raw_machines(name=id_or_name)  # exact (see machines)
        if not found:
            raise NotFoundError(f"no machine named {id_or_name!r} in {self.name or self.url}",
                                status=404, code="ResourceNotFound")
        if len(found) > 1:
            ids = ", ".join(m["id"] for m in found)
            raise InvalidInputError(f"{len(found)} machines are named {id_or_name!r} ({ids}); "
                                    "use the id")
        self.images_for_cards()
        return Machine(self, data=found[0])

    def create_machine(
        self,
        name: str | None = None,
        package: Any = None,
        image: Any = None,
        networks: Iterable[Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        boot_script: str | Path | None = None,
        firewall_enabled: bool | None = None,
        deletion_protection: bool | None = None,
        *,
        user_script: str | None = None,
        brand: str | None = None,
        affinity: Iterable[str] | str | None = None,
        **extra: Any,
    ) -> Machine:
        """POST /:login/machines — provision a machine; returns it (state ``provisioning``).

        ``package`` and ``image`` are ids, names (image: ``name`` or
        ``name@version``) or dicts; ``networks`` ids or dicts; ``metadata`` and
        ``tags`` dicts (sent as CloudAPI's flat ``metadata.KEY`` / ``tag.KEY``);
        ``boot_script`` a file whose text becomes the ``user-script`` metadata
        (or give the text as ``user_script``).
        """
        if package is None:
            raise InvalidInputError("create_machine needs a package (id, name or package dict)")
        if image is None:
            raise InvalidInputError("create_machine needs an image (id, name, name@version or dict)")
        body: dict[str, Any] = {"package": resource_ref(package, "package")}
        image_ref = resource_ref(image, "image")
        body["image"] = image_ref if is_uuid(image_ref) else self.image(image_ref)["id"]
        if name is not None:
            body["name"] = validate_machine_name(name)
        if networks is not None:
            if isinstance(networks, (str, Mapping)):
                networks = [networks]
            body["networks"] = [n if isinstance(n, Mapping) and "ipv4_uuid" in n
                                else resource_ref(n, "network") for n in networks]
        meta = validate_values("metadata", dict(metadata or {}))
        if boot_script is not None and user_script is not None:
            raise InvalidInputError("give boot_script (a file) or user_script (its text), not both")
        if boot_script is not None:
            user_script = read_script(boot_script)
        if user_script is not None:
            meta["user-script"] = user_script
        for key, value in meta.items():
            body[f"metadata.{key}"] = value
        for key, value in validate_values("tag", dict(tags or {})).items():
            body[f"tag.{key}"] = value
        if firewall_enabled is not None:
            body["firewall_enabled"] = bool(firewall_enabled)
        if deletion_protection is not None:
            body["deletion_protection"] = bool(deletion_protection)
        if brand is not None:
            body["brand"] = brand
        if affinity is not None:
            body["affinity"] = [affinity] if isinstance(affinity, str) else list(affinity)
        body.update(extra)
        reply = self.request("POST", "machines", json=body)
        return Machine(self, data=reply.data)


__all__ = ["MachineCalls", "LIST_STATE_FILTERS", "MACHINE_FILTERS"]

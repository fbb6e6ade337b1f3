"""A DataCenter's catalog: packages, images and networks, and what it remembers of them.

:class:`CatalogCalls` is the part of :class:`~smartdc_nb.datacenter.DataCenter` that
lists and fetches the catalog and keeps what it fetched, so cards and frames can name a
package or an image without a request.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from ..errors import NotFoundError, SmartDCError
from .validate import is_uuid, resource_ref

log = logging.getLogger("smartdc_nb.datacenter")


class CatalogCalls:
    """Catalog methods of a DataCenter (see DataCenter)."""

    def packages(self, **filters: Any) -> list[dict]:
        """GET /:login/packages — packages, filtered server-side (name, memory, disk, vcpus, ...)."""
        packages = self._get("packages", **filters) or []
        self._remember(self._packages, packages)
        if not filters:
            self.catalog._learn("packages", packages)
        return packages

    def package(self, id_or_name: str) -> dict:
        """GET /:login/packages/:id — one package by UUID or name (the highest version)."""
        package = self._get("packages", resource_ref(id_or_name, "package"))
        self._remember(self._packages, [package])
        return package

    def images(self, **filters: Any) -> list[dict]:
        """GET /:login/images — images, filtered server-side (name, os, version, state, type, ...)."""
        images = self._get("images", **filters) or []
        self._remember(self._images, images)
        if filters == {"state": "all"}:
            self.catalog._learn("images", images)
        return images

    def image(self, id_or_name: str) -> dict:
        """One image: by UUID, or by ``name`` / ``name@version`` (the latest published)."""
        ref = resource_ref(id_or_name, "image")
        if is_uuid(ref):
            image = self._get("images", ref)
        else:
            name, _, version = ref.partition("@")
            filters = {"name": name, "state": "all"}
            if version:
                filters["version"] = version
            found = [i for i in self._get("images", **filters) or [] if i.get("state") == "active"]
            if not found:
                raise NotFoundError(f"no active image named {ref!r}", status=404,
                                    code="ResourceNotFound")
            image = max(found, key=lambda i: i.get("published_at") or "")
        self._remember(self._images, [image])
        return image

    def networks(self, **filters: Any) -> list[dict]:
        """GET /:login/networks — networks (and pools) this account can use."""
        return self._get("networks", **filters) or []

    def network(self, network_id: str) -> dict:
        """GET /:login/networks/:id."""
        return self._get("networks", network_id)

    def _remember(self, cache: dict[str, dict], items: Iterable[dict]) -> None:
        with self._lock:
            for item in items:
                if isinstance(item, dict) and item.get("id"):
                    cache[item["id"]] = item
                    if item.get("name"):
                        cache.setdefault("name:" + item["name"], item)

    def images_for_cards(self) -> None:
        """Fetch the image list once (``dc.catalog``, cached) so machine cards name their images.

        Called when machines are listed or fetched, so what a card shows never
        depends on whether the notebook called :meth:`images` first. One request
        per datacenter, only when no image list was fetched yet; a failure is left
        for the card to say ("name not known"), never raised into the listing.
        """
        if self.catalog.cached_images() is not None:
            return
        try:
            self.catalog.images()
        except SmartDCError as exc:
            log.debug("image names for the cards of %s: %s", self.name or self.url, exc)

    def known_package(self, id_or_name: str | None) -> dict | None:
        """A package already fetched by this DataCenter, by id or name; never a request."""
        if not id_or_name:
            return None
        return self._packages.get(id_or_name) or self._packages.get("name:" + id_or_name)

    def known_image(self, image_id: str | None) -> dict | None:
        """An image already fetched by this DataCenter; never a request."""
        return self._images.get(image_id) if image_id else None

    def known_packages(self) -> list[dict]:
        """Every package this DataCenter has fetched so far; never a request."""
        with self._lock:
            return [p for key, p in self._packages.items() if not key.startswith("name:")]

    def known_images(self) -> list[dict]:
        """Every image this DataCenter has fetched so far; never a request."""
        with self._lock:
            return [i for key, i in self._images.items() if not key.startswith("name:")]

    def known_datacenters(self) -> dict[str, str] | None:
        """``{name: url}`` from the last :meth:`datacenters` call, or None; never a request."""
        return dict(self._datacenters) if self._datacenters is not None else None


__all__ = ["CatalogCalls"]

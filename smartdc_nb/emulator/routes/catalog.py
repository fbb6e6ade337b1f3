"""Packages, images and networks (cloudapi.md §6.4–6.6)."""

from __future__ import annotations

import fnmatch
from typing import Any

from ..errors import not_found
from ..payloads import image_dict, network_dict, package_dict
from .common import Ctx, Reply, json_reply, param_true

_PACKAGE_FILTERS = ("name", "memory", "disk", "swap", "lwps", "version", "vcpus", "group",
                    "brand", "flexible_disk")


def _matches(value: Any, wanted: Any) -> bool:
    """PAPI filter semantics: ``*`` wildcards in strings, numbers compared as text."""
    if isinstance(value, bool) or isinstance(wanted, bool):
        return str(value).lower() == str(wanted).lower()
    text, pattern = str(value), str(wanted)
    if "*" in pattern:
        return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]").replace("?", "[?]"))
    return text == pattern


def list_packages(ctx: Ctx) -> Reply:
    out = []
    for pkg in ctx.state.packages.values():
        if not pkg.get("active", True):
            continue
        body = package_dict(pkg)
        if all(_matches(body.get(f), ctx.params[f]) for f in _PACKAGE_FILTERS
               if ctx.params.get(f) not in (None, "")):
            out.append(body)
    return json_reply(out)


def get_package(ctx: Ctx) -> Reply:
    wanted = ctx.url["package"]
    pkg = ctx.state.package(wanted)
    if pkg is None:
        raise not_found(f"{wanted} not found")
    return json_reply(package_dict(pkg))


def _visible(image: dict[str, Any], account_uuid: str) -> bool:
    return bool(image.get("public")) or image.get("owner") == account_uuid or \
        account_uuid in (image.get("acl") or [])


def list_images(ctx: Ctx) -> Reply:
    params = ctx.params
    state_filter = params.get("state") or "active"
    out = []
    for image in ctx.state.images.values():
        if not _visible(image, ctx.account.uuid):
            continue
        if state_filter != "all" and image.get("state") != state_filter:
            continue
        if params.get("type") in (None, "") and image.get("type") == "docker":
            continue
        if not _image_matches(image, params):
            continue
        out.append(image_dict(image))
    out.sort(key=lambda im: (im.get("published_at") or "", im["id"]))
    return json_reply(out)


def _image_matches(image: dict[str, Any], params: dict[str, Any]) -> bool:
    for field in ("name", "os", "version", "owner", "type"):
        wanted = params.get(field)
        if wanted in (None, ""):
            continue
        value = str(image.get(field, ""))
        wanted = str(wanted)
        if wanted.startswith("~"):
            if wanted[1:] not in value:
                return False
        elif value != wanted:
            return False
    public = params.get("public")
    if public not in (None, "") and bool(image.get("public")) != param_true(public):
        return False
    return True


def get_image(ctx: Ctx) -> Reply:
    image = ctx.state.images.get(ctx.url["image"])
    if image is None or not _visible(image, ctx.account.uuid):
        raise not_found(f"{ctx.url['image']} not found")
    return json_reply(image_dict(image))


def list_networks(ctx: Ctx) -> Reply:
    nets = [network_dict(n) for n in ctx.dc.networks.values()]
    fabric = ctx.params.get("fabric")
    if fabric not in (None, ""):
        nets = [n for n in nets if bool(n.get("fabric")) == param_true(fabric)]
    return json_reply(nets)


def get_network(ctx: Ctx) -> Reply:
    network = ctx.dc.networks.get(ctx.url["network"])
    if network is None:
        raise not_found(f"{ctx.url['network']} not found")
    return json_reply(network_dict(network))


ROUTES = [
    ("/<login>/packages", "packages", {"GET": list_packages}),
    ("/<login>/packages/<package>", "packages", {"GET": get_package}),
    ("/<login>/images", "datasets", {"GET": list_images}),
    ("/<login>/images/<image>", "datasets", {"GET": get_image}),
    ("/<login>/networks", "networks", {"GET": list_networks}),
    ("/<login>/networks/<network>", "networks", {"GET": get_network}),
]

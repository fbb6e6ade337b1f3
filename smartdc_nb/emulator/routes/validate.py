"""VMAPI's validation of names, tags and metadata, which CloudAPI passes through.

Messages follow VMAPI and node-triton-tags (cloudapi.md §4.5, §5.1, §5.2).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from ..errors import invalid_argument, invalid_field, missing_parameter, not_found

ALIAS_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
ALIAS_RE_TEXT = r"/^[a-zA-Z0-9][a-zA-Z0-9\_\.\-]*$/"
ALIAS_MAX = 189
_DNS_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9\-]{0,62}(?:\.[a-z0-9][a-z0-9\-]{0,62})*$", re.I)
_TRITON_TAG_TYPES = {
    "triton.cmon.groups": "string",
    "triton.cns.services": "string",
    "triton.cns.disable": "boolean",
    "triton.cns.reverse_ptr": "string",
    "triton.network.public": "string",
    "triton.placement.exclude_virtual_servers": "boolean",
    "triton._test.string": "string",
    "triton._test.number": "number",
    "triton._test.boolean": "boolean",
}
_DOCKER_TAG_RE = re.compile(r"^(?:sdc_docker$|docker:label:triton\.|docker:label:(?:com|io|org)\.docker(?:project)?\.)")


def alias_errors(name: Any) -> list[dict[str, str]]:
    """VMAPI's complaints about a machine alias (empty list when it is fine)."""
    if not isinstance(name, str):
        return [invalid_field("alias", "Not a valid string")]
    errors = []
    if len(name) > ALIAS_MAX:
        errors.append(invalid_field("alias", f"String is longer than maximum of {ALIAS_MAX} characters"))
    if not ALIAS_RE.match(name):
        errors.append(invalid_field("alias", f"String does not match regexp: {ALIAS_RE_TEXT}"))
    return errors


def js_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if value is not None else "object"


def js_json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(value)


def _cns_services_error(value: str) -> str | None:
    for item in value.split(","):
        name, _, rest = item.partition(":")
        bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c in "-."))), None)
        if not name or bad is not None:
            found = f'"{bad}"' if bad is not None else "end of input"
            return f'invalid "triton.cns.services" tag: Expected DNS name but {found} found.'
        if len(name) > 63:
            return (f'invalid "triton.cns.services" tag: service DNS name "{name}" must be '
                    "63 or fewer characters")
        if rest:
            port, _, props = rest.partition(":")
            if not port.isdigit() or not 1 <= int(port) <= 65535:
                return (f'invalid "triton.cns.services" tag: service port number for {name} '
                        "must be within the range 1 - 65535")
            for prop in filter(None, props.split(":")):
                key, _, val = prop.partition("=")
                if key not in ("priority", "weight"):
                    return (f'invalid "triton.cns.services" tag: service property "{key}" is '
                            "not a valid property name")
                if not val.isdigit() or int(val) > 65535:
                    return (f'invalid "triton.cns.services" tag: service {key} for {name} must '
                            "be within the range 0 - 65535")
    return None


def _cmon_groups_error(value: str) -> str | None:
    groups = value.split(",")
    if any(not g or not re.fullmatch(r"[A-Za-z0-9_-]+", g) for g in groups):
        return ('invalid "triton.cmon.groups" tag: groups must be strings comprised of letters, '
                "numbers, _, and -")
    if len(groups) > 100:
        return 'invalid "triton.cmon.groups" tag: must contain less than or equal to 100 group strings'
    seen = set()
    for group in groups:
        if group in seen:
            return f'invalid "triton.cmon.groups" tag: contains duplicate group {group}'
        seen.add(group)
        if len(group) > 100:
            return ('invalid "triton.cmon.groups" tag: group name must be no less than 1 character '
                    "and no greater than 100 characters")
    return None


def triton_tag_error(key: str, value: Any) -> str | None:
    """node-triton-tags' message for a bad ``triton.*`` tag, or None."""
    expected = _TRITON_TAG_TYPES.get(key)
    if expected is None:
        return f'Unrecognized special triton tag "{key}"'
    actual = js_type(value)
    if expected != actual:
        return f'Triton tag "{key}" value must be a {expected}: {js_json(value)} ({actual})'
    if key == "triton.cns.services":
        return _cns_services_error(value)
    if key == "triton.cmon.groups":
        return _cmon_groups_error(value)
    if key == "triton.cns.reverse_ptr" and (len(value) > 255 or not _DNS_NAME_RE.match(value)):
        return f'invalid "triton.cns.reverse_ptr" tag: "{value}" is not DNS safe'
    return None


def tag_errors(tags: dict[str, Any], docker: bool = False) -> list[dict[str, str]]:
    """The first problem with a set of tags, as VMAPI reports it."""
    for key, value in tags.items():
        if not isinstance(value, (str, int, float)) or value is None:
            return [invalid_field(f"tags.{key}", "Forbidden Data Type")]
    for key, value in tags.items():
        if key.startswith("triton."):
            message = triton_tag_error(key, value)
            if message:
                return [invalid_field("tags", message)]
        elif docker and _DOCKER_TAG_RE.match(key):
            return [invalid_field("tags", f'Special tag "{key}" not supported')]
    return []


def protected_tag_errors(keys: list[str], docker: bool) -> list[dict[str, str]]:
    if docker:
        for key in keys:
            if _DOCKER_TAG_RE.match(key):
                return [invalid_field("tags", f'Special tag "{key}" may not be deleted')]
    return []


def metadata_errors(metadata: dict[str, Any]) -> list[dict[str, str]]:
    for key, value in metadata.items():
        if not isinstance(value, (str, int, float)) or value is None:
            return [invalid_field(f"customer_metadata.{key}", "Forbidden Data Type")]
    return []


_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def network_object_ip(item: dict[str, Any], networks: dict[str, dict[str, Any]]) -> str | None:
    """The IP a CreateMachine network object asks for (None: any), checked as
    sdc-cloudapi lib/validation/networks.js validateNetworkObject() and NAPI's GetIP do."""
    net_id, ips, count = item.get("ipv4_uuid"), item.get("ipv4_ips"), item.get("ipv4_count")
    if not net_id:
        raise missing_parameter("network objects must contain ipv4_uuid")
    if not isinstance(net_id, str):
        raise invalid_argument("ipv4_uuid must be a string")
    if not _UUID_RE.match(net_id):
        raise invalid_argument(f"ipv4_uuid: {net_id} is not a uuid")
    if count is not None and ips is not None:
        raise invalid_argument("ipv4_count and ipv4_ips cannot be specified together")
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, (int, float)):
            raise invalid_argument("ipv4_count must be a number")
        if count != 1:
            raise invalid_argument("ipv4_count can only be set to 1")
    if ips is None:
        return None
    if not isinstance(ips, list):
        raise invalid_argument("ipv4_ips must be an array with a single IP")
    if len(ips) != 1:
        raise invalid_argument(f"ipv4_ips: network with ipv4_uuid {net_id} should contain a "
                               "single IP array")
    if not isinstance(ips[0], str):
        raise invalid_argument("ipv4_ips[0]: string expected")
    network = networks.get(net_id)
    if network is None:
        raise not_found(f"ipv4_uuid: network {net_id} not found")
    if not network.get("fabric"):  # only the account's own networks have owner_uuids
        raise invalid_argument(f"ipv4_uuid: {net_id} cannot specify IP on a public network")
    try:
        address = ipaddress.IPv4Address(ips[0])
    except ValueError:
        address = None
    subnet = ipaddress.IPv4Network(network["_cidr"])
    # NAPI's GetIP answers 404; CloudAPI's napiErrorWrap prefixes its message
    if address is None:
        raise not_found(f"cannot validate {ips[0]}: Invalid IP address")
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise not_found(f"cannot validate {ips[0]}: IP is not in subnet")
    return str(address)

"""Values read from CloudAPI payloads: times, IP addresses, masked credentials.

Pure functions and small types with no requests, shared by the resources and the views.
"""

from __future__ import annotations

import html
import ipaddress
import json
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from ..masking import SCRIPT_KEYS, is_secret

#: how a secret's value is shown
MASKED = "********"


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from CloudAPI's ISO-8601 text (``...T12:55:50.539Z``), else None.

    Fractional seconds and the offset are kept; a time without an offset is UTC.
    """
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def split_ips(ips: Iterable[Any]) -> tuple[list[str], list[str]]:
    """``(public, private)`` lists from a machine's ``ips``, classified with :mod:`ipaddress`.

    Public means globally routable (``is_global``), IPv4 or IPv6. Everything
    else that is an address is private: RFC 1918, IPv6 unique-local
    (fc00::/7), link-local (169.254/16, fe80::/10), loopback, and carrier-grade
    NAT 100.64/10 (shared address space, not reachable from the internet).
    Entries that are not addresses (VMAPI may list ``"dhcp"``) are in neither.
    """
    public: list[str] = []
    private: list[str] = []
    for text in ips or ():
        try:
            address = ipaddress.ip_address(str(text).split("/")[0])
        except ValueError:
            continue
        (public if address.is_global else private).append(str(text))
    return public, private


def credentials_of(value: Any) -> Credentials:
    """The ``{login: password}`` pairs of a ``metadata.credentials`` value.

    CloudAPI sends an object; a JSON text (as given at create time) is read;
    anything else holds no usable pairs.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    return Credentials(value if isinstance(value, Mapping) else {})


class Credentials(dict):
    """A machine's ``{login: password}`` pairs; every display of it is masked.

    It is a dict (``creds["root"]`` gives the password); ``repr``, ``str``
    and the notebook reprs show the logins only.
    """

    def __repr__(self) -> str:
        shown = ", ".join(f"{k!r}: {MASKED!r}" for k in self)
        return f"Credentials({{{shown}}})"

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{MASKED}</td></tr>" for k in self)
        return f"<table class='smartdc-nb-credentials'>{rows}</table>"


class Metadata(dict):
    """A machine's metadata; every display of it masks the values of secret keys.

    It is a dict (``metadata["db_password"]`` gives the value); ``repr``, ``str`` and the
    notebook's pretty print show a secret's key (smartdc_nb.masking.is_secret, the rule of
    the card and the frames) and ``'********'`` for its value, as :class:`Credentials` does,
    and a boot script or the injected SSH keys (masking.SCRIPT_KEYS) by size, as the card
    does: a cloud-config may hold a password.
    """

    def _masked(self) -> dict:
        return {k: MASKED if is_secret(k) else
                (f"<script, {len(str(v).encode())} bytes>" if k in SCRIPT_KEYS else v)
                for k, v in self.items()}

    def __repr__(self) -> str:
        return f"Metadata({self._masked()!r})"

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # laid out as a cell shows a dict (a key a line when it is too long for one line),
        # not as one line that the notebook breaks in the middle of keys and values
        if cycle:
            printer.text("Metadata({...})")
            return
        with printer.group(len("Metadata("), "Metadata(", ")"):
            printer.pretty(self._masked())


__all__ = ["parse_time", "split_ips", "credentials_of", "Credentials", "Metadata"]

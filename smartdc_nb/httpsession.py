"""The ``requests.Session`` of every Transport: the proxy environment read once per host.

With ``trust_env`` (the default) requests looks up the proxy variables for
every request: ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``
(any case), which walks the whole of ``os.environ`` twice, about 0.1 ms per
request and more in a notebook's long environment. :class:`Session` asks
requests (``requests.utils.get_environ_proxies``, with ``NO_PROXY``'s hosts,
domains, ports and CIDR ranges) once per scheme, host and port, and keeps the
answer for the session's life: a change to those variables applies to the
connections made after it (``smartdc_nb.connect`` again), not to one already
open. The rest of what requests takes from the environment (``REQUESTS_CA_BUNDLE``,
``CURL_CA_BUNDLE``) is still read on every request, as requests reads it.

A process forked after connecting (multiprocessing's default on Linux) inherits the
sessions and their open keep-alive connections: parent and child then read answers from
the same socket, each taking the other's (a machine's GET answered with another machine,
a stop's 202 read by the process that asked for something else). So in a forked child
every session starts with no connection (:func:`_forget_connections_after_fork`).

An insecure connection was warned about once when it was made; urllib3 would
repeat its own warning on every request, so the session silences that one for
its host (:meth:`Session.quiet_unverified`), and keeps it silenced.
"""

from __future__ import annotations

import os
import re
import warnings
import weakref
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies


class Session(requests.Session):
    """``requests.Session`` whose environment proxies are looked up once per host."""

    def __init__(self) -> None:
        super().__init__()
        _sessions.add(self)
        self._environ_proxies: dict[tuple[str, str | None, int | None, str | None],
                                    dict[str, str]] = {}
        self._quiet: tuple[Any, ...] | None = None

    def quiet_unverified(self, host: str) -> None:
        """Silence urllib3's warning about unverified requests to ``host`` (not other hosts)."""
        from urllib3.exceptions import InsecureRequestWarning

        warnings.filterwarnings("ignore", f".*host '{re.escape(host)}'", InsecureRequestWarning)
        self._quiet = warnings.filters[0]

    def send(self, request: Any, **kwargs: Any) -> Any:
        """requests' send, first putting back the filter of :meth:`quiet_unverified` if a
        ``warnings.catch_warnings()`` block (pytest.warns is one) has since dropped it."""
        if self._quiet is not None and self._quiet not in warnings.filters:
            action, message, category, module, lineno = self._quiet
            warnings.filterwarnings(action, message.pattern, category, lineno=lineno)
        return super().send(request, **kwargs)

    def environ_proxies(self, url: str, no_proxy: str | None = None) -> dict[str, str]:
        """The environment's proxies for ``url`` (``{}`` when ``NO_PROXY`` covers its host)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname, parts.port, no_proxy)
        found = self._environ_proxies.get(key)
        if found is None:
            found = self._environ_proxies[key] = dict(get_environ_proxies(url, no_proxy=no_proxy))
        return found

    def merge_environment_settings(self, url: str, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        """requests' merge of the call's settings, the session's and the environment's."""
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        if proxies is not None:
            for scheme, proxy in self.environ_proxies(url, proxies.get("no_proxy")).items():
                proxies.setdefault(scheme, proxy)
        if verify is True or verify is None:
            verify = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                      or verify)
        if isinstance(proxies, dict) and not self.proxies:  # what merge_setting would give,
            # without its isinstance checks against typing Protocols (~12 µs on Python 3.11)
            merged = {k: v for k, v in proxies.items() if v is not None}
        else:
            merged = merge_setting(proxies, self.proxies)
        return {"proxies": merged,
                "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify),
                "cert": merge_setting(cert, self.cert)}


#: Every Session of this process (a forked child drops their connections).
_sessions: weakref.WeakSet[Session] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    """In a forked child: new, empty connection pools for every session. The inherited ones
    are let go without being closed or touched (their locks may be held by the parent's
    threads, and a TLS close would end the parent's session on the shared socket)."""
    for session in list(_sessions):
        for adapter in session.adapters.values():
            if isinstance(adapter, HTTPAdapter):
                adapter.proxy_manager = {}
                adapter.init_poolmanager(adapter._pool_connections, adapter._pool_maxsize,
                                         block=adapter._pool_block)


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_connections_after_fork)

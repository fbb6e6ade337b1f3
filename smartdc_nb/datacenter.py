"""DataCenter: one CloudAPI endpoint as one account, and :func:`connect`.

A DataCenter is the connection every resource object (Machine, Snapshot, ...)
makes its requests through. Its methods return plain data (dicts and lists,
exactly as CloudAPI sent them) or resource objects; apart from remembering the
packages and images it has fetched (so reprs and frames can name them without
a request), it keeps no state about the cloud.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import seam
from .catalog import CATALOG_TTL, Catalog
from .errors import ConfigError, InvalidInputError
from .limits import DEFAULT_MAX_ANSWER_BYTES, DEFAULT_REQUEST_TIMEOUT
from .paging import MAX_PAGES, PAGE_CONCURRENCY
from .ratelimit import RateLimiter, shared_limiter
from .resources.dc_catalog import CatalogCalls
from .resources.dc_machines import LIST_STATE_FILTERS, MACHINE_FILTERS, MachineCalls  # noqa: F401
from .resources.validate import (MACHINE_NAME_MAX, MACHINE_NAME_RE, UUID_RE,  # noqa: F401
                                 is_uuid, read_script, validate_machine_name, validate_values)
from .transport import DEFAULT_TIMEOUT, Reply, Transport, path_segment

if TYPE_CHECKING:
    from .config import Profile

log = logging.getLogger(__name__)

class DataCenter(CatalogCalls, MachineCalls):
    """One CloudAPI endpoint (``url``) used as ``account`` (optionally as RBAC ``user``).

    Usually made by :func:`connect`. ``signer`` is a smartdc_nb.auth signer; when
    it is not given, the key is found from ``key_id`` / ``key_path`` as the
    triton CLI does (``~/.ssh``, then the ssh-agent). ``rate_limit`` is True
    (share the login's client-side limiter), False/None, a rate in requests per
    second, or a :class:`~smartdc_nb.ratelimit.RateLimiter`. ``act_as`` addresses
    another account's resources (the signature stays ``account``'s) and
    ``roles`` selects RBAC roles (``as-role``) on every request.
    ``catalog_ttl``: seconds ``dc.catalog`` reuses fetched packages and images.
    ``retries``, ``retry_budget`` and ``backoff`` (the first retry's wait, in
    seconds, doubling after) go to the transport (smartdc_nb.transport).
    ``page_concurrency``: ListMachines pages asked at once (1 asks them one
    after another, for servers that object); ``max_pages``: pages before a
    listing is refused as endless (smartdc_nb.paging).
    ``request_timeout`` bounds one call in all (connect, reads, retries; None: no
    bound) and ``max_answer_bytes`` the size of one decoded answer (see
    :mod:`smartdc_nb.limits`).
    """

    def __init__(
        self,
        url: str,
        account: str,
        key_id: str | None = None,
        *,
        key_path: str | Path | None = None,
        passphrase: str | None = None,
        user: str | None = None,
        act_as: str | None = None,
        roles: Iterable[str] = (),
        name: str | None = None,
        insecure: bool = False,
        signer: Any = None,
        profile: Profile | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        rate_limit: bool | float | RateLimiter | None = True,
        retries: int | bool = 8,
        retry_budget: float = 60.0,
        backoff: float = 0.5,
        catalog_ttl: float | None = CATALOG_TTL,
        changefeed: bool = True,
        journal: Any = None,
        page_concurrency: int = PAGE_CONCURRENCY,
        max_pages: int = MAX_PAGES,
        request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT,
        max_answer_bytes: int | None = DEFAULT_MAX_ANSWER_BYTES,
    ):
        from .auth import HTTPSignatureAuth, load_signer
        from .config import check_url, warn_insecure

        self.url = check_url(url).rstrip("/")
        if not account:
            raise InvalidInputError("an account (login) is required to use CloudAPI")
        self.account_name = account
        self.login = act_as or account
        self.user = user
        self.roles = tuple(roles or ())
        self.name = name
        self.profile = profile
        if signer is None:
            signer = load_signer(key_id=key_id, key_path=key_path, passphrase=passphrase)
        self.signer = signer
        self.insecure = bool(insecure)
        if self.insecure and profile is None:  # a profile said so already when it was loaded
            warn_insecure(self.url, "the insecure argument")
        #: where mutating requests are journalled: None (SMARTDC_NB_JOURNAL or the user's state
        #: directory), a path, or False (off); see smartdc_nb.journaling
        self.journal_setting = journal
        self._options = dict(timeout=timeout, rate_limit=rate_limit, retries=retries,
                             retry_budget=retry_budget, backoff=backoff, act_as=act_as,
                             roles=self.roles,
                             catalog_ttl=catalog_ttl, changefeed=bool(changefeed),
                             journal=journal, page_concurrency=page_concurrency,
                             max_pages=max_pages, request_timeout=request_timeout,
                             max_answer_bytes=max_answer_bytes)
        self.changefeed = bool(changefeed)  # False: waits and live views never open the feed
        for option, value in (("page_concurrency", page_concurrency), ("max_pages", max_pages)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInputError(f"{option} must be a whole number >= 1, not {value!r}")
        if rate_limit is True:
            limiter = shared_limiter(self.url, account)  # CloudAPI throttles the signing login
        elif isinstance(rate_limit, RateLimiter):
            limiter = rate_limit
        elif rate_limit:
            limiter = RateLimiter(rate=float(rate_limit))
        else:
            limiter = None
        self.transport = Transport(
            self.url, HTTPSignatureAuth(signer, account, user=user), verify=not insecure,
            timeout=timeout, limiter=limiter, retries=retries, retry_budget=retry_budget,
            backoff=backoff, request_timeout=request_timeout, max_answer_bytes=max_answer_bytes,
            params={"as-role": ",".join(self.roles)} if self.roles else None,
            page_concurrency=page_concurrency, max_pages=max_pages)
        self._lock = threading.Lock()
        self._packages: dict[str, dict] = {}
        self._images: dict[str, dict] = {}
        self._datacenters: dict[str, str] | None = None
        #: packages and images fetched once and reused while fresh (smartdc_nb.catalog)
        self.catalog = Catalog(self, ttl=catalog_ttl)

    # ----------------------------------------------------------------- helpers

    def path(self, *segments: Any) -> str:
        """The absolute request path ``/<login>/<segment>/...`` with each segment encoded."""
        return "/" + "/".join(path_segment(s) for s in (self.login, *segments))

    def request(self, method: str, *segments: Any, params: Mapping[str, Any] | None = None,
                json: Any = None, headers: Mapping[str, str] | None = None) -> Reply:
        """A request to ``/<login>/<segments...>``; returns the :class:`~smartdc_nb.transport.Reply`.

        Every method but GET and HEAD is journalled (intent before, outcome after).
        """
        path = self.path(*segments)

        def send() -> Reply:
            return self.transport.request(method, path, params=params, json=json,
                                          headers=headers)

        if method.upper() in ("GET", "HEAD") or self.journal_setting is False:
            return send()
        return seam.journal_request(self, method.upper(), path, params, json, send)

    def _get(self, *segments: Any, **params: Any) -> Any:
        return self.request("GET", *segments, params=params).data

    # ----------------------------------------------------------------- identity

    def __repr__(self) -> str:
        who = f"{self.account_name}/{self.user}" if self.user else self.account_name
        if self.login != self.account_name:
            who += f" as {self.login}"
        where = f"{self.name} " if self.name else ""
        return f"<DataCenter {where}{who}@{self.url}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DataCenter):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _identity(self) -> tuple:
        return (self.url, self.account_name, self.user, self.login, self.roles)

    def _repr_html_(self) -> str:
        return seam.render_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    @property
    def frames(self):
        """DataFrame views of this datacenter (machines, tags, snapshots, ...): see smartdc_nb.frames."""
        return seam.frames(self)

    def query(self, **filters: Any) -> Any:
        """Machines by filters, split between CloudAPI and pandas, with ``.explain()``:
        see smartdc_nb.frames.query."""
        return seam.query(self, **filters)

    def close(self) -> None:
        """Close the connection pool (the object stays usable; it reconnects)."""
        self.transport.close()

    def changes(self, **options: Any) -> Any:
        """A :class:`~smartdc_nb.changes.ChangeStream` of this datacenter's machine changes
        (CloudAPI's changefeed; options: machine_ids, backoff, poll_interval, keepalive)."""
        from .changes import ChangeStream

        return ChangeStream({self.name or self.url: self}, **options)

    # ----------------------------------------------------------------- account

    def account(self) -> dict:
        """GET /:login — the account record."""
        return self._get()

    def datacenters(self) -> dict[str, str]:
        """GET /:login/datacenters — ``{name: url}`` of every datacenter of this cloud."""
        reply = self.request("GET", "datacenters")
        here = reply.headers.get("Triton-Datacenter-Name")
        result = dict(reply.data or {})
        with self._lock:
            self._datacenters = result
            if self.name is None:
                if here:
                    self.name = here
                else:
                    self.name = next((n for n, u in result.items()
                                      if u.rstrip("/") == self.url), None)
        return result

    def datacenter(self, name: str) -> DataCenter:
        """A DataCenter for datacenter ``name`` of the same cloud, with the same credentials."""
        known = self._datacenters if self._datacenters is not None else self.datacenters()
        if name not in known:
            raise InvalidInputError(
                f"no datacenter named {name!r} in this cloud; it has: {', '.join(sorted(known))}")
        if known[name].rstrip("/") == self.url:
            self.name = self.name or name
            return self
        return self.clone(url=known[name], name=name)

    def clone(self, **changes: Any) -> DataCenter:
        """A new DataCenter with the same credentials and options, some changed."""
        args: dict[str, Any] = dict(url=self.url, account=self.account_name, user=self.user,
                                    name=self.name, insecure=self.insecure, signer=self.signer,
                                    profile=self.profile, **self._options)
        args.update(changes)
        return DataCenter(**args)

    def keys(self) -> list[dict]:
        """GET /:login/keys — the account's SSH public keys."""
        return self._get("keys")

    def key(self, name_or_fingerprint: str) -> dict:
        """GET /:login/keys/:key — one key by name or MD5 fingerprint."""
        return self._get("keys", name_or_fingerprint)

    def services(self) -> dict[str, str]:
        """GET /:login/services — the service endpoints of this datacenter."""
        return self._get("services")

def connect(profile: str | None = None, **overrides: Any) -> DataCenter:
    """Connect to CloudAPI with a triton CLI profile, environment variables or arguments.

    ``profile`` names a profile (``~/.triton/profiles.d/NAME.json``, ``"env"``
    for TRITON_*/SDC_* variables, or ``"demo"`` for the embedded demo cloud);
    when omitted, TRITON_PROFILE, then the CLI's current profile, then the
    environment are used. Keyword arguments (url, account, key_id, key_path,
    passphrase, user, insecure) override the profile's fields; DataCenter
    options (name, timeout, rate_limit, retries, retry_budget, backoff, catalog_ttl,
    changefeed, page_concurrency, max_pages, request_timeout, max_answer_bytes) pass
    through; ``changefeed=False`` keeps waits and live views on listings (no WebSocket).
    ``journal`` is where mutating requests are recorded (a path; False: off;
    default ``$SMARTDC_NB_JOURNAL`` or the user's state directory).
    """
    from .config import OVERRIDES, load_profile

    options = ("name", "timeout", "rate_limit", "retries", "retry_budget", "backoff", "signer",
               "catalog_ttl", "changefeed", "journal", "page_concurrency", "max_pages",
               "request_timeout", "max_answer_bytes")
    unknown = sorted(set(overrides) - set(options) - set(OVERRIDES))
    if unknown:  # load_profile would name only the profile's fields as accepted
        raise ConfigError(f"connect() got unknown argument(s) {', '.join(unknown)}; it takes the "
                          f"profile's {', '.join(OVERRIDES)} and the DataCenter options "
                          f"{', '.join(options)}")
    dc_options = {k: overrides.pop(k) for k in options if k in overrides}
    prof = load_profile(profile, **overrides)
    dc_options.setdefault("name", prof.datacenter)
    return DataCenter(
        prof.url, prof.account, prof.key_id, key_path=prof.key_path, passphrase=prof.passphrase,
        user=prof.user, act_as=prof.act_as, roles=prof.roles, insecure=prof.insecure,
        profile=prof, **dc_options)

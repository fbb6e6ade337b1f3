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
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from . import seam
from .catalog import CATALOG_TTL, Catalog
from .errors import InvalidInputError, NotFoundError, PagingError, SmartDCError
from .limits import DEFAULT_MAX_ANSWER_BYTES, DEFAULT_REQUEST_TIMEOUT
from .paging import MAX_PAGES, PAGE_CONCURRENCY
from .ratelimit import RateLimiter, shared_limiter
from .resources.machine import Machine
from .resources.validate import (MACHINE_NAME_MAX, MACHINE_NAME_RE, UUID_RE,  # noqa: F401
                                 is_uuid, read_script, validate_machine_name, validate_values)
from .transport import DEFAULT_TIMEOUT, Reply, Transport, path_segment

if TYPE_CHECKING:
    from .config import Profile
    from .machinelist import MachineList

log = logging.getLogger(__name__)

#: ``state`` values ListMachines accepts as a filter (cloudapi.md §4.3).
LIST_STATE_FILTERS = ("provisioning", "stopping", "active", "running", "stopped", "unknown",
                      "destroyed")
#: Query parameters ListMachines understands, besides ``tag.KEY``.
MACHINE_FILTERS = ("name", "image", "state", "memory", "brand", "type", "docker", "tombstone",
                   "credentials")


def _ref(value: Any, what: str) -> str:
    """The id (or name) of a package/image/network given as a dict, object or string."""
    if isinstance(value, Mapping):
        ref = value.get("id") or value.get("name")
    else:
        ref = getattr(value, "id", value)
    if not isinstance(ref, str) or not ref:
        raise InvalidInputError(f"{what} must be an id, a name or a {what} dict, not {value!r}")
    return ref


class DataCenter:
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
        (CloudAPI's changefeed; options: machine_ids, backoff, poll_interval)."""
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

    # ----------------------------------------------------------------- catalog

    def packages(self, **filters: Any) -> list[dict]:
        """GET /:login/packages — packages, filtered server-side (name, memory, disk, vcpus, ...)."""
        packages = self._get("packages", **filters) or []
        self._remember(self._packages, packages)
        if not filters:
            self.catalog._learn("packages", packages)
        return packages

    def package(self, id_or_name: str) -> dict:
        """GET /:login/packages/:id — one package by UUID or name (the highest version)."""
        package = self._get("packages", _ref(id_or_name, "package"))
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
        ref = _ref(id_or_name, "image")
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

    # ----------------------------------------------------------------- machines

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
        return self.transport.paginate(self.path("machines"), self.machine_filters(filters),
                                       concurrency=page_concurrency)

    def raw_machines(self, **filters: Any) -> list[dict]:
        """Every machine matching ``filters`` as CloudAPI's dicts (all pages)."""
        return [m for page in self.iter_machine_pages(**filters) for m in page]

    def machines(self, **filters: Any) -> MachineList:
        """GET /:login/machines — every matching machine (all pages) as Machine objects.

        Filters: name, image, state, memory, brand, type, docker, tombstone,
        credentials, and ``tags={"key": "value", ...}``.
        """
        from .machinelist import MachineList

        machines = MachineList(Machine(self, data=m) for m in self.raw_machines(**filters))
        self.images_for_cards()
        return machines

    def num_machines(self, **filters: Any) -> int:
        """How many machines match ``filters`` (HEAD requests: no bodies are transferred)."""
        params = self.machine_filters(filters)
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
            "server says every page is full. Raise DataCenter(max_pages=...) if the fleet "
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
        found = [m for m in self.raw_machines(name=id_or_name) if m.get("name") == id_or_name]
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
        body: dict[str, Any] = {"package": _ref(package, "package")}
        image_ref = _ref(image, "image")
        body["image"] = image_ref if is_uuid(image_ref) else self.image(image_ref)["id"]
        if name is not None:
            body["name"] = validate_machine_name(name)
        if networks is not None:
            if isinstance(networks, (str, Mapping)):
                networks = [networks]
            body["networks"] = [n if isinstance(n, Mapping) and "ipv4_uuid" in n
                                else _ref(n, "network") for n in networks]
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
    from .config import load_profile

    dc_options = {k: overrides.pop(k) for k in
                  ("name", "timeout", "rate_limit", "retries", "retry_budget", "backoff", "signer",
                   "catalog_ttl", "changefeed", "journal", "page_concurrency", "max_pages",
                   "request_timeout", "max_answer_bytes")
                  if k in overrides}
    prof = load_profile(profile, **overrides)
    dc_options.setdefault("name", prof.datacenter)
    return DataCenter(
        prof.url, prof.account, prof.key_id, key_path=prof.key_path, passphrase=prof.passphrase,
        user=prof.user, act_as=prof.act_as, roles=prof.roles, insecure=prof.insecure,
        profile=prof, **dc_options)

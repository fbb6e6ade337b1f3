"""The exception hierarchy of smartdc_nb.

Everything the toolkit raises on purpose derives from :class:`SmartDCError`.
Errors from CloudAPI are :class:`APIError` subclasses chosen by the body's
``code`` first and the HTTP status second, and carry the status, code, message,
field errors and request id, so a notebook user can see what happened and
quote the request id to an operator.
"""

from __future__ import annotations

from typing import Any


class SmartDCError(Exception):
    """Base class of every error smartdc_nb raises."""


class ConfigError(SmartDCError):
    """A profile, environment variable or connection argument is missing or wrong."""


class AuthError(SmartDCError):
    """A signing key could not be loaded, found or used (before any request)."""


class InvalidInputError(SmartDCError, ValueError):
    """Bad input refused by the client before a request was sent."""


class TransportError(SmartDCError):
    """The request did not get an HTTP answer (connection refused, reset, timeout)."""

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None,
                 maybe_applied: bool = False):
        super().__init__(message)
        self.method = method
        self.path = path
        #: a change (POST, PUT, DELETE) went out and its answer was lost: the cloud may have
        #: applied it
        self.maybe_applied = maybe_applied


class PagingError(SmartDCError):
    """A paged list did not end within its page cap (the server keeps sending new full pages)."""


class RequestTimeoutError(TransportError, TimeoutError):
    """No complete answer within the request's total deadline; ``limit`` names the bound
    (``request_timeout=...`` or the deadline of the wait that made the request)."""

    def __init__(self, message: str, *, limit: str = "", method: str | None = None,
                 path: str | None = None, maybe_applied: bool = False,
                 spent: float | None = None):
        super().__init__(message, method=method, path=path, maybe_applied=maybe_applied)
        self.limit = limit
        #: seconds the request ran before it was cut (None: not known)
        self.spent = spent


class AnswerTooLargeError(TransportError):
    """The decoded answer passed ``max_answer_bytes`` (``limit``); the rest was not read."""

    def __init__(self, message: str, *, limit: int = 0, method: str | None = None,
                 path: str | None = None):
        super().__init__(message, method=method, path=path)
        self.limit = limit


# --------------------------------------------------------------------------- API


class APIError(SmartDCError):
    """CloudAPI answered with an error status.

    Attributes: ``status`` (HTTP status), ``code`` (CloudAPI's ``code`` or None),
    ``message``, ``errors`` (the field errors, a list of dicts), ``request_id``,
    ``method``, ``path`` and ``body`` (the decoded body, or a short text excerpt
    when it was not JSON).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ):
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors or [])
        self.request_id = request_id
        self.method = method
        self.path = path
        self.body = body
        self.retry_after = retry_after
        super().__init__(self._describe())

    def _describe(self) -> str:
        head = f"{self.method} {self.path}: " if self.method and self.path else ""
        code = f" {self.code}" if self.code else ""
        text = f"{head}[{self.status}{code}] {self.message}"
        for err in self.errors:
            field = err.get("field", "?")
            text += f"; {field}: {err.get('message') or err.get('code') or ''}".rstrip()
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class RedirectError(APIError):
    """3xx: CloudAPI does not redirect API calls, so a redirect (from a proxy, a load
    balancer or a wrong URL) is refused, never followed; ``location`` is where it pointed."""

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any):
        self.location = location
        super().__init__(message, **kwargs)


class BadRequestError(APIError):
    """400: the request was malformed (bad header, version, JSON or date)."""


class InvalidCredentialsError(APIError):
    """401: CloudAPI did not accept the signature, key or account."""


class NotAuthorizedError(APIError):
    """403: the account or user may not do this."""


class NotFoundError(APIError):
    """404: the resource (machine, snapshot, tag, metadata key, package, ...) does not exist."""


class MethodNotAllowedError(APIError):
    """405: the path exists but not for this method."""


class ConflictError(APIError):
    """409: CloudAPI refused the request in the resource's current condition."""


class InvalidArgumentError(ConflictError):
    """409 InvalidArgument / MissingParameter / ValidationFailed / InvalidParameters."""


class DeletionProtectedError(ConflictError):
    """409 CannotDestroyMachineError: deletion protection is on."""


class BrandNotSupportedError(ConflictError):
    """409 BrandNotSupported: e.g. snapshots of a kvm machine."""


class GoneError(APIError):
    """410: the resource was deleted (CloudAPI keeps deleted machines as tombstones)."""


class MachineDeletedError(GoneError):
    """410 on a machine: it is deleted. ``body`` holds the tombstone payload."""


class TooManyRequestsError(APIError):
    """429: CloudAPI throttled the account and the retry budget ran out."""


class ServerError(APIError):
    """5xx: CloudAPI or something in front of it failed."""


class ServiceUnavailableError(ServerError):
    """503: the datacenter is in maintenance or overloaded."""


_BY_CODE: dict[str, type[APIError]] = {
    "ResourceNotFound": NotFoundError,
    "InvalidArgument": InvalidArgumentError,
    "MissingParameter": InvalidArgumentError,
    "ValidationFailed": InvalidArgumentError,
    "InvalidParameters": InvalidArgumentError,
    "CannotDestroyMachineError": DeletionProtectedError,
    "BrandNotSupported": BrandNotSupportedError,
    "InvalidCredentials": InvalidCredentialsError,
    "NotAuthorized": NotAuthorizedError,
    "TooManyRequestsError": TooManyRequestsError,
    "RequestThrottled": TooManyRequestsError,
    "ServiceUnavailableError": ServiceUnavailableError,
}

_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: InvalidCredentialsError,
    403: NotAuthorizedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    410: GoneError,
    429: TooManyRequestsError,
    503: ServiceUnavailableError,
}


def api_error_class(status: int, code: str | None) -> type[APIError]:
    """The APIError subclass for a CloudAPI error: by code, then by status."""
    cls = _BY_CODE.get(code or "")
    if cls is not None:
        return cls
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    return ServerError if status >= 500 else APIError


# ------------------------------------------------------------------------- waits


class WaitError(SmartDCError):
    """A wait ended without reaching its target.

    ``resource`` is what was awaited (a Machine or Snapshot), ``targets`` the
    awaited states, ``last_state`` the last state seen, ``elapsed`` seconds
    waited, ``history`` the ``(time, state)`` changes seen during the wait and
    ``audit`` the latest audit entries when they were fetched to explain it.
    A wait on many machines also sets ``result``: the full per-machine
    outcome table (a WaitResult), so nothing seen is lost.
    """

    def __init__(
        self,
        message: str,
        *,
        resource: Any = None,
        targets: tuple[str, ...] = (),
        last_state: str | None = None,
        elapsed: float = 0.0,
        history: list[tuple[Any, str]] | None = None,
        audit: list[dict[str, Any]] | None = None,
        cause: BaseException | None = None,
    ):
        super().__init__(message)
        self.resource = resource
        self.targets = tuple(targets)
        self.last_state = last_state
        self.elapsed = elapsed
        self.history = list(history or [])
        self.audit = list(audit or [])
        self.cause = cause
        self.result: Any = None


class WaitTimeout(WaitError, TimeoutError):
    """The deadline passed before the target state was reached."""


class WaitUnanswered(WaitTimeout):
    """The deadline passed while the cloud was not answering (its last polls got no answer)."""


class WaitFailed(WaitError):
    """The resource reached a failure state, disappeared, or the cloud refused the action."""


class WaitInterrupted(WaitError, KeyboardInterrupt):
    """The wait was interrupted (Ctrl-C); ``last_state`` says where it stood."""


class ActionSkippedWarning(UserWarning):
    """An action was not sent: the machine is already as it asks (stop of a stopped machine)."""


class ReadYourWritesWarning(UserWarning):
    """A read shows a write of the same Machine merged in: the cloud did not show it in time."""


class BulkActionError(SmartDCError):
    """A bulk action finished with failures; ``outcomes`` is the full outcome table."""

    def __init__(self, message: str, outcomes: Any = None):
        super().__init__(message)
        self.outcomes = outcomes


__all__ = [name for name, obj in globals().items()
           if isinstance(obj, type) and issubclass(obj, Exception)] + ["api_error_class"]

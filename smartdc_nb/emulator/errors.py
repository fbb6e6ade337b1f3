"""CloudAPI error responses as exceptions the handlers raise.

Every error leaves the emulator as ``{"code": ..., "message": ...[, "errors": [...]]}``
with the status CloudAPI (restify 4) uses for it; the helpers below carry the
exact codes of cloudapi.md §3.
"""

from __future__ import annotations

from typing import Any


class CloudAPIError(Exception):
    """An error response: HTTP ``status``, CloudAPI ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str, *,
                 errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class Gone(Exception):
    """410 whose body is the deleted machine itself (not an error envelope)."""

    def __init__(self, machine_body: bytes):
        super().__init__("machine is deleted")
        self.machine_body = machine_body


class DropConnection(Exception):
    """Close the client's connection without answering (fault injection)."""


def _error(status: int, code: str):
    def make(message: str) -> CloudAPIError:
        return CloudAPIError(status, code, message)
    make.__doc__ = f"{status} {code} with ``message``."
    return make


not_found = _error(404, "ResourceNotFound")
invalid_argument = _error(409, "InvalidArgument")
missing_parameter = _error(409, "MissingParameter")
invalid_header = _error(400, "InvalidHeader")
invalid_credentials = _error(401, "InvalidCredentials")
not_authorized = _error(403, "NotAuthorized")


def validation_failed(message: str, errors: list[dict[str, Any]]) -> CloudAPIError:
    return CloudAPIError(409, "ValidationFailed", message, errors=errors)


def invalid_field(field: str, message: str, code: str = "Invalid") -> dict[str, str]:
    """One element of a ValidationFailed ``errors`` array (VMAPI's shape)."""
    return {"field": field, "code": code, "message": message}


def internal_error(message: str = "Internal Error") -> CloudAPIError:
    return CloudAPIError(500, "InternalError", message)

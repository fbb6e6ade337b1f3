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


def not_found(message: str) -> CloudAPIError:
    return CloudAPIError(404, "ResourceNotFound", message)


def invalid_argument(message: str) -> CloudAPIError:
    return CloudAPIError(409, "InvalidArgument", message)


def missing_parameter(message: str) -> CloudAPIError:
    return CloudAPIError(409, "MissingParameter", message)


def validation_failed(message: str, errors: list[dict[str, Any]]) -> CloudAPIError:
    return CloudAPIError(409, "ValidationFailed", message, errors=errors)


def invalid_field(field: str, message: str, code: str = "Invalid") -> dict[str, str]:
    """One element of a ValidationFailed ``errors`` array (VMAPI's shape)."""
    return {"field": field, "code": code, "message": message}


def invalid_header(message: str) -> CloudAPIError:
    return CloudAPIError(400, "InvalidHeader", message)


def invalid_credentials(message: str) -> CloudAPIError:
    return CloudAPIError(401, "InvalidCredentials", message)


def not_authorized(message: str) -> CloudAPIError:
    return CloudAPIError(403, "NotAuthorized", message)


def internal_error(message: str = "Internal Error") -> CloudAPIError:
    return CloudAPIError(500, "InternalError", message)

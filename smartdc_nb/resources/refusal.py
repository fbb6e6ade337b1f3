"""A certain refusal of the rules table, raised as the error the server would answer with.

When the rules (smartdc_nb.rules) are sure an action cannot apply (a kvm snapshot,
a deleted machine, deletion protection), or a fresh payload confirms that the
state forbids it (see prechecks), a Machine refuses before sending; the error
is the class CloudAPI's answer maps to (ConflictError for a state), with
``request_id`` None.
"""

from __future__ import annotations

from typing import Any

from .. import rules
from ..errors import (BrandNotSupportedError, ConflictError, DeletionProtectedError,
                      InvalidArgumentError, InvalidInputError, MachineDeletedError,
                      NotFoundError)

#: A certain refusal of the rules as the typed error the server would answer with.
_REFUSALS: dict[str | None, tuple[type, int, str | None]] = {
    "Gone": (MachineDeletedError, 410, None),
    "BrandNotSupported": (BrandNotSupportedError, 409, "BrandNotSupported"),
    "InvalidArgument": (InvalidArgumentError, 409, "InvalidArgument"),
    "CannotDestroyMachineError": (DeletionProtectedError, 409, "CannotDestroyMachineError"),
    "ResourceNotFound": (NotFoundError, 404, "ResourceNotFound"),
}


def refused(verdict: rules.Verdict, machine: Any, method: str) -> Exception:
    """A certain refusal of the rules as the typed error the server's answer would have been."""
    error_class, status, code = _REFUSALS.get(verdict.code, (InvalidInputError, 409, None))
    if not verdict.certain and verdict.code is None:
        # the state forbids it (checked on a fresh payload: prechecks)
        error_class, status, code = ConflictError, 409, None
    as_of = f"as of {machine.fetched_at:%H:%M:%S} UTC"
    if verdict.code == "Gone":  # also delete's "already deleted": nothing can change it
        message = f"machine {machine.label} is deleted ({as_of}); it cannot be changed"
    elif verdict.kind == rules.PROTECTED:
        message = (f"machine {machine.label}: {verdict.reason} ({as_of}; refresh() if it was "
                   "turned off elsewhere)")
    elif not verdict.certain:
        message = f"machine {machine.label}: {verdict.reason} ({as_of})"
    else:
        message = f"machine {machine.label}: {verdict.reason}"
    message += " (refused by smartdc_nb; nothing was sent)"
    if error_class is InvalidInputError:
        return InvalidInputError(message)
    return error_class(message, status=status, code=code, method=method, path=machine.path,
                       body=None)


__all__ = ["refused"]

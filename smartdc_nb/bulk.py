"""Deprecated import path: bulk runs are :mod:`smartdc_nb.operations.bulk` (with
:mod:`~smartdc_nb.operations.actions` and :mod:`~smartdc_nb.operations.outcomes`); the
collections' bulk methods are :mod:`smartdc_nb.resources.bulk_methods`. Every name this
module defined is re-exported here.
"""

from __future__ import annotations

from .errors import BulkActionError, InvalidInputError, WaitInterrupted
from .operations.actions import (
                                 ACTIONS,
                                 TEMPLATE_FIELDS,
                                 Action,
                                 _add_tags_send,
                                 _check_target,
                                 _delete_tags_send,
                                 _expand,
                                 _items_landed,
                                 _mapping,
                                 _named,
                                 _names,
                                 _new_name,
                                 _no_args,
                                 _nothing,
                                 _one_arg,
                                 _package,
                                 _path,
                                 _plan_params,
                                 _replace_tags_send,
                                 _rollback_send,
                                 _rollback_target,
                                 _simple,
                                 _states_target,
                                 _tags_of,
                                 _template,
                                 _template_fields,
)
from .operations.bulk import _check_options, _wait_states, run_bulk
from .operations.runner import Runner as _Runner  # noqa: F401  (the old private name)
from .operations.runner import _wait_target
from .operations.outcomes import (
                                 DONE,
                                 FAILED,
                                 NOT_REACHED,
                                 OUTCOMES,
                                 PLANNED,
                                 SKIPPED,
                                 BulkInterrupted,
                                 BulkResult,
                                 Outcome,
                                 _first_line,
)
from .resources.bulk_methods import BulkActions

__all__ = ["run_bulk", "BulkActions", "BulkResult", "BulkInterrupted", "Outcome", "ACTIONS",
           "DONE", "FAILED", "SKIPPED", "NOT_REACHED", "PLANNED", "OUTCOMES"]

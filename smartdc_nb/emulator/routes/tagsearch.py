"""VMAPI's tag search, which ListMachines' ``tag.KEY=VALUE`` filters become.

VMAPI keeps a machine's tags as one string, ``-key=value-key=value-`` (``-`` and ``=``
escaped, booleans as ``%b{true}``, numbers as ``%n{5}``: sdc-vmapi lib/common/vm-common.js
objectToTagFormat) and searches it with the LDAP substring filter ``(tags=*-KEY=VALUE-*)``
(lib/apis/moray.js _addTagsFilter), leaving any ``*`` of the value a wildcard:
``tag.role=*`` is any machine with a ``role`` tag and ``tag.role=web*`` a prefix match.
A value reading ``true``/``false`` or a number also matches the boolean or number.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

#: what JavaScript's Number() reads as a number (VMAPI tests ``!isNaN(Number(value))``)
_JS_NUMBER = re.compile(r"[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|Infinity)"
                        r"|0x[0-9a-f]+|0b[01]+|0o[0-7]+", re.I)


def _escaped(text: str) -> str:
    return text.replace("-", "%2D").replace("=", "%3D")


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))  # JavaScript prints 5.0 as 5
    return str(value)


def tag_string(tags: Mapping[str, Any]) -> str:
    """A machine's tags as VMAPI stores them for searching."""
    parts = []
    for key, value in tags.items():
        if isinstance(value, bool):
            value = "%b{" + str(value).lower() + "}"
        elif isinstance(value, (int, float)):
            value = "%n{" + _number_text(value) + "}"
        parts.append(_escaped(str(key)) + "=" + _escaped(str(value)))
    return "-" + "-".join(parts) + "-"


def _like(pattern: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in pattern), re.S)


def tag_matcher(key: str, value: Any) -> Callable[[str], bool]:
    """Whether a machine's :func:`tag_string` passes the filter ``tag.KEY=VALUE``."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    key = key.replace("-", "%2D")  # VMAPI escapes the key's "-" only
    if text in ("true", "false") or _JS_NUMBER.fullmatch(text.strip()):
        typed = "%b{" if text in ("true", "false") else "%n{"
        patterns = [f"*-{key}={typed}{text}}}-*", f"*-{key}={text}-*"]
    else:
        patterns = [f"*-{key}={text.replace('-', '%2D')}-*"]
    compiled = [_like(p) for p in patterns]
    return lambda stored: any(p.fullmatch(stored) for p in compiled)

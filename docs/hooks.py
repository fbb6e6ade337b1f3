"""MkDocs hook: the docstrings' Sphinx roles (``:class:`~pkg.Name```) read as code, not as raw roles.

mkdocstrings renders docstrings as Markdown, where a role is plain text before a code span;
a leading ``~`` means "show the last part of the name", as in Sphinx.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj):<code>(~?)([^<]*)</code>")


def _code(match: re.Match) -> str:
    name = match.group(2).rsplit(".", 1)[-1] if match.group(1) else match.group(2)
    return f"<code>{name}</code>"


def on_page_content(html: str, **_kwargs) -> str:
    return _ROLE.sub(_code, html)

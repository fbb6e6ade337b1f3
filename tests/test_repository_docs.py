"""The Markdown a user or contributor reads in a clone names only files that are in it."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The repository's own Markdown (docs/ is the site's, whose links to the pages it generates
#: `mkdocs build --strict` checks).
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "benchmarks").glob("*.md")),
        *sorted((REPO / "binder").glob("*.md"))]
#: A relative path in a link target or in backticks: ``../x``, ``./x``, ``dir/file.ext``.
PATH = re.compile(r"\]\((?!https?:|#|mailto:)([^)\s#]+)|`(\.{1,2}/[^`\s]+)`")


def test_every_relative_path_the_docs_name_is_in_the_repository():
    """CONTRIBUTING.md sent contributors to ``../shared/ARCHITECTURE.md``, a file beside the
    project's own checkout that no clone has."""
    outside = []
    for doc in DOCS:
        for match in PATH.finditer(doc.read_text()):
            target = (doc.parent / (match.group(1) or match.group(2))).resolve()
            if not target.is_relative_to(REPO) or not target.exists():
                outside.append(f"{doc.relative_to(REPO)}: {match.group(0)}")
    assert outside == []

"""This checkout's sources copied to a tmp dir, for the tests that build the package.

pip builds a package in its source tree (``build/``, ``*.egg-info``): two builds at once
(pytest-xdist runs the wheel and Binder tests side by side) collided there ("File exists"),
files left in ``build/lib`` by an older checkout could end up in a wheel, and tests must not
write into the repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: what a build does not read: caches, virtual environments, earlier builds, npm's modules
IGNORED = shutil.ignore_patterns(".git", ".venv*", "node_modules", "build", "dist", "*.egg-info",
                                 "__pycache__", ".*_cache", "artifacts", "screenshots")


def repo_copy(destination: Path) -> Path:
    """Copy the sources to ``destination`` (symlinks kept as links); returns it."""
    shutil.copytree(REPO, destination, ignore=IGNORED, symlinks=True)
    return destination

"""The Python examples of the README and the docs run as written.

A user's first contact is the README's example, pasted into a notebook: each example that
needs no real cloud is run here, whole, in a process of its own (the demo cloud it starts, or
an Emulator), so a renamed method or a changed argument breaks this test, not the user.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smartdc_nb.emulator.testing import make_keys

REPO = Path(__file__).resolve().parent.parent

# real processes: a demo cloud per example
pytestmark = pytest.mark.slow


def examples(page: str) -> list[str]:
    """The ```python blocks of ``page`` (a path from the repository's root)."""
    return re.findall(r"```python\n(.*?)```", (REPO / page).read_text(), re.S)


def run(code: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_the_first_example_runs_against_the_demo_cloud(page, demo_env, tmp_path):
    first = examples(page)[0]
    assert 'connect("demo")' in first, first
    done = run(first + '\nprint("example ran")\n', demo_env, tmp_path)
    assert done.returncode == 0 and "example ran" in done.stdout, done.stderr[-3000:]


def test_the_emulator_example_runs_with_a_key_of_ones_own(tmp_path, demo_env):
    example = next(code for code in examples("docs/emulator.md") if "Emulator(" in code)
    key = make_keys(tmp_path / "keys")["ed25519"]
    shutil.copy(key.private, tmp_path / "id_ed25519")
    shutil.copy(key.public, tmp_path / "id_ed25519.pub")
    done = run(example, demo_env, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "running" in done.stdout, done.stdout[-2000:]

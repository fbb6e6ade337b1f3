"""Build the documentation site: ``python docs/build.py [--skip-runbooks] [--serve]`` (``./dev docs``).

1. The API reference pages (``docs/api/``) are written from the package's own list of public
   names (``smartdc_nb.__all__`` and the modules its lazy loader names), so a name that moves
   to another module moves in the docs too, and a name that no longer exists fails the build.
2. Every packaged runbook is executed against a fresh embedded demo cloud with
   ``smartdc-nb run`` and the executed notebook goes to ``docs/runbooks/`` (rendered with its
   outputs by mkdocs-jupyter).
3. ``mkdocs build --strict``: a broken link or reference is an error, not a warning.

Both generated folders are rebuilt on every run and are not committed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
SITE = REPO / "build" / "site"

#: modules documented whole, besides the ones the public names live in
EXTRA_MODULES = {
    "smartdc_nb.emulator": ["Emulator"],
    "smartdc_nb.emulator.testing": None,  # the pytest plugin: its docstring lists the fixtures
}


def public_names() -> dict[str, list[str]]:
    """``{module: [public names defined there]}`` from the package's lazy-import table."""
    sys.path.insert(0, str(REPO))
    import smartdc_nb

    modules: dict[str, list[str]] = defaultdict(list)
    for name in smartdc_nb.__all__:
        if name.startswith("_"):
            continue
        value = getattr(smartdc_nb, name)  # imports it: a stale entry fails here
        module = getattr(value, "__module__", None) or "smartdc_nb"
        modules[module].append(name)
    return dict(sorted(modules.items()))


def write_api_pages() -> None:
    api = DOCS / "api"
    shutil.rmtree(api, ignore_errors=True)
    api.mkdir()
    pages = {**public_names(), **EXTRA_MODULES}
    index = ["# API reference", "",
             "Every public name of `smartdc_nb`, by the module that defines it "
             "(import them all from `smartdc_nb` itself).", ""]
    for module, names in pages.items():
        lines = [f"# `{module}`", ""]
        if names is None:
            lines.append(f"::: {module}")
        else:
            lines += [f"::: {module}", "    options:", "      members: false",
                      "      show_root_heading: false", ""]
            for name in names:
                lines += [f"::: {module}.{name}", ""]
        (api / f"{module}.md").write_text("\n".join(lines) + "\n")
        shown = ", ".join(f"`{n}`" for n in names) if names else "the pytest fixtures"
        index.append(f"- [`{module}`]({module}.md): {shown}")
    (api / "index.md").write_text("\n".join(index) + "\n")


def run_runbooks() -> None:
    """Execute each packaged runbook on a new demo cloud; outputs into docs/runbooks/."""
    from smartdc_nb.runbook.library import packaged

    out = DOCS / "runbooks"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    with tempfile.TemporaryDirectory(prefix="smartdc_nb-docs-") as scratch:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TRITON_", "SDC_", "SMARTDC_NB_DEMO_"))}
        # a demo cloud, a journal and a history of the docs' own: nothing of the user's
        env.update(SMARTDC_NB_DEMO_DIR=f"{scratch}/demo", SMARTDC_NB_DEMO_SPEED="20",
                   SMARTDC_NB_JOURNAL=f"{scratch}/journal.jsonl", XDG_DATA_HOME=f"{scratch}/data",
                   XDG_STATE_HOME=f"{scratch}/state", PYTHONPATH=str(REPO))
        # the demo cloud at 20x finishes a job in 0.1-0.5 s: waits that start polling at the
        # users' 2 s would spend most of the build asleep (a user's demo keeps the 2 s)
        env.setdefault("SMARTDC_NB_WAIT_INTERVAL", "0.2")
        for path in packaged().values():
            print(f"docs: running {path.name} on the demo cloud", flush=True)
            subprocess.run([sys.executable, "-m", "smartdc_nb.cli", "run", str(path), "-q",
                            "-o", str(out / path.name)], cwd=scratch, env=env, check=True,
                           stdin=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-runbooks", action="store_true",
                        help="keep docs/runbooks as it is (faster, for editing the pages)")
    parser.add_argument("--serve", action="store_true", help="serve the site (mkdocs serve)")
    args = parser.parse_args()
    write_api_pages()
    if not args.skip_runbooks or not (DOCS / "runbooks").is_dir():
        run_runbooks()
    command = ["serve"] if args.serve else ["build", "--strict", "--site-dir", str(SITE)]
    return subprocess.run([sys.executable, "-m", "mkdocs", *command, "-f",
                           str(REPO / "mkdocs.yml")], cwd=REPO).returncode


if __name__ == "__main__":
    sys.exit(main())

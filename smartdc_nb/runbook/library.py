"""The runbooks that ship with the package, by short name, and working copies of them.

The notebooks are package data (``smartdc_nb/notebooks``; in a checkout,
``notebooks/`` at the repository root links there), so a ``pip install`` user
has them too. ``smartdc-nb notebooks [DIR]`` copies them out;
``smartdc-nb demo`` outside a checkout opens a working copy in
:func:`default_copy_dir`; ``smartdc-nb run NAME`` takes a short name such as
``fleet-overview`` as well as a path. An existing copy is never overwritten
without asking: a file that differs from the packaged one is kept, and the
command says so and how to replace it.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import sys
from pathlib import Path

PACKAGED = Path(__file__).resolve().parent.parent / "notebooks"
COPY_ENV = "SMARTDC_NB_NOTEBOOKS"
_NUMBERED = re.compile(r"^\d+-(?P<name>.+)\.ipynb$")


def packaged() -> dict[str, Path]:
    """The packaged runbooks: ``{short name: path}`` in their order (``fleet-overview``: ``01-...``)."""
    found = {}
    for path in sorted(PACKAGED.glob("*.ipynb")):
        if path.name.endswith(".out.ipynb"):
            continue
        match = _NUMBERED.match(path.name)
        found[match.group("name") if match else path.stem] = path
    return found


def resolve(name_or_path: str) -> Path | None:
    """A notebook path: the file itself when it exists, else the packaged runbook of that short name.

    The short name may be given with or without its number and ``.ipynb``
    (``fleet-overview``, ``01-fleet-overview``, ``01-fleet-overview.ipynb``).
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if os.sep in name_or_path or "/" in name_or_path:
        return None
    for short, packaged_path in packaged().items():
        if name_or_path in (short, packaged_path.stem, packaged_path.name):
            return packaged_path
    return None


def default_copy_dir() -> Path:
    """Where ``smartdc-nb demo`` keeps the user's working copy: ``$SMARTDC_NB_NOTEBOOKS``, else
    ``smartdc_nb-runbooks`` in the user's documents folder (platformdirs)."""
    if os.environ.get(COPY_ENV):
        return Path(os.environ[COPY_ENV]).expanduser()
    from platformdirs import user_documents_dir

    return Path(user_documents_dir()) / "smartdc_nb-runbooks"


def in_checkout() -> bool:
    """Whether the package runs from a source checkout (whose ``notebooks/`` are the packaged ones)."""
    root_link = PACKAGED.parent.parent / "notebooks"
    return root_link.is_dir() and root_link.resolve() == PACKAGED


def copy_out(target: Path, *, overwrite: bool = False, ask: bool | None = None,
             say=print) -> dict[str, list[str]]:
    """Copy the packaged runbooks (and their data files) into ``target``; never overwrite silently.

    Returns ``{"copied": [...], "same": [...], "kept": [...], "replaced": [...]}``
    (file names). A file that exists and differs is kept unless ``overwrite``
    is true or, when ``ask`` (default: standard input is a terminal), the user
    answers yes.
    """
    if ask is None:
        ask = sys.stdin is not None and sys.stdin.isatty()
    target.mkdir(parents=True, exist_ok=True)
    result: dict[str, list[str]] = {"copied": [], "same": [], "kept": [], "replaced": []}
    files = [p for p in sorted(PACKAGED.iterdir())
             if p.suffix in (".ipynb", ".csv") and not p.name.endswith(".out.ipynb")]
    for source in files:
        dest = target / source.name
        if not dest.exists():
            shutil.copyfile(source, dest)
            result["copied"].append(source.name)
        elif filecmp.cmp(source, dest, shallow=False):
            result["same"].append(source.name)
        elif overwrite or (ask and _yes(f"{dest} differs from this version's runbook; replace it? [y/N] ")):
            shutil.copyfile(source, dest)
            result["replaced"].append(source.name)
        else:
            result["kept"].append(source.name)
    if result["kept"]:
        say(f"kept your edited {', '.join(result['kept'])} in {target} (this version ships a "
            f"different one; `smartdc-nb notebooks {target} --overwrite` replaces them)")
    return result


def _yes(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


# ------------------------------------------------------------ smartdc-nb notebooks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", nargs="?", metavar="DIR",
                        help=f"where to copy them (default: ${COPY_ENV}, else "
                             "smartdc_nb-runbooks in your documents folder)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace files that differ from this version's runbooks")
    parser.add_argument("--list", action="store_true", help="list the runbooks by name, and exit")


def run(args: argparse.Namespace) -> int:
    """Copy the runbooks out (or list them); 0 on success."""
    if args.list:
        for short, path in packaged().items():
            print(f"{short:<20} {path.name}")
        return 0
    target = Path(args.directory).expanduser() if args.directory else default_copy_dir()
    if target.exists() and not target.is_dir():  # mkdir's "File exists" would not say which
        print(f"smartdc-nb notebooks: {target} is a file, not a folder; give a folder to copy "
              "the runbooks into (made if need be)", file=sys.stderr)
        return 2
    try:
        result = copy_out(target, overwrite=args.overwrite,
                          say=lambda text: print(f"smartdc-nb notebooks: {text}", file=sys.stderr))
    except OSError as exc:
        print(f"smartdc-nb notebooks: cannot write to {target}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    done = len(result["copied"]) + len(result["replaced"])
    print(f"{done} runbook file(s) copied to {target}"
          + (f", {len(result['same'])} already up to date" if result["same"] else ""))
    return 0

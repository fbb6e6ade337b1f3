"""``python -m smartdc_nb.emulator``: the same as ``smartdc-nb emulator``."""

from __future__ import annotations

import argparse
import sys

from .cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartdc_nb.emulator",
                                     description="Run the local Triton CloudAPI emulator.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Print pip constraints that pin every runtime dependency to the lowest version pyproject claims.

``pandas>=3.0`` becomes ``pandas==3.0``: `./dev lowest` installs the package with these and
runs the client's tests, so a floor in pyproject.toml is a version CI has run, not a guess.
"""

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
for line in project["project"]["dependencies"]:
    requirement = Requirement(line)
    floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
    if not floors:
        sys.exit(f"{line}: every runtime dependency needs a >= floor for the lowest-versions run")
    print(f"{requirement.name}=={floors[0]}")

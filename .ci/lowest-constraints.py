"""Print pip constraints that pin every runtime dependency to the lowest version pyproject claims.

``pandas>=3.0; python_version >= '3.11'`` becomes ``pandas==3.0; python_version >= "3.11"``:
a requirement's environment marker stays on its pin, so pip applies the floors of the Python
that `./dev lowest` runs on (pandas 2.3 on 3.10). It installs the package with these and runs
the client's tests, so a floor in pyproject.toml is a version CI has run, not a guess.
"""

import sys
from pathlib import Path

from packaging.requirements import Requirement

try:
    import tomllib
except ImportError:  # Python 3.10: the backport (in the test extra there)
    import tomli as tomllib

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
for line in project["project"]["dependencies"]:
    requirement = Requirement(line)
    floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
    if not floors:
        sys.exit(f"{line}: every runtime dependency needs a >= floor for the lowest-versions run")
    marker = f"; {requirement.marker}" if requirement.marker else ""
    print(f"{requirement.name}=={floors[0]}{marker}")

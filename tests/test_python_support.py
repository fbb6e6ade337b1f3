"""pyproject.toml's promises hold together: every Python that ``requires-python`` admits gets a
pandas that supports it (``pip install smartdc_nb`` resolves there), and `./dev lowest` pins the
floors that Python would get."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from smartdc_nb import Fleet, pandas_text

try:
    import tomllib
except ImportError:  # Python 3.10: the backport, a test dependency there
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
# The Pythons each pandas line supports, from each release's own Requires-Python (PyPI):
# 2.3 is the last line for Python 3.10; 3.0 needs 3.11. The installed line is checked below.
PANDAS_LINES = {"2.3": ">=3.9", "3.0": ">=3.11", "3.1": ">=3.11"}
NEWEST_PYTHON = 14  # 3.14: the newest Python either line has wheels for


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def pythons_claimed() -> list[str]:
    claimed = SpecifierSet(project()["requires-python"])
    pythons = [f"3.{minor}" for minor in range(8, NEWEST_PYTHON + 1)]
    return [python for python in pythons if claimed.contains(f"{python}.0")]


def requirements_for(name: str, python: str) -> list[Requirement]:
    environment = {"python_version": python, "python_full_version": f"{python}.0"}
    found = [Requirement(line) for line in project()["dependencies"]]
    return [r for r in found if r.name == name and (r.marker is None or r.marker.evaluate(environment))]


def test_the_table_of_pandas_lines_agrees_with_the_installed_pandas():
    line = ".".join(pd.__version__.split(".")[:2])
    assert line in PANDAS_LINES, f"pandas {pd.__version__}: add its line to PANDAS_LINES"
    assert importlib.metadata.metadata("pandas")["Requires-Python"] == PANDAS_LINES[line]


def test_every_python_requires_python_admits_gets_one_pandas_that_supports_it():
    assert pythons_claimed()[0] == "3.10"
    for python in pythons_claimed():
        requirements = requirements_for("pandas", python)
        assert len(requirements) == 1, f"Python {python}: pandas requirements {requirements}"
        admitted = [line for line, pythons in PANDAS_LINES.items()
                    if requirements[0].specifier.contains(f"{line}.0")
                    and SpecifierSet(pythons).contains(f"{python}.0")]
        assert admitted, f"Python {python}: {requirements[0]} admits no pandas that supports it"
    # pandas 3 wherever it can run: its dtypes are the frames' reference
    assert requirements_for("pandas", "3.11")[0].specifier.contains("3.0.0")
    assert not requirements_for("pandas", "3.10")[0].specifier.contains("3.0.0")


def test_lowest_pins_the_floors_for_the_python_it_runs_on():
    out = subprocess.run([sys.executable, str(REPO / ".ci" / "lowest-constraints.py")],
                         capture_output=True, text=True, check=True).stdout
    pins = [Requirement(line) for line in out.splitlines()]
    for python, want in (("3.10", "2.3"), ("3.11", "3.0")):
        environment = {"python_version": python, "python_full_version": f"{python}.0"}
        pandas = [r for r in pins if r.name == "pandas" and (r.marker is None or r.marker.evaluate(environment))]
        assert [str(r.specifier) for r in pandas] == [f"=={want}"], (python, out)
    assert all(Version(str(r.specifier)[2:]) for r in pins)  # one exact version each


def test_the_text_dtype_is_pandas_3s_str_and_the_users_options_stay_as_they_were(dc):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 deprecates reading the option
        inference = pd.get_option("future.infer_string")
    dtype = pandas_text.text()
    assert str(dtype) == "str" and dtype.na_value is np.nan
    if Version(pd.__version__).major >= 3:
        assert dtype == pd.api.types.pandas_dtype("str")
    else:  # pandas 2.3: "str" is numpy text there, so the frames never hand it to pandas
        assert pd.api.types.pandas_dtype("str") != dtype
    # the typed frames came from the package: pandas' own inference is the user's, untouched
    assert Fleet(dc).frames.machines().triton.verdicts("stop")["state"].dtype == dtype
    assert pandas_text.dtypes({"a": "str", "b": "string"}) == {"a": dtype, "b": "string"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert pd.get_option("future.infer_string") == inference
    assert pd.DataFrame({"a": ["x"]})["a"].dtype == (dtype if inference else object)

"""The frames' text dtype, the same on both pandas lines the package runs on.

pandas 3 (Python >= 3.11) calls it ``str``: its default string dtype (Arrow-backed when pyarrow
is installed, NaN as the missing value). pandas 2.3 (Python 3.10) has that very dtype as
``StringDtype(na_value=nan)``, but there ``"str"`` means numpy text, stored as ``object``, and a
text column is inferred as ``object``. So the frames never write ``"str"`` to pandas: they name
the dtype through :func:`text` (or :func:`dtypes`). The pandas option that would make 2.3 infer
``str`` (``future.infer_string``) is the user's, and is left alone.

pandas is imported when one of these is called, not when this module loads.
"""

from __future__ import annotations

from typing import Any, Mapping


def text() -> Any:
    """pandas 3's ``str`` dtype, on pandas 3 and 2.3 alike."""
    import numpy as np
    import pandas as pd

    return pd.StringDtype(na_value=np.nan)


def dtypes(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``mapping`` (column -> dtype, as ``astype`` takes) with ``"str"`` as :func:`text`."""
    found = text()
    return {name: found if dtype == "str" else dtype for name, dtype in mapping.items()}

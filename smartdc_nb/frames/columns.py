"""Column converters: Python lists from CloudAPI's JSON to typed pandas arrays.

Every frame column is built with an explicit dtype, so an empty frame has the
same dtypes as a full one and a missing value is ``<NA>``/``NaT`` in a
nullable dtype rather than a silent change to ``object`` or ``float``. Each
converter has a fast path for what CloudAPI sends and a slow path that turns
a value of the wrong type into a missing value instead of failing the frame.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..pandas_text import text
from ..resources.values import split_ips as classify
# the state columns' categories: the states CloudAPI reports, as the rules table lists them
from ..rules import MACHINE_STATES, SNAPSHOT_STATES  # noqa: F401

try:  # pandas' own C reader of a list of dicts, the one DataFrame.from_records uses
    from pandas._libs.lib import dicts_to_array as _dicts_to_array
except ImportError:  # pragma: no cover - a pandas without it: the same, in Python
    _dicts_to_array = None

TIME_DTYPE = "datetime64[ns, UTC]"
AGE_DTYPE = "timedelta64[ns]"


#: Python-backed strings: the frame shares the payloads' str objects (kept for the
#: accessor anyway) instead of copying every byte into Arrow buffers.
STRING_DTYPE = pd.StringDtype("python")


def fields(records: Sequence[dict], keys: Sequence[str]) -> dict[str, np.ndarray]:
    """``{key: object array of each record's value}``, read in one pass (no record is copied).

    A missing key reads as NaN, which every converter here takes as a missing
    value. Reading all columns in one C pass is what makes a 100,000-machine
    frame cost about what ``DataFrame.from_records`` does.
    """
    if _dicts_to_array is not None and records:
        records = records if isinstance(records, list) else list(records)
        # The records' own key objects where the first record has them: a decoder gives every
        # record the same key objects, and a lookup with the very object skips comparing text
        own = {key: key for key in records[0]} if isinstance(records[0], dict) else {}
        table = _dicts_to_array(records, [own.get(key, key) for key in keys])
        return {key: table[:, i] for i, key in enumerate(keys)}  # views: no copy
    out = {}
    for key in keys:
        column = np.empty(len(records), dtype=object)
        for i, record in enumerate(records):
            column[i] = record.get(key, np.nan)
        out[key] = column
    return out


def strings(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """A ``string`` array; None is <NA>, other non-strings become their text."""
    return pd.array(values, dtype=STRING_DTYPE)


def ints(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """An ``Int64`` array; anything but an integer is <NA>."""
    if isinstance(values, np.ndarray) and values.dtype == object and len(values):
        # the usual column: integers and missing values only (checked in C, converted whole)
        if pd.api.types.infer_dtype(values, skipna=True) == "integer":
            missing = pd.isna(values)
            data = np.where(missing, 0, values).astype(np.int64)
            return pd.arrays.IntegerArray(data, missing)
    try:
        return pd.array(values, dtype="Int64")
    except (TypeError, ValueError):
        return pd.array([v if isinstance(v, int) and not isinstance(v, bool) else None
                         for v in values], dtype="Int64")


def bools(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """A ``boolean`` array; anything but True/False is <NA>."""
    try:
        return pd.array(values, dtype="boolean")
    except (TypeError, ValueError):
        return pd.array([v if isinstance(v, bool) else None for v in values], dtype="boolean")


def times(values: Sequence[Any]) -> pd.Series:
    """UTC datetimes from ISO-8601 text; a missing or unreadable value is NaT."""
    parsed = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601",
                            errors="coerce")
    return parsed.astype(TIME_DTYPE)


def categories(values: Sequence[Any], known: Sequence[str]) -> pd.Categorical:
    """A categorical over ``known`` (in that order) plus any value not in it, so none is lost."""
    array = values if isinstance(values, np.ndarray) else np.asarray(list(values), dtype=object)
    try:
        codes, distinct = pd.factorize(array)  # hashed in C; then only the few values are seen
    except TypeError:  # an unhashable value (not CloudAPI's): missing, like any non-text
        codes, distinct = pd.factorize(np.array([v if isinstance(v, str) else None
                                                 for v in array], dtype=object))
    extra = sorted({v for v in distinct if isinstance(v, str)} - set(known))
    names = [*known, *extra]
    position = {name: i for i, name in enumerate(names)}
    # a code per distinct value, then -1 (missing) for factorize's -1
    lookup = np.array([position.get(v, -1) if isinstance(v, str) else -1 for v in distinct]
                      + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(lookup[codes], categories=names)


def objects(values: Iterable[Any]) -> pd.Series:
    """An ``object`` column (lists, dicts, mixed values) holding the values as given.

    A Series rather than its array: pandas 3 would infer ``str`` for a bare
    array of texts (a tag value column that happens to hold only strings).
    """
    return pd.Series(list(values), dtype=object)



def _floats(values: Sequence[Any]) -> np.ndarray:
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(np.float64)


#: a column dictionary dtype -> the converter that makes it (dtypes not listed here are
#: built where the frame is made: a categorical needs its vocabulary)
CONVERTERS: dict[str, Callable[[Sequence[Any]], Any]] = {
    "string": strings, "Int64": ints, "boolean": bools, "object": objects,
    TIME_DTYPE: lambda values: times(values).array, "float64": _floats,
    "str": lambda values: pd.array(values, dtype=text()),  # pandas 3's str, on 2.3 too
}


def typed(frame: pd.DataFrame, entries: Iterable[Any]) -> pd.DataFrame:
    """``frame`` with each column converted to the dtype its column dictionary entry
    (``entries``: :class:`~smartdc_nb.dictionary_data.Column`) documents, so a frame made
    from rows of Python values has those dtypes whatever the rows hold: none (an empty log),
    an all-missing column, counts with or without a missing one."""
    for name, dtype in ((entry.name, entry.dtype) for entry in entries):
        convert = CONVERTERS.get(dtype)
        if convert is not None and name in frame.columns:
            values = frame[name].to_numpy(dtype=object, na_value=None)
            frame[name] = pd.Series(convert(values), index=frame.index).array
    return frame


TAG_COLUMN_PREFIX = "tag."


def tag_columns(tag_dicts: Sequence[dict | None], index: Any = None) -> pd.DataFrame:
    """One ``tag.<key>`` column per tag key (sorted), typed from its values: all text
    ``string``, all booleans ``boolean``, all integers ``Int64``, else ``object`` holding the
    values as CloudAPI sent them. A machine without the tag has <NA> (None in an object
    column): NaN would read as a float tag value and turn ``== value`` tests into floats."""
    expanded = pd.DataFrame([t or {} for t in tag_dicts],
                            index=range(len(tag_dicts)) if index is None else index)
    expanded = expanded.reindex(columns=sorted(expanded.columns, key=str))
    expanded.columns = [f"{TAG_COLUMN_PREFIX}{key}" for key in expanded.columns]
    expanded = expanded.convert_dtypes()
    for name in expanded.columns:  # convert_dtypes leaves NaN in a column it keeps object
        if expanded[name].dtype == object:
            column = expanded[name]
            expanded[name] = column.astype(object).where(column.notna(), None)
    return expanded


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # as ipaddress: ASCII, no leading 0
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")
# Inside 192.0.0.0/24 whether an address is global changes from one address to the next
# (192.0.0.9 and .10 are global, the rest is not); in every other /24 it is the same for
# all 256 addresses (ipaddress's special-purpose ranges are /24 or larger).
_MIXED_NET = "192.0.0"


#: a line of text: the /24 of an IPv4 address (group 1), or "" for anything else
_NET_LINE = re.compile(rf"^(?:({_OCTET}\.{_OCTET}\.{_OCTET})\.{_OCTET}|.*)$", re.MULTILINE)
#: public (True) or private (False) per /24: a fact about the network, kept across frames
_NET_ANSWERS: dict[str, bool] = {}
_NET_ANSWERS_MAX = 1 << 16


def split_ips(ip_lists: Sequence[Any]) -> tuple[list[list[str]], list[list[str]]]:
    """``(public, private)`` address lists per row, by the rule of ``Machine.public_ips``
    (:func:`smartdc_nb.resources.values.split_ips`).

    That rule parses each address with ipaddress, which would be the most
    expensive step of a frame. Here each distinct address is classified once
    (an IPv4 address takes the answer known for its /24: exact, see
    ``_MIXED_NET``), and a row only looks its addresses up.
    """
    answers = _answers({ip for ips in ip_lists if ips.__class__ is list
                        for ip in ips if ip.__class__ is str})
    get = answers.get
    public: list[list[str]] = []
    private: list[list[str]] = []
    add_public, add_private = public.append, private.append
    for ips in ip_lists:
        if ips.__class__ is not list:
            ips = ()
        count = len(ips)
        if count == 1:  # the common cases (one address, or two) without a loop
            ip = ips[0]
            answer = get(ip) if ip.__class__ is str else None
            add_public([ip] if answer is True else [])
            add_private([ip] if answer is False else [])
        elif count == 2:
            a, b = ips
            x = get(a) if a.__class__ is str else None
            y = get(b) if b.__class__ is str else None
            add_public(([a, b] if y is True else [a]) if x is True else [b] if y is True else [])
            add_private(([a, b] if y is False else [a]) if x is False else [b] if y is False else [])
        else:
            row_public: list[str] = []
            row_private: list[str] = []
            for ip in ips:
                answer = get(ip) if ip.__class__ is str else None
                if answer is True:
                    row_public.append(ip)
                elif answer is False:
                    row_private.append(ip)
            add_public(row_public)
            add_private(row_private)
    return public, private


def _answers(distinct: set[str]) -> dict[str, bool | None]:
    """Each address text: public (True), private (False) or not an address (None).

    The /24 of every IPv4 text is found by one regex pass over all of them (a
    line each) and looked up in ``_NET_ANSWERS``; only the texts whose network
    is not known yet (or that are no IPv4 address: IPv6, ``dhcp``, ``x/24``)
    are classified one by one, with ipaddress (Machine's rule).
    """
    texts = list(distinct)
    lines = "\n".join(texts)
    nets = _NET_LINE.findall(lines) if lines.count("\n") == len(texts) - 1 else None
    if nets is None or len(nets) != len(texts):  # a text with a line break in it
        nets = [ip[:ip.rindex(".")] if _IPV4.fullmatch(ip) else "" for ip in texts]
    looked = list(map(_NET_ANSWERS.get, nets))  # None: not known (never for "" nor _MIXED_NET)
    answers = dict(zip(texts, looked))
    unknown = [i for i, answer in enumerate(looked) if answer is None]
    if len(_NET_ANSWERS) > _NET_ANSWERS_MAX:
        _NET_ANSWERS.clear()
    for i in unknown:
        ip, net = texts[i], nets[i]
        shared = bool(net) and net != _MIXED_NET  # the whole /24 answers alike
        answer = _NET_ANSWERS.get(net) if shared else None
        if answer is None:
            one_public, one_private = classify([ip])
            answer = True if one_public else False if one_private else None
            if shared and answer is not None:
                _NET_ANSWERS[net] = answer
        answers[ip] = answer
    return answers


def version_key(version: Any) -> tuple:
    """Sort key for package/image versions: numeric parts compare as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                 for p in str(version or "").replace("-", ".").split("."))

"""Tabular data: CSV columns as categorical variables, and rows decoded back into them.

``--data-option kind=tabular`` hands a CSV's rows here (from :class:`~genstudio.data.csv_file.CsvFile`).
Every column becomes one categorical variable with integer codes ``0 .. K-1``:

- a column holding any non-number, and an integer column with at most ``max_categories``
  distinct values, is **categorical**: its categories are its distinct values, sorted
  (strings alphabetically, integers numerically) and kept as strings;
- any other numeric column is **continuous**: it is cut into ``bins`` bins at its quantiles.
  Bins are ``[e_k, e_k+1)``, the last one closed ``[e_B-1, e_B]``; bin k starts at the sorted
  value with a fraction k/bins of the column below it, so every edge is a value of the column
  and no bin is empty. Ties can merge quantiles: the column then gets fewer bins than
  asked (a warning says so). The edges are recorded in the spec.

The dataset is ``x`` int64 codes ``(N, D)``, ``spec.shape == (D,)``, ``spec.value_range ==
(0, largest code)`` and ``spec.columns`` one dict per column: ``name``, ``type``
(``"categorical"`` or ``"continuous"``), ``categories`` (strings; for continuous columns
readable bin labels such as ``"[0.5, 1.2)"``) and, for continuous columns, ``bin_edges``
(floats, one more than the bins) and ``integer`` (whether every value was an integer).

:func:`decode_rows` and :func:`write_csv` turn codes (samples of a model) back into rows of
the CSV's own columns.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.api import DataError, Dataset, DataSpec
from genstudio.files import atomic_write_text

__all__ = ["MISSING", "decode_rows", "load_csv_rows", "write_csv"]

#: Cells read as missing values (compared without case and surrounding spaces): refused.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "?"})


def load_csv_rows(rows: list[list[str]], lines: list[int], path: Path, options: Any) -> Dataset:
    """A tabular dataset from a CSV's rows (split, checked for raggedness) and their 1-based
    line numbers. ``options`` is :class:`CsvFile.Options` (``header``, ``label``,
    ``max_categories``, ``bins``)."""
    names, body, body_lines = _header(rows, lines, path, options.header)
    label_col = _label_column(options.label, names, path)
    variables = [j for j in range(len(names)) if j != label_col]
    if not variables:
        raise DataError("has no columns besides the labels", path)
    warnings: list[str] = []
    columns: list[dict] = []
    codes = np.empty((len(body), len(variables)), np.int64)
    for k, j in enumerate(variables):
        values = [row[j].strip() for row in body]
        column, codes[:, k] = _column(names[j], values, body_lines, path, options, warnings)
        columns.append(column)
    y, classes = None, None
    if label_col is not None:
        labels = [row[label_col].strip() for row in body]
        _refuse_missing(names[label_col], labels, body_lines, path)
        label_info, y = _categorical(names[label_col], labels)
        classes = tuple(label_info["categories"])
    top = max(len(c["categories"]) for c in columns) - 1
    spec = DataSpec(
        "tabular", (len(variables),), len(codes), (0.0, float(top)), classes, str(path), columns=tuple(columns)
    )
    return Dataset(codes, y, spec, warnings)


# --------------------------------------------------------------------------------------
# Parsing


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _header(
    rows: list[list[str]], lines: list[int], path: Path, option: str
) -> tuple[list[str], list[list[str]], list[int]]:
    hint = "kind=tabular needs a header row naming the columns"
    if option == "no":
        raise DataError(f"{hint}; header=no was given", path)
    if option == "auto" and all(_is_number(f) for f in rows[0]):
        raise DataError(f"{hint}; its first row (line {lines[0]}) holds only numbers: add a row of names", path)
    names = [h.strip() for h in rows[0]]
    for j, name in enumerate(names):
        if not name:
            raise DataError(f"{hint}; column {j} (0-based) has an empty name", path)
        if name in names[:j]:
            raise DataError(f"two columns are named {name!r}; names must be unique", path)
    body, body_lines = rows[1:], lines[1:]
    if not body:
        raise DataError("has a header but no rows of values", path)
    if len(body) < 2:
        raise DataError(f"holds a single row of values (line {body_lines[0]}); tabular data needs at least 2", path)
    return names, body, body_lines


def _label_column(option: str, names: list[str], path: Path) -> int | None:
    """The label column: none unless named (a header name, any case, or a 0-based index)."""
    option = option.strip()
    if option.lower() in ("auto", "none", ""):
        return None  # with kind=tabular every column is a variable, a "class" column too
    lowered = [n.lower() for n in names]
    if option.lower() in lowered:
        return lowered.index(option.lower())
    if re.fullmatch(r"-?\d+", option) and -len(names) <= int(option) < len(names):
        return int(option) % len(names)
    raise DataError(f"has no column {option!r} for label=; its columns: {', '.join(names)}", path)


def _refuse_missing(name: str, values: list[str], lines: list[int], path: Path) -> None:
    for i, v in enumerate(values):
        if v.lower() in MISSING:
            shown = "an empty cell" if not v else f"{v!r}"
            raise DataError(
                f"column {name!r}, line {lines[i]}: missing value ({shown}); kind=tabular needs every cell "
                "filled: drop the row or give the value a category of its own (such as 'unknown')",
                path,
            )


def _column(
    name: str, values: list[str], lines: list[int], path: Path, options: Any, warnings: list[str]
) -> tuple[dict, np.ndarray]:
    """One column's spec entry and its codes ``(N,)`` int64."""
    _refuse_missing(name, values, lines, path)
    try:
        numbers = np.array(values, dtype=np.float64)
    except ValueError:
        column, codes = _categorical(name, values)
        if len(column["categories"]) > options.max_categories:
            warnings.append(
                f"column {name!r} has {len(column['categories'])} categories; a table per column grows with them "
                "(is it an identifier? drop it)"
            )
        return column, codes
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        i = int(bad[0])
        raise DataError(f"column {name!r}, line {lines[i]}: {values[i]!r} is infinite; expected a finite number", path)
    integer = bool(np.all(numbers == np.round(numbers)))
    distinct = np.unique(numbers)
    if integer and len(distinct) <= options.max_categories:
        codes = np.searchsorted(distinct, numbers).astype(np.int64)
        return {"name": name, "type": "categorical", "categories": [_number(v) for v in distinct]}, codes
    return _continuous(name, numbers, integer, options.bins, warnings)


def _categorical(name: str, values: list[str]) -> tuple[dict, np.ndarray]:
    categories, codes = np.unique(np.array(values, dtype=str), return_inverse=True)
    return {"name": name, "type": "categorical", "categories": categories.tolist()}, codes.reshape(-1).astype(np.int64)


def _continuous(name: str, x: np.ndarray, integer: bool, bins: int, warnings: list[str]) -> tuple[dict, np.ndarray]:
    """Quantile bins whose edges are values of ``x``, so each bin holds at least its left edge:
    bin k starts at the sorted value with k/bins of the column below it."""
    s = np.sort(x)
    lo, hi = float(s[0]), float(s[-1])
    cuts = s[np.minimum(np.ceil(np.arange(1, bins) * len(s) / bins).astype(np.int64), len(s) - 1)]
    interior = np.unique(cuts[cuts > lo])
    edges = [lo, *interior.tolist(), hi]  # when the last cut is hi, the top value is a bin of its own, [hi, hi]
    codes = np.searchsorted(interior, x, side="right").astype(np.int64)
    if len(edges) - 1 < bins:
        warnings.append(f"column {name!r}: ties among its values left {len(edges) - 1} bins instead of {bins}")
    labels = [_bin_label(edges, k) for k in range(len(edges) - 1)]
    column = {"name": name, "type": "continuous", "categories": labels, "bin_edges": edges, "integer": integer}
    return column, codes


def _number(v: float) -> str:
    """A number as a category or a cell: integers without a needless ``.0``."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 2**63 else f"{v:.6g}"


def _bin_label(edges: list[float], k: int) -> str:
    closing = "]" if k == len(edges) - 2 else ")"
    return f"[{_number(edges[k])}, {_number(edges[k + 1])}{closing}"


# --------------------------------------------------------------------------------------
# Decoding


def decode_rows(spec: DataSpec, codes: Any, rng: np.random.Generator | None = None) -> list[list[str]]:
    """Rows of the CSV's own columns, as strings, from codes ``(N, D)`` (integers, or floats
    holding integers; NumPy or torch).

    A categorical code becomes its category. A continuous code becomes a value inside its
    bin: drawn uniformly from ``[lo, hi)`` (the last bin: ``[lo, hi]``) with ``rng``, or the
    bin's midpoint when ``rng`` is ``None``; integer columns get integers in the bin (drawn
    uniformly, or the middle one). Raises :class:`DataError` for a code outside its column.
    """
    if spec.kind != "tabular" or not spec.columns:
        raise DataError(f"decode_rows needs tabular data with its columns, not {spec.kind} data")
    if hasattr(codes, "detach"):
        codes = codes.detach().cpu().numpy()
    arr = np.asarray(codes)
    if arr.ndim != 2 or arr.shape[1] != len(spec.columns):
        raise DataError(f"codes shaped {arr.shape}; expected (N, {len(spec.columns)}), one per column")
    if arr.dtype.kind == "f" and not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
        raise DataError("codes must be whole numbers")
    arr = arr.astype(np.int64)
    out = np.empty(arr.shape, dtype=object)
    for j, column in enumerate(spec.columns):
        k = arr[:, j]
        n_cat = len(column["categories"])
        bad = np.flatnonzero((k < 0) | (k >= n_cat))
        if len(bad):
            raise DataError(f"column {column['name']!r}: code {int(k[bad[0]])} is outside 0..{n_cat - 1}")
        if column.get("type") == "continuous":
            out[:, j] = _bin_values(column, k, rng)
        else:
            out[:, j] = np.asarray(column["categories"], dtype=object)[k]
    return out.tolist()


def _bin_values(column: dict, k: np.ndarray, rng: np.random.Generator | None) -> list[str]:
    edges = np.asarray(column["bin_edges"], np.float64)
    lo, hi = edges[k], edges[k + 1]
    closed = k == len(edges) - 2
    if column.get("integer"):
        first = np.ceil(lo)
        last = np.where(closed, np.floor(hi), np.ceil(hi) - 1)
        last = np.maximum(last, first)
        v = (first + last) // 2 if rng is None else rng.integers(first.astype(np.int64), last.astype(np.int64) + 1)
        return [_number(float(a)) for a in v]
    v = (lo + hi) / 2 if rng is None else rng.uniform(lo, hi)
    return [_inside(float(a), float(a_lo), float(a_hi), bool(c)) for a, a_lo, a_hi, c in zip(v, lo, hi, closed)]


def _inside(v: float, lo: float, hi: float, closed: bool) -> str:
    """``v`` with 6 significant digits, unless rounding would carry it out of its bin."""
    text = f"{v:.6g}"
    w = float(text)
    return text if lo <= w and (w < hi or (closed and w <= hi) or lo == hi) else repr(v)


def write_csv(path: str | Path, spec: DataSpec, codes: Any, rng: np.random.Generator | None = None) -> Path:
    """Write codes ``(N, D)`` as a CSV with a header of the column names (see
    :func:`decode_rows`), atomically. Returns the path."""
    rows = decode_rows(spec, codes, rng)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c["name"] for c in spec.columns or ()])
    writer.writerows(rows)
    return atomic_write_text(path, buf.getvalue())

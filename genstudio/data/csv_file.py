"""Delimited text: numbers as vectors, with an optional label column; categorical tables
go to :mod:`genstudio.data.tabular`."""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.api import DataError, Dataset, DataSource, DataSpec, LoadContext, param
from genstudio.data.arrays import _readable_file

_LABEL_NAMES = ("label", "class", "target", "y")
_DELIMITERS = (";", ",", "\t")  # ';' first: it is rarely anything but a delimiter, ',' may be a decimal


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _decimal_point(field: str) -> str:
    if "," not in field:
        return field
    dotted = field.replace(",", ".")
    return dotted if _is_number(dotted) else field


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte is a character: old spreadsheets


def _split_rows(text: str) -> tuple[list[list[str]], list[int], str | None]:
    """Rows of fields and their 1-based line numbers, and the delimiter (None: whitespace).

    Blank lines and lines starting with ``#`` are skipped.
    """
    # not str.splitlines: it also splits at \x85 and \x0c, which latin-1 text may hold
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    sample = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")][:20]
    delimiter: str | None = None
    for d in _DELIMITERS:
        # the usual field count decides, so that one ragged line is reported, not misread
        counts = Counter(len(next(csv.reader([ln], delimiter=d))) for ln in sample)
        if counts and counts.most_common(1)[0][0] >= 2:
            delimiter = d
            break
    rows: list[list[str]] = []
    numbers: list[int] = []
    if delimiter is None:
        for k, ln in enumerate(lines, 1):
            if ln.strip() and not ln.lstrip().startswith("#"):
                rows.append(ln.split())
                numbers.append(k)
        return rows, numbers, None
    kept = ("" if ln.lstrip().startswith("#") else ln for ln in lines)
    reader = csv.reader(kept, delimiter=delimiter, skipinitialspace=True)
    for row in reader:
        if row and any(field.strip() for field in row):
            rows.append(row)
            numbers.append(reader.line_num)
    return rows, numbers, delimiter


def _number_labels(values: list[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class indices for labels; numbers sort numerically and print without a needless .0."""
    try:
        nums = np.array(values, dtype=np.float64)
    except ValueError:
        classes, y = np.unique(np.array([v.strip() for v in values]), return_inverse=True)
        return y.astype(np.int64).reshape(-1), tuple(classes.tolist())
    uniq, y = np.unique(nums, return_inverse=True)
    names = tuple(str(int(v)) if float(v).is_integer() else repr(float(v)) for v in uniq)
    return y.astype(np.int64).reshape(-1), names


class CsvFile(DataSource):
    """Delimited text (comma, semicolon, tab or whitespace) of numbers: vectors ``(N, D)``
    float32, with an optional label column (strings or numbers). With ``kind=tabular``, every
    column is a categorical variable instead (:mod:`genstudio.data.tabular`); ``kind=auto`` (the
    default) reads a CSV as tabular when a column other than the labels holds text."""

    name = "csv"
    title = "CSV / text table"
    description = (
        "Delimited text (comma, semicolon, tab or spaces): numeric columns as vectors, text columns as a table"
    )
    path_based = True

    @dataclass
    class Options:
        header: str = param("auto", choices=("auto", "yes", "no"), help="Whether the first row names the columns")
        label: str = param(
            "auto",
            help="Label column: a header name or 0-based index; auto finds label/class/target/y; none for no labels",
        )
        kind: str = param(
            "auto",
            choices=("auto", "vector", "tabular"),
            help="auto: tabular when a column (not the labels) holds text, else vector; vector: numeric columns; "
            "tabular: every column a categorical variable (see genstudio.data.tabular)",
        )
        max_categories: int = param(
            20, min=1, max=100_000, help="kind=tabular: integer columns with at most this many values are categorical"
        )
        bins: int = param(5, min=1, max=1000, help="kind=tabular: quantile bins of each continuous column")

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A text file (no NUL, no control characters) whose first line parses as delimited
        text; an empty file too, so that loading it says it is empty."""
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        if b"\0" in head:
            return False
        first = (head.lstrip(b"\xef\xbb\xbf\r\n\t ").splitlines() or [b""])[0]
        try:
            line = first.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(first) - 3 or len(head) < (1 << 16):  # not just a character cut at 64 KiB
                return False
            line = first[: exc.start].decode("utf-8")
        if any(ord(c) < 32 and c != "\t" for c in line):
            return False
        if not line.strip():
            return True
        try:
            next(csv.reader([line], delimiter=","))
        except csv.Error:
            return False
        return True

    def load(self, options: Any, path: Path | None, context: LoadContext) -> Dataset:
        path = _readable_file(path)
        try:
            rows, lines, delimiter = _split_rows(_read_text(path))
        except csv.Error as exc:
            raise DataError(f"is not readable as delimited text ({exc})", path) from None
        if not rows:
            raise DataError("is empty: it holds no rows of values", path)
        width = len(rows[0])
        for row, line in zip(rows, lines):
            if len(row) != width:
                raise DataError(f"ragged rows: line {line} has {len(row)} fields, expected {width}", path)

        if delimiter == ";":  # "1,5;2,25": a semicolon file may use decimal commas
            rows = [[_decimal_point(f) for f in row] for row in rows]
        if options.kind == "tabular":
            from genstudio.data.tabular import load_csv_rows

            return load_csv_rows(rows, lines, path, options)
        all_rows, all_lines = rows, lines
        header = self._has_header(rows, options.header)
        names = [h.strip() for h in rows[0]] if header else None
        if header:
            rows, lines = rows[1:], lines[1:]
            if not rows:
                raise DataError("has a header but no rows of values", path)

        warnings: list[str] = []
        label_col = self._label_column(options.label, names, width, path, warnings)
        features = [j for j in range(width) if j != label_col]
        if not features:
            raise DataError("has no feature columns besides the labels", path)
        table = np.array(rows, dtype=str)
        cells = table[:, features]
        try:
            x = cells.astype(np.float64).astype(np.float32)
        except ValueError:
            i, k = self._first_bad_cell(cells)
            if options.kind == "auto":  # text in a feature column: a table of categories, read as such
                from genstudio.data.tabular import load_csv_rows

                data = load_csv_rows(all_rows, all_lines, path, options)
                data.warnings.append(
                    f"read as tabular: {self._column(names, features[k])} holds text ({str(cells[i, k])!r}); "
                    "set kind=vector to insist on numbers"
                )
                return data
            hint = f"; if it holds the labels, set label={self._column(names, features[k], bare=True)}"
            raise DataError(
                f"{self._column(names, features[k])}, line {lines[i]}: {str(cells[i, k])!r} is not a number"
                + (hint if label_col is None else "")
                + "; use --data-option kind=tabular for categorical data",
                path,
            ) from None
        if not np.isfinite(x).all():
            i, k = np.argwhere(~np.isfinite(x))[0]
            raise DataError(
                f"{self._column(names, features[k])}, line {lines[i]}: {str(cells[i, k])!r} is NaN or infinite "
                "(as float32); GenStudio needs finite numbers",
                path,
            )
        y, classes = None, None
        if label_col is not None:
            values = table[:, label_col].tolist()
            empty = next((k for k, v in enumerate(values) if not v.strip()), None)
            if empty is not None:
                raise DataError(f"line {lines[empty]} has an empty label", path)
            y, classes = _number_labels(values)
        spec = DataSpec("vector", (x.shape[1],), len(x), (float(x.min()), float(x.max())), classes, str(path))
        return Dataset(x, y, spec, warnings)

    @staticmethod
    def _has_header(rows: list[list[str]], option: str) -> bool:
        if option != "auto":
            return option == "yes"
        if len(rows) == 1:
            return not all(_is_number(f) for f in rows[0])
        # a header names a column whose values are numbers; a text column (string labels)
        # says nothing, since its first value is text in either case
        body = rows[1:21]
        return any(not _is_number(field) and all(_is_number(r[j]) for r in body) for j, field in enumerate(rows[0]))

    @staticmethod
    def _label_column(option: str, names: list[str] | None, width: int, path: Path, warnings: list[str]) -> int | None:
        option = option.strip()
        if option.lower() == "none":
            return None
        if option.lower() == "auto":
            if names is None:
                return None
            found = next((j for j, n in enumerate(names) if n.lower() in _LABEL_NAMES), None)
            if found is not None:
                warnings.append(
                    f"column {names[found]!r} is used as the labels (label=auto); set label=none to keep it as a feature"
                )
            return found
        if names is not None:
            if option in names:
                return names.index(option)
            lowered = [n.lower() for n in names]
            if option.lower() in lowered:
                return lowered.index(option.lower())
        if re.fullmatch(r"-?\d+", option) and -width <= int(option) < width:
            return int(option) % width
        known = ", ".join(names) if names is not None else f"0 to {width - 1}"
        raise DataError(f"has no column {option!r} for label=; its columns: {known}", path)

    @staticmethod
    def _column(names: list[str] | None, j: int, bare: bool = False) -> str:
        if bare:
            return names[j] if names is not None else str(j)
        return f"column {names[j]!r}" if names is not None else f"column {j} (0-based)"

    @staticmethod
    def _first_bad_cell(cells: np.ndarray) -> tuple[int, int]:
        """Row and column of the first cell NumPy cannot read as a number (the error path only)."""

        def bad(value: str) -> bool:
            try:
                np.array(value).astype(np.float64)
            except ValueError:
                return True
            return False

        found = []
        for k in range(cells.shape[1]):
            try:
                cells[:, k].astype(np.float64)
            except ValueError:
                found.append((next(i for i, v in enumerate(cells[:, k].tolist()) if bad(v)), k))
        return min(found)

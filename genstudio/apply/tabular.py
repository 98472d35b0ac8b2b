"""Imputation of a CSV's empty cells with a Bayesian network (see :func:`genstudio.apply.bayes.impute`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.api import ConfigError, DataError, DataSpec
from genstudio.apply.bayes import Network, impute
from genstudio.files import atomic_write_text

#: Cells read as missing (compared without case and surrounding spaces), as the CSV reader does.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "?"})


def _read(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("no such file", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read it as text ({exc})", path) from None
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [r for r in csv.reader(io.StringIO(text), dialect) if r]
    if len(rows) < 2:
        raise DataError("needs a header row naming the columns and at least one row of values", path)
    return rows


def _encode(net: Network, spec: DataSpec, j: int, value: str) -> int:
    column = (spec.columns or [{}])[j] if spec.columns else {}
    if column.get("type") == "continuous":
        try:
            v = float(value)
        except ValueError:
            raise ConfigError(f"column {net.names[j]!r} holds numbers; {value!r} is not one") from None
        interior = np.asarray(column["bin_edges"][1:-1], np.float64)
        return int(np.clip(np.searchsorted(interior, v, side="right"), 0, len(column["categories"]) - 1))
    return net.code(j, value)


def fill_csv(
    source: str | Path, target: str | Path, net: Network, spec: DataSpec, *, sample: bool = False, seed: int = 0
) -> tuple[int, int]:
    """Fill the missing cells of ``source``'s columns that the network knows and write
    ``target`` (same header and other cells unchanged). Returns (cells filled, rows)."""
    from genstudio.data.tabular import decode_rows

    source = Path(source)
    rows = _read(source)
    header = [h.strip() for h in rows[0]]
    lowered = [h.lower() for h in header]
    where = []
    for name in net.names:
        if name.lower() not in lowered:
            raise DataError(f"has no column {name!r}; the run's columns: {', '.join(net.names)}", source)
        where.append(lowered.index(name.lower()))
    body = rows[1:]
    codes = np.full((len(body), len(net.names)), -1, np.int64)
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise DataError(f"line {i + 2}: {len(row)} cells; the header has {len(header)}", source)
        for j, k in enumerate(where):
            cell = row[k].strip()
            if cell.lower() in MISSING:
                continue
            try:
                codes[i, j] = _encode(net, spec, j, cell)
            except ConfigError as exc:
                raise DataError(f"line {i + 2}: {exc}", source) from None
    missing = codes < 0
    filled = impute(net, codes, sample=sample, seed=seed)
    rng = np.random.default_rng(seed) if sample else None
    if spec.columns:
        decoded = decode_rows(spec, filled, rng)
    else:
        decoded = [[net.categories[j][v] for j, v in enumerate(r)] for r in filled]
    out = [list(r) for r in body]
    for i, j in zip(*np.nonzero(missing)):
        out[i][where[j]] = decoded[i][j]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(out)
    atomic_write_text(Path(target), buf.getvalue())
    return int(missing.sum()), len(body)


__all__ = ["fill_csv"]


def describe(net: Network) -> dict[str, Any]:
    """Names and values of the network's columns, for front ends."""
    return {"columns": {n: list(c) for n, c in zip(net.names, net.categories)}}

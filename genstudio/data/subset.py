"""The generic data option ``classes=``: keep only the examples of some labels.

``--data-option classes=0-8`` trains on digits 0 to 8 of a labelled source, so the standard
one-class-out anomaly protocol is two commands. It applies to every labelled source (unless a
source declares an option of that name itself); labels keep their indices and the spec its
class names, so a model trained on a subset scores the full data with the same labels.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from genstudio.api import ConfigError, DataError, Dataset

OPTION = "classes"


def parse_classes(text: str, classes: tuple[str, ...] | None, where: str = "classes=") -> list[int]:
    """Class indices from ``"9"``, ``"8,9"``, ``"0-8"`` or class names (``"heart"``), sorted.
    Raises :class:`ConfigError` naming a label the data does not have."""
    if not classes:
        raise ConfigError(f"{where}: the data has no labels")

    def one(token: str) -> int:
        if token in classes:
            return classes.index(token)
        if re.fullmatch(r"\d+", token) and int(token) < len(classes):
            return int(token)
        raise ConfigError(f"{where}: the data has no label {token!r}; its labels: {', '.join(classes)}")

    out: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        m = re.fullmatch(r"(\w+)\s*-\s*(\w+)", part)
        if m and part not in classes:
            lo, hi = one(m.group(1)), one(m.group(2))
            if lo > hi:
                raise ConfigError(f"{where}: the range {part!r} is empty")
            out += range(lo, hi + 1)
        else:
            out.append(one(part))
    if not out:
        raise ConfigError(f"{where}: name at least one label")
    return sorted(set(out))


def select_classes(data: Dataset, text: str, where: object) -> Dataset:
    """``data`` restricted to the examples whose label is one of ``text``'s."""
    if data.y is None:
        raise DataError("classes=: this data has no labels to select by", where)
    keep = parse_classes(text, data.spec.classes, "classes=")
    idx = np.flatnonzero(np.isin(data.y, keep))
    if len(idx) == 0:
        raise DataError(f"classes={text}: no example has these labels", where)
    spec = dataclasses.replace(data.spec, count=len(idx))
    extras = {k: v[idx] for k, v in data.extras.items()}
    return Dataset(data.x[idx], data.y[idx], spec, list(data.warnings), extras)

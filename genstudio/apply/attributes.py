"""Attribute directions in a latent space: the difference of mean codes between two groups.

For a model with ``encode`` and ``decode``, the direction from group A to group B is

    d = mean_{x in B} encode(x) - mean_{x in A} encode(x)

(the "attribute vector" of Larsen et al. 2016, Section 4.1, and White 2016). Moving a code
z to z + alpha d and decoding changes the attribute while, ideally, keeping the rest.

Groups come from the data's labels (attribute ``label``; LABEL is a class name or index) or
from a known factor (``shapes``: ``scale``, ``orientation``, ...; LABEL is a value of the
factor, nearest wins, or ``low`` / ``high`` for the lowest / highest third of its values).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genstudio.api import ConfigError, Dataset
from genstudio.data.subset import parse_classes

LABEL = "label"


def attributes_of(data: Dataset) -> list[str]:
    """The attributes ``data`` can group by: ``label`` when labelled, then its known factors."""
    out = [LABEL] if data.y is not None and data.spec.classes else []
    if data.spec.factors and "factors" in data.extras:
        out += list(data.spec.factors)
    return out


def group(data: Dataset, attribute: str, value: str) -> np.ndarray:
    """Indices of the examples whose ``attribute`` is ``value``. Raises :class:`ConfigError`
    naming the attribute or the value when the data has no such thing."""
    known = attributes_of(data)
    if attribute not in known:
        raise ConfigError(f"the data has no attribute {attribute!r}; it has: {', '.join(known) or 'none'}")
    if attribute == LABEL:
        return np.flatnonzero(np.isin(data.y, parse_classes(value, data.spec.classes, f"attribute {attribute}")))
    f = data.extras["factors"][:, list(data.spec.factors).index(attribute)]
    v = value.strip().lower()
    if v in ("low", "high"):
        lo, hi = np.quantile(f, [1 / 3, 2 / 3])
        return np.flatnonzero(f <= lo if v == "low" else f >= hi)
    try:
        target = float(v)
    except ValueError:
        raise ConfigError(f"{attribute}: {value!r} is not a number, low or high") from None
    values = np.unique(f)
    nearest = values[np.argmin(np.abs(values - target))]
    if abs(nearest - target) > 0.5 * (np.ptp(values) / max(1, len(values) - 1) or 1.0):
        shown = ", ".join(f"{x:g}" for x in values[:12])
        raise ConfigError(f"{attribute} never takes a value near {value}; its values: {shown}")
    return np.flatnonzero(np.isclose(f, nearest))


@dataclass
class Direction:
    attribute: str
    source: str
    target: str
    vector: torch.Tensor  # (latent_dim,)
    counts: tuple[int, int]


def _encode(model: Any, data: Dataset, idx: np.ndarray, batch: int = 256) -> torch.Tensor:
    dev = getattr(model, "device", torch.device("cpu"))
    codes = []
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            x = torch.from_numpy(data.as_float(idx[s : s + batch])).to(dev)
            codes.append(model.encode(x).float().cpu())
    return torch.cat(codes)


def direction(model: Any, data: Dataset, attribute: str, source: str, target: str, limit: int = 2000) -> Direction:
    """The direction from group ``source`` to group ``target`` (each at most ``limit``
    examples, the first ones)."""
    for cap in ("encode", "decode"):
        if not callable(getattr(model, cap, None)):
            raise ConfigError(f"the {getattr(model, 'name', '?')} family has no {cap}: attribute directions need both")
    a, b = group(data, attribute, source)[:limit], group(data, attribute, target)[:limit]
    for name, idx in ((source, a), (target, b)):
        if len(idx) == 0:
            raise ConfigError(f"no example has {attribute} {name}")
    d = _encode(model, data, b).mean(0) - _encode(model, data, a).mean(0)
    return Direction(attribute, source, target, d, (len(a), len(b)))


def edit(model: Any, z: torch.Tensor, d: torch.Tensor, alphas: list[float]) -> np.ndarray:
    """Decode z + alpha d for each alpha: ``(len(z), len(alphas), *spec.shape)`` float32."""
    dev = getattr(model, "device", torch.device("cpu"))
    with torch.no_grad():
        out = [model.decode((z + a * d).to(dev)).float().cpu() for a in alphas]
    arr = torch.stack(out, 1).numpy()
    return np.clip(arr, 0, 1) if model.spec.kind == "image" else arr


def edit_examples(
    model: Any, data: Dataset, dirn: Direction, n: int = 8, alphas: list[float] | None = None
) -> np.ndarray:
    """The first ``n`` examples of the source group moved along ``dirn``: ``(n, steps, ...)``."""
    alphas = alphas if alphas is not None else [float(a) for a in np.linspace(0.0, 1.5, 7)]
    idx = group(data, dirn.attribute, dirn.source)[:n]
    return edit(model, _encode(model, data, idx), dirn.vector, alphas)

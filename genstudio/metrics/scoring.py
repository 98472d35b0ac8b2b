"""Anomaly scores: every example of a dataset scored by a model, in the dataset's order.

``log_prob`` is the model's log-likelihood in nats per example (a family with ``log_prob``);
``recon_error`` is the mean squared error per value between an example and its
reconstruction, in data space (a family with ``reconstruct``). Low ``log_prob`` and high
``recon_error`` mark examples the model finds unusual.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genstudio.api import ConfigError, Dataset, PluginError, capabilities, inference_mode
from genstudio.files import atomic_write_text
from genstudio.host.blame import blame

SCORES = ("log_prob", "recon_error")


def scorable(model: Any) -> list[str]:
    """The scores a model can give: a subset of :data:`SCORES`, in that order."""
    caps = capabilities(model)
    return [s for s, cap in (("log_prob", "log_prob"), ("recon_error", "reconstruct")) if cap in caps]


def score_dataset(
    model: Any,
    data: Dataset,
    *,
    device: Any = None,
    batch_size: int = 256,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """``{"log_prob": (N,), "recon_error": (N,)}`` float64 for every example, each key present
    when the model can give it. Raises :class:`ConfigError` when it can give neither."""
    if tuple(data.spec.shape) != tuple(model.spec.shape):
        raise ConfigError(f"the data's examples are shaped {data.spec.shape}; the model takes {model.spec.shape}")
    kinds = scorable(model)
    if not kinds:
        raise ConfigError(
            f"the {getattr(model, 'name', '?')} family has neither log_prob nor reconstruct to score with"
        )
    dev = torch.device(device) if device is not None else getattr(model, "device", torch.device("cpu"))
    out = {k: np.empty(len(data), np.float64) for k in kinds}
    with inference_mode(model, dev):
        torch.manual_seed(seed)  # stochastic estimators (importance sampling) repeat exactly
        for start in range(0, len(data), batch_size):
            stop = min(start + batch_size, len(data))
            x = torch.from_numpy(data.as_float(slice(start, stop))).to(dev)
            if "log_prob" in out:
                out["log_prob"][start:stop] = _call(model.log_prob, x, "log_prob").reshape(-1)
            if "recon_error" in out:
                rec = torch.as_tensor(_call(model.reconstruct, x, "reconstruct", raw=True)).float()
                if rec.shape != x.shape:
                    raise PluginError(f"reconstruct returned shape {tuple(rec.shape)} for input {tuple(x.shape)}")
                out["recon_error"][start:stop] = (rec - x).pow(2).flatten(1).mean(1).double().cpu().numpy()
            if progress is not None:
                progress(stop, len(data))
    for key, values in out.items():
        if not np.isfinite(values).all():
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise PluginError(f"{key} is NaN or infinite for example {bad}")
    return out


def _call(fn: Callable[[torch.Tensor], Any], x: torch.Tensor, what: str, raw: bool = False) -> Any:
    with blame(f"calling {what}()"):
        y = fn(x)
    if raw:
        return y
    return torch.as_tensor(y).double().cpu().numpy()


def scores_csv(scores: dict[str, np.ndarray]) -> str:
    """CSV text: ``index`` then the scores present, one row per example; full float precision."""
    keys = [k for k in SCORES if k in scores]
    n = len(next(iter(scores.values()))) if scores else 0
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", *keys])
    for i in range(n):
        w.writerow([i, *(repr(float(scores[k][i])) for k in keys)])
    return buf.getvalue()


def write_scores(path: str | Path, scores: dict[str, np.ndarray]) -> Path:
    """Write :func:`scores_csv` atomically (complete or absent)."""
    path = Path(path)
    with contextlib.suppress(FileExistsError):
        path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, scores_csv(scores))

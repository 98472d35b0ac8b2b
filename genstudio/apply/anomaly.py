"""Anomaly detection: scores from a model's capabilities, then ROC and precision-recall.

A score here is an *anomaly* score: higher means more unusual. From the model's capabilities:

- ``log_prob``: minus the log-likelihood, nats per example;
- ``bpd``: the same in bits per dimension (a monotone map of it, so the same ranking);
- ``reconstruction``: the mean squared reconstruction error per value;
- ``discriminator``: minus a discriminator's score (``critic``).

The curves follow scikit-learn's definitions (``roc_curve``, ``roc_auc_score``,
``precision_recall_curve``, ``average_precision_score``): one threshold per distinct score,
the ROC area by the trapezoidal rule (ties give diagonal segments), and average precision
AP = sum_n (R_n - R_{n-1}) P_n without interpolation.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genstudio.api import ConfigError, Dataset, PluginError, capabilities
from genstudio.data.subset import parse_classes
from genstudio.files import atomic_write_text

#: Anomaly scores, best first: the default is the first one a model has.
SCORES = ("log_prob", "bpd", "reconstruction", "discriminator")
_NEEDS = {"log_prob": "log_prob", "bpd": "log_prob", "reconstruction": "reconstruct", "discriminator": "critic"}


def available_scores(model: Any) -> list[str]:
    caps = capabilities(model)
    return [s for s in SCORES if _NEEDS[s] in caps]


def parse_labels(text: str, classes: tuple[str, ...] | None, where: str = "--anomalous") -> list[int]:
    """Class indices from ``"9"``, ``"8,9"``, ``"0-3"`` or class names (``"heart"``). Raises
    :class:`ConfigError` naming a label the data does not have."""
    return parse_classes(text, classes, where)


def anomaly_scores(
    model: Any,
    data: Dataset,
    by: str,
    *,
    device: Any = None,
    batch_size: int = 256,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``(N,)`` float64 anomaly scores (higher: more anomalous) of every example, by ``by``."""
    if by not in SCORES:
        raise ConfigError(f"--by {by}: one of {', '.join(SCORES)}")
    have = available_scores(model)
    if by not in have:
        raise ConfigError(
            f"--by {by}: the {getattr(model, 'name', '?')} family cannot give it; it has {', '.join(have) or 'none'}"
        )
    if tuple(data.spec.shape) != tuple(model.spec.shape):
        raise ConfigError(f"the data's examples are shaped {data.spec.shape}; the model takes {model.spec.shape}")
    dev = torch.device(device) if device is not None else getattr(model, "device", torch.device("cpu"))

    def score(x: torch.Tensor) -> torch.Tensor:
        # only the score asked for: a VAE's log_prob (100 importance samples) is far dearer than its reconstruction
        if by == "reconstruction":
            return (torch.as_tensor(model.reconstruct(x)).float() - x).pow(2).flatten(1).mean(1)
        if by == "discriminator":
            return -torch.as_tensor(model.critic(x)).double()
        return -torch.as_tensor(model.log_prob(x)).double()

    out = np.empty(len(data))
    was_training = isinstance(model, torch.nn.Module) and model.training
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)  # stochastic estimators (importance sampling) repeat exactly
        if isinstance(model, torch.nn.Module):
            model.eval()
        try:
            for start in range(0, len(data), batch_size):
                stop = min(start + batch_size, len(data))
                x = torch.from_numpy(data.as_float(slice(start, stop))).to(dev)
                try:
                    out[start:stop] = score(x).double().cpu().numpy().reshape(-1)
                except Exception as exc:
                    raise PluginError(f"the model's {_NEEDS[by]} failed: {type(exc).__name__}: {exc}") from exc
                if progress is not None:
                    progress(stop, len(data))
        finally:
            if was_training:
                model.train()
    if not np.isfinite(out).all():
        raise PluginError(f"the {by} score is NaN or infinite for example {int(np.argmin(np.isfinite(out)))}")
    if by == "bpd":
        d = model.spec.dim
        offset = 0.0 if getattr(model, "discrete_likelihood", False) or model.spec.kind != "image" else math.log(256)
        return (out + d * offset) / (d * math.log(2))
    return out


# --------------------------------------------------------------------------------------
# ROC and precision-recall


def _counts(scores: np.ndarray, anomalous: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positives at each distinct threshold, highest first (sklearn's
    ``_binary_clf_curve``)."""
    scores = np.asarray(scores, np.float64)
    y = np.asarray(anomalous).astype(bool)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last].astype(np.float64)
    fps = 1.0 + last - tps
    return fps, tps, s[last]


def _check(anomalous: np.ndarray) -> None:
    y = np.asarray(anomalous).astype(bool)
    if y.all() or not y.any():
        kind = "anomalous" if y.all() else "normal"
        raise ConfigError(f"every example is {kind}: ROC and precision-recall need both kinds")


@dataclass
class Curves:
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    auroc: float
    average_precision: float


def roc_curve(scores: np.ndarray, anomalous: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), starting at (0, 0) with threshold +inf."""
    _check(anomalous)
    fps, tps, thr = _counts(scores, anomalous)
    return np.r_[0.0, fps] / fps[-1], np.r_[0.0, tps] / tps[-1], np.r_[np.inf, thr]


def auroc(scores: np.ndarray, anomalous: np.ndarray) -> float:
    """Area under the ROC curve (trapezoidal), as ``sklearn.metrics.roc_auc_score``."""
    fpr, tpr, _ = roc_curve(scores, anomalous)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def precision_recall(scores: np.ndarray, anomalous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at each distinct threshold, highest threshold first."""
    _check(anomalous)
    fps, tps, _ = _counts(scores, anomalous)
    return tps / (tps + fps), tps / tps[-1]


def average_precision(scores: np.ndarray, anomalous: np.ndarray) -> float:
    """AP = sum_n (R_n - R_{n-1}) P_n, as ``sklearn.metrics.average_precision_score``."""
    precision, recall = precision_recall(scores, anomalous)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def curves(scores: np.ndarray, anomalous: np.ndarray) -> Curves:
    fpr, tpr, thr = roc_curve(scores, anomalous)
    precision, recall = precision_recall(scores, anomalous)
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return Curves(fpr, tpr, thr, precision, recall, auc, ap)


# --------------------------------------------------------------------------------------
# Output


def scores_table(
    scores: dict[str, np.ndarray], labels: np.ndarray, anomalous: np.ndarray, classes: tuple[str, ...]
) -> str:
    """CSV text: ``index, label, anomalous`` (0 or 1), then each anomaly score, one row per example."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    keys = list(scores)
    w.writerow(["index", "label", "anomalous", *keys])
    for i in range(len(labels)):
        row = [i, classes[int(labels[i])], int(anomalous[i])]
        w.writerow(row + [repr(float(scores[k][i])) for k in keys])
    return buf.getvalue()


def write_table(path: str | Path, text: str) -> Path:
    path = Path(path)
    with contextlib.suppress(FileExistsError):
        path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, text)

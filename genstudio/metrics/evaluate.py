"""The evaluation driver: sample a model, embed samples and held-out data, compute metrics.

Two entry points:

- :func:`genstudio.runs.evaluation.evaluate_run` evaluates a run's newest checkpoint against
  its held-out split and stores every result in the run store (it lives with the runs, the
  layer above this one);
- :func:`evaluate_model` evaluates a model object already in memory (the training loop calls
  it at intervals; :meth:`EvalReport.scalars` gives ``{key: value}`` to log as scalars).

Metrics are plugins (:class:`genstudio.api.Metric`) that read what they need from an
:class:`EvalContext`; everything there is computed lazily, once. Statistics of real data are
cached per (exact real examples, extractor identity) in ``<workspace>/cache/stats/``.
Progress is reported as ``progress(stage, done, total)``; a callable taking two arguments
gets ``(done, total)``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genstudio.api import (
    ConfigError,
    Dataset,
    DataSpec,
    GenStudioError,
    LoadContext,
    PluginError,
    capabilities,
    inference_mode,
)
from genstudio.host.blame import PluginFailure, blame
from genstudio.metrics.context import EvalContext, StatsCache, as_progress, has_logits

__all__ = [
    "DEFAULT_METRICS",
    "DEFAULT_N",
    "EvalContext",
    "EvalReport",
    "MetricResult",
    "build_extractor",
    "default_extractor",
    "evaluate_model",
    "evaluate_scalars",
]

#: What ``genstudio eval RUN`` computes when no ``--metrics`` are named (each where it applies).
DEFAULT_METRICS = ("fid", "kid", "is", "pr", "dc", "nll", "memo")
DEFAULT_N = 2000


# --------------------------------------------------------------------------------------
# Results


@dataclass
class MetricResult:
    """One metric's figures. ``extractor`` is the identity of the features they were computed
    from (``None`` for metrics that use none, like ``nll``); figures with different
    identities are not comparable."""

    metric: str
    title: str
    values: dict[str, float]
    extractor: str | None
    n: int
    lower_is_better: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "title": self.title,
            "values": self.values,
            "extractor": self.extractor,
            "n": self.n,
            "lower_is_better": self.lower_is_better,
            "details": self.details,
        }


@dataclass
class EvalReport:
    results: list[MetricResult]
    skipped: dict[str, str]
    """Metrics that were not computed, and why."""
    extractor: str | None
    """The extractor's name (``inception-v3``, ``classifier``, ``raw``) or ``None``."""
    extractor_identity: str | None
    n: int
    """Generated samples."""
    n_real: int
    """Held-out real examples compared with them."""
    step: int | None = None
    run_id: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    samples: np.ndarray | None = None
    """The generated samples ``(n, *shape)`` float32, when any were drawn (not serialised)."""

    def scalars(self, prefix: str = "eval/") -> dict[str, float]:
        """``{"eval/fid": ..., "eval/kid": ..., ...}``: every value, for the loss plot."""
        return {f"{prefix}{k}": float(v) for r in self.results for k, v in r.values.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "step": self.step,
            "n": self.n,
            "n_real": self.n_real,
            "extractor": self.extractor,
            "extractor_identity": self.extractor_identity,
            "results": [r.to_dict() for r in self.results],
            "skipped": self.skipped,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------------------
# Choosing extractors and metrics


def default_extractor(host: Any, spec: DataSpec, cache_dir: str | Path | None) -> str | None:
    """Inception-v3 for grey or RGB images of 16 px or more when its weights are here, else
    the data-specific classifier for labelled images, else raw values for vectors."""
    names = host.extractors
    if "inception-v3" in names:
        inc = names.get("inception-v3")
        if getattr(inc, "suits", lambda s: False)(spec) and getattr(inc, "available", lambda c: False)(cache_dir):
            return "inception-v3"
    if spec.kind == "image" and spec.num_classes >= 2 and "classifier" in names:
        return "classifier"
    if spec.kind == "vector" and "raw" in names:
        return "raw"
    if spec.kind == "image" and "inception-v3" in names:
        inc = names.get("inception-v3")
        if inc.check_data(spec) is None and getattr(inc, "available", lambda c: False)(cache_dir):
            return "inception-v3"
    if spec.kind == "image" and "raw" in names:
        return "raw"
    return None


def _missing(requires: Iterable[str], *, caps: set[str], extractor: Any, why_no_extractor: str, has_train: bool) -> str:
    """Why a metric with these requirements cannot be computed, or ``""``."""
    for need in requires:
        if need in ("features", "logits") and extractor is None:
            return why_no_extractor
        if need == "logits" and not has_logits(extractor):
            why = getattr(extractor, "no_logits_reason", "")
            return f"the {extractor.name} extractor ({extractor.identity()}) gives no class logits" + (
                f": {why}" if why else ""
            )
        if need in ("decode", "log_prob", "reconstruct", "encode") and need not in caps:
            return f"the model has no {need}()"
        if need == "train_data" and not has_train:
            return "no training data to compare with"
    return ""


# --------------------------------------------------------------------------------------
# Entry points


@contextlib.contextmanager
def _inference(model: Any, device: torch.device, seed: int) -> Iterator[None]:
    """Eval mode, no gradients, a seeded global RNG that is restored afterwards."""
    with inference_mode(model, device):
        torch.manual_seed(seed)
        yield


def evaluate_model(
    host: Any,
    model: Any,
    data: Dataset,
    *,
    metrics: Iterable[str] | None = None,
    n: int = DEFAULT_N,
    extractor: str | Any | None = None,
    train_index: np.ndarray | None = None,
    val_index: np.ndarray | None = None,
    device: Any = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: Callable[..., None] | None = None,
    batch_size: int | None = None,
) -> EvalReport:
    """Evaluate a model object in memory against ``data``.

    :param metrics: metric names; ``None`` computes :data:`DEFAULT_METRICS` where they apply
        (named metrics that do not apply are reported in ``skipped`` instead).
    :param n: samples to draw; real examples are the first ``n`` of ``val_index`` (all
        examples when no split is given).
    :param extractor: an extractor's name (``None`` picks with :func:`default_extractor`), or
        an extractor object to reuse between calls (the training loop's interval evaluation).
    :param cache_dir: the workspace's cache folder: real statistics and trained classifiers
        are kept there. ``None`` caches nothing.
    :param progress: ``progress(stage, done, total)`` or ``progress(done, total)``.
    """
    started = time.time()
    report_progress = as_progress(progress)
    explicit = metrics is not None
    names = list(dict.fromkeys(m.strip() for m in (metrics if explicit else DEFAULT_METRICS) if m.strip()))
    if not names:
        raise ConfigError("no metrics named")
    if n < 2:
        raise ConfigError(f"-n must be at least 2, not {n}")
    unknown = [m for m in names if m not in host.metrics]
    if unknown:
        raise ConfigError(f"unknown metric {unknown[0]!r}; available: {', '.join(host.metrics.names())}")
    spec = data.spec
    dev = torch.device(device) if device is not None else getattr(model, "device", torch.device("cpu"))
    all_index = np.arange(len(data))
    train_index = all_index if train_index is None else np.asarray(train_index, dtype=np.int64)
    notes: list[str] = []
    held_out = val_index is not None and len(val_index) > 0
    if not held_out:
        val_index = train_index
        notes.append("no held-out split: the real examples come from the training data")
    real_x = data.x[np.asarray(val_index, dtype=np.int64)[:n]]
    if len(real_x) < 2:
        raise ConfigError("fewer than 2 real examples to compare with")
    metric_classes = {m: host.metrics.get(m) for m in names}
    needs_features = any({"features", "logits"} & set(c.requires) for c in metric_classes.values())
    chosen, ex, why_none = extractor, None, ""
    if needs_features and extractor is not None and not isinstance(extractor, str):
        ex, chosen = extractor, extractor.name  # an extractor object, kept by a caller between evaluations
    elif needs_features:
        chosen = extractor or default_extractor(host, spec, cache_dir)
        if chosen is None:
            why_none = f"no feature extractor fits {spec.kind} data shaped {spec.shape}"
        else:
            ex, why_none = build_extractor(host, chosen, spec, dev, cache_dir, explicit=extractor is not None)
    if ex is not None and callable(getattr(ex, "prepare", None)) and not getattr(ex, "prepared", False):
        with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
            ex.prepare(data, train_index, lambda d, t: report_progress("training classifier", d, t))
    if getattr(ex, "accuracy", None) is not None:
        notes.append(f"classifier held-out accuracy {ex.accuracy:.3f}")
    caps = capabilities(model)
    has_train = len(train_index) > 0
    bs = batch_size or (64 if chosen == "inception-v3" else 500)
    cache = StatsCache(Path(cache_dir) / "stats") if cache_dir is not None else None
    ctx = EvalContext(
        model=model,
        spec=spec,
        real_x=real_x,
        train_x=data.x[train_index] if has_train else None,
        train_index=train_index,
        held_out=held_out,
        extractor=ex,
        n=n,
        seed=seed,
        device=dev,
        progress=report_progress,
        cache=cache,
        batch_size=bs,
    )
    results: list[MetricResult] = []
    skipped: dict[str, str] = {}
    with _inference(model, dev, seed):
        for name, cls in metric_classes.items():
            reason = _missing(cls.requires, caps=caps, extractor=ex, why_no_extractor=why_none, has_train=has_train)
            if reason:
                skipped[name] = reason
                continue
            metric = cls()
            try:
                with blame(f"computing metric {name!r}", host.metrics.owner(name), passthrough=(GenStudioError,)):
                    values = metric.compute(ctx)
            except PluginError:  # the model, an extractor or the metric broke: an error, not a skip
                raise
            except GenStudioError as exc:
                skipped[name] = str(exc)
                continue
            uses = bool({"features", "logits"} & set(cls.requires))
            details = dict(ctx.details.get(name, {}))
            if uses:
                details.setdefault("extractor_name", ex.name)
                details.setdefault("n_real", len(real_x))
                if ctx.computed("real") is not None:
                    details.setdefault("real_stats_cached", bool(ctx.real["cached"]))
            results.append(
                MetricResult(
                    metric=name,
                    title=cls.title or name,
                    values={k: float(v) for k, v in values.items()},
                    extractor=ctx.extractor_identity if uses else None,
                    n=int(details.pop("n", n)),
                    lower_is_better=bool(cls.lower_is_better),
                    details=details,
                )
            )
    return EvalReport(
        results=results,
        skipped=skipped,
        extractor=chosen if ex is not None else None,
        extractor_identity=ctx.extractor_identity if ex is not None else None,
        n=n,
        n_real=len(real_x),
        seconds=time.time() - started,
        notes=notes,
        samples=ctx.computed("samples"),
    )


def evaluate_scalars(host: Any, model: Any, data: Dataset, **kwargs: Any) -> dict[str, float]:
    """:func:`evaluate_model`, flattened for the loss plot: ``{"eval/fid": ..., ...}``. For
    evaluation at intervals during training, e.g. ``metrics=["fid"], n=500``; pass the run's
    ``train_index``/``val_index`` and ``cache_dir``, and keep an extractor object between
    calls (``extractor=``) to load it once. Metrics that do not apply are left out."""
    return evaluate_model(host, model, data, **kwargs).scalars()


def build_extractor(
    host: Any, name: str, spec: DataSpec, device: torch.device, cache_dir: Any, *, explicit: bool
) -> tuple[Any | None, str]:
    """An extractor object for ``spec``, or ``(None, why not)``; built once, it can be passed
    to :func:`evaluate_model` again and again (evaluation at intervals does)."""
    cls = host.extractors.get(name)  # ConfigError listing the available ones
    reason = cls.check_data(spec)
    if reason:
        if explicit:
            raise ConfigError(f"--extractor {name}: {reason}")
        return None, reason
    try:
        with blame(f"loading feature extractor {name!r}", host.extractors.owner(name), passthrough=(GenStudioError,)):
            ex = cls(spec, device, LoadContext(cache_dir=Path(cache_dir) if cache_dir is not None else None))
    except GenStudioError as exc:
        if explicit or isinstance(exc, PluginFailure):
            raise
        return None, str(exc)
    return ex, ""

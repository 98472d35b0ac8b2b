"""Evaluating a stored run: its newest checkpoint against its held-out split (the run's
validation split, as :func:`genstudio.data.splits.dataset_split` draws it), every result
stored in the run store with the extractor's identity and the sample count. The metrics
themselves are computed by :func:`genstudio.metrics.evaluate.evaluate_model`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.api import Dataset
from genstudio.data.splits import dataset_split
from genstudio.files import atomic_write
from genstudio.metrics.evaluate import DEFAULT_N, EvalReport, MetricResult, as_progress, evaluate_model
from genstudio.runs.inference import load_model, load_run_data
from genstudio.runs.store import RunStore
from genstudio.runs.workspace import Workspace
from genstudio.training.settings import TrainSettings


def evaluate_run(
    host: Any,
    workspace: Workspace,
    run_ref: int | str,
    *,
    metrics: Iterable[str] | None = None,
    n: int = DEFAULT_N,
    extractor: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    progress: Callable[..., None] | None = None,
    store: bool = True,
    batch_size: int | None = None,
) -> EvalReport:
    """Evaluate a run's newest checkpoint against its held-out split; store the results
    (:meth:`RunStore.add_metric`, at the checkpoint's step) unless ``store`` is false."""
    loaded = load_model(host, workspace, run_ref, device=device)
    run = loaded.run
    report_progress = as_progress(progress)
    data = load_run_data(host, workspace, run, progress=lambda d, t: report_progress("loading data", d, t))
    settings = TrainSettings.from_dict(run.settings)
    train_index, val_index = dataset_split(data, settings.val_fraction, settings.seed)
    report = evaluate_model(
        host,
        loaded.model,
        data,
        metrics=metrics,
        n=n,
        extractor=extractor,
        train_index=train_index,
        val_index=val_index,
        device=loaded.device,
        seed=seed,
        cache_dir=workspace.cache_dir,
        progress=progress,
        batch_size=batch_size,
    )
    report.step, report.run_id = loaded.step, run.id
    memo = next((r for r in report.results if r.metric == "memo"), None)
    if memo is not None and report.samples is not None:
        memo.details["pairs_file"] = str(_save_pairs(workspace.run_dir(run.id), loaded.step, memo, report, data))
    if store:
        rs = RunStore(workspace)
        try:
            for r in report.results:
                details = {**r.details, "title": r.title, "seed": seed, "n_real": r.details.get("n_real")}
                rs.add_metric(run.id, loaded.step, r.metric, r.values, extractor=r.extractor, n=r.n, details=details)
        finally:
            rs.close()
    return report


def _save_pairs(folder: Path, step: int, memo: MetricResult, report: EvalReport, data: Dataset) -> Path:
    """The closest (sample, training example) pairs as ``eval/memo-<step>.npz``: ``samples``
    and ``train`` ``(k, *shape)`` float32, ``train_index`` (into the dataset) and ``distance``."""
    pairs = memo.details.get("closest", [])
    samples = report.samples[[p["sample"] for p in pairs]] if report.samples is not None else np.zeros(0)
    idx = np.array([p["train_index"] for p in pairs], dtype=np.int64)
    arrays = {
        "samples": samples.astype(np.float32),
        "train": data.as_float(idx) if len(idx) else np.zeros(0, np.float32),
        "train_index": idx,
        "distance": np.array([p["distance"] for p in pairs], dtype=np.float64),
    }
    path = folder / "eval" / f"memo-{step:09d}.npz"
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path

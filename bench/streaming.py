"""Streaming from the memory-mapped cache against training from memory, on the same model.

Trains the same family, config and seed twice on the same data (MNIST's 10,000 built-in
images saved as a ``.npy``, memory-mapped): once in memory (the loop's fast path), once with
``GENSTUDIO_MEMORY_BUDGET`` lowered below the data's size so that batches stream from the map
with the background gatherer. The runs alternate (``--rounds`` times each) and the best
steps/s of each is kept, so load from other work on the machine hits both alike.

Writes ``bench/results/streaming.json`` with both rates and their ratio (target >= 0.9).
Run under the bench lock: ``flock /work/wt/bench.lock .venv/bin/python bench/streaming.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench._common import write_result  # noqa: E402


def rate(host, path: Path, model: str, config: dict, steps: int, batch: int, device: str, stream: bool) -> dict:
    from genstudio.data import load_dataset
    from genstudio.data.budget import BUDGET_ENV
    from genstudio.data.streaming import StreamingTensor
    from genstudio.runs.trainer import Trainer
    from genstudio.runs.workspace import Workspace
    from genstudio.training.settings import TrainSettings

    if stream:
        os.environ[BUDGET_ENV] = "1M"
    else:
        os.environ.pop(BUDGET_ENV, None)
    workspace = Workspace(Path(tempfile.mkdtemp(prefix="genstudio-bench-stream-")) / "workspace")
    data = load_dataset(host, str(path), cache_dir=workspace.cache_dir)
    settings = TrainSettings(steps=steps, batch_size=batch, device=device, val_fraction=0.0, sample_every=10**9)
    trainer = Trainer.new(host, workspace, model, data, config=config, settings=settings)
    t_first = step_first = None
    for event in trainer.events():
        if event.type == "failed":
            raise SystemExit(event.message)
        if event.type == "progress" and t_first is None and event.step >= 20:  # after warm-up
            t_first, step_first = time.perf_counter(), event.step
    seconds = time.perf_counter() - t_first
    x_train = trainer.loop.batches.x
    assert isinstance(x_train, StreamingTensor) == stream
    return {"steps_per_second": (trainer.step - step_first) / seconds, "steps": trainer.step - step_first}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="vae")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from genstudio.data import load_dataset
    from genstudio.host import create_plugin_manager

    host = create_plugin_manager(autoload=False)
    mnist = load_dataset(host, "mnist")
    folder = Path(tempfile.mkdtemp(prefix="genstudio-bench-stream-data-"))
    path = folder / "mnist.npy"
    np.save(path, np.ascontiguousarray(mnist.x))  # uint8 (10000, 1, 28, 28), 7.8 MB
    runs: dict[str, list[float]] = {"memory": [], "streaming": []}
    for _ in range(args.rounds):
        for mode in ("memory", "streaming"):
            r = rate(host, path, args.model, {}, args.steps, args.batch_size, args.device, mode == "streaming")
            runs[mode].append(round(r["steps_per_second"], 2))
            print(mode, runs[mode][-1], flush=True)
    best = {k: max(v) for k, v in runs.items()}
    write_result(
        "streaming",
        {
            "model": args.model,
            "config": "the family's defaults",
            "data": "mnist as a memory-mapped .npy (10,000 x 1 x 28 x 28 uint8)",
            "device": args.device,
            "batch_size": args.batch_size,
            "steps_per_run": args.steps,
            "runs_steps_per_second": runs,
            "memory_steps_per_second": best["memory"],
            "streaming_steps_per_second": best["streaming"],
            "ratio": round(best["streaming"] / best["memory"], 3),
            "target_ratio": 0.9,
            "note": "best of alternating rounds; GENSTUDIO_MEMORY_BUDGET=1M forces streaming; CPU shared with other work",
        },
    )


if __name__ == "__main__":
    main()

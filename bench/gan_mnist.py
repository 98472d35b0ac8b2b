"""A DCGAN on MNIST within a CPU time budget, trained through the GenStudio trainer.

Trains the ``gan`` family on the benchmarks' MNIST split (first 8,000 images of the shared
test set; ``bench._common.load_mnist``) for ``--budget`` seconds of training, then writes:

- ``bench/results/gan_mnist.png``: a 10x10 grid of samples from the weight-averaged generator;
- ``bench/results/gan_mnist_samples.npy``: those 100 samples, float32 (100, 1, 28, 28) in [0, 1];
- ``bench/results/gan_mnist.json``: settings, steps trained, steps per second.

Run from the repository root:
``.venv/bin/python bench/gan_mnist.py --budget 600``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench._common import RESULTS, load_mnist, mnist_fid, write_result  # noqa: E402
from genstudio.api import Dataset, DataSpec, config_to_dict  # noqa: E402
from genstudio.data.grid import make_grid, save_png  # noqa: E402
from genstudio.plugins import create_plugin_manager  # noqa: E402
from genstudio.runs.workspace import Workspace  # noqa: E402
from genstudio.training.loop import Trainer  # noqa: E402
from genstudio.training.settings import TrainSettings  # noqa: E402

# DCGAN at width 32 (Radford et al. 2016's recipe, narrower): about 9 GFLOP per step at batch 64,
# so two CPU cores do a few thousand steps in 10 minutes; digit shapes appear within ~500
CONFIG = {"loss": "ns", "latent_dim": 64, "width": 32, "lr_g": 2e-4, "lr_d": 2e-4, "ema_decay": 0.999}
BATCH_SIZE = 64


def mnist_dataset() -> tuple[Dataset, np.ndarray]:
    x_train, y_train, x_test, _ = load_mnist()
    spec = DataSpec("image", (1, 28, 28), len(x_train), classes=tuple(str(i) for i in range(10)), source="mnist-8k")
    return Dataset(np.ascontiguousarray(x_train), y_train, spec), x_test


def train_for(model: str, dataset: Dataset, config: dict, budget: float, **settings) -> tuple[Trainer, dict]:
    """Train through the real trainer until ``budget`` seconds of training have passed."""
    host = create_plugin_manager(autoload=False)
    workspace = Workspace(Path(tempfile.mkdtemp(prefix="genstudio-bench-")) / "workspace")
    # more steps than the budget allows: the run is stopped by the clock (a stop saves a checkpoint)
    settings = TrainSettings(steps=10_000_000, device="cpu", val_fraction=0.0, **settings)
    trainer = Trainer.new(host, workspace, model, dataset, config=config, settings=settings)
    t0 = t_stop = None
    stop_step = 0
    warnings = []
    for event in trainer.events():
        if event.type == "started":
            t0 = time.perf_counter()
        elif event.type == "warning":
            warnings.append(event.message)
        elif event.type == "failed":
            raise SystemExit(f"training failed: {event.message}")
        if t0 is not None and t_stop is None and time.perf_counter() - t0 >= budget:
            trainer.stop()
            t_stop, stop_step = time.perf_counter(), trainer.step
    seconds = (t_stop or time.perf_counter()) - t0
    steps = stop_step if t_stop else trainer.step
    return trainer, {
        "steps": trainer.step,
        "train_seconds": round(seconds, 1),
        "steps_per_second": round(steps / seconds, 2),
        "warnings": warnings,
        "torch_threads": torch.get_num_threads(),
    }


def save_samples(name: str, samples: np.ndarray) -> dict:
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = save_png(RESULTS / f"{name}.png", make_grid(samples, nrow=10), scale=2)
    npy = RESULTS / f"{name}_samples.npy"
    np.save(npy, samples.astype(np.float32), allow_pickle=False)
    return {"grid": str(png.relative_to(ROOT)), "samples": str(npy.relative_to(ROOT))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=600.0, help="Seconds of training (default 600)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dataset, _ = mnist_dataset()
    trainer, run = train_for("gan", dataset, CONFIG, args.budget, batch_size=BATCH_SIZE, seed=args.seed)
    model = trainer.model
    model.eval()
    with torch.no_grad():
        samples = model.sample(100, generator=torch.Generator().manual_seed(args.seed)).numpy()
    files = save_samples("gan_mnist", samples)
    fid = mnist_fid(model, seed=args.seed)
    write_result(
        "gan_mnist",
        {
            "model": "gan",
            "data": "MNIST: first 8,000 images of the shared test set (bench._common.load_mnist)",
            "budget_seconds": args.budget,
            "config": config_to_dict(model.config),
            "batch_size": BATCH_SIZE,
            "seed": args.seed,
            **run,
            "generator_updates": model.g_steps,
            **files,
            **fid,
        },
    )


if __name__ == "__main__":
    main()

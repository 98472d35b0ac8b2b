"""The diffusion model on MNIST: a sample grid after a CPU time budget.

Trains ``genstudio train diffusion`` (the family's defaults: a 32-64-64 channel U-Net, cosine
schedule, T = 1000, EMA of the weights) on the first 8,000 images of the shared MNIST test set
for ``--budget`` seconds of wall time (default 600, the issue's 10 minutes), then draws 64
samples with DDIM (Song et al. 2021, the config's eta, ``--sample-steps`` steps) from the EMA weights
and saves them as ``bench/results/diffusion_mnist.png`` and ``.npy``. The validation L_simple
(Ho et al. 2020, eq. 14) of the last 2,000 images, with t and the noise from a fixed seed, is
recorded beside it, as is the sampling time.

    python bench/diffusion_mnist.py [--budget SECONDS] [--threads N] [--batch-size N] [--sample-steps S] [--width W]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from bench._common import RESULTS, load_mnist, mnist_train_set, train_for, write_result
from genstudio.api import Batch
from genstudio.data.grid import make_grid, save_png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", type=float, default=600.0, help="seconds of training")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--sample-steps", type=int, default=50, help="DDIM steps for the final grid")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--width", type=int, default=0, help="U-Net width (0: the family's default); names the results")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x_test = load_mnist()[2]
    config: dict = {"width": args.width} if args.width else {}  # else the family's defaults
    name = f"diffusion_mnist_width{args.width}" if args.width else "diffusion_mnist"
    # live grids of 8 keep the trainer's sampling (every 15 s at least) from eating the budget
    trainer, run = train_for("diffusion", mnist_train_set(), config, args.budget, batch_size=args.batch_size,
                             val_fraction=0.05, n_samples=8)  # fmt: skip
    trained_s, steps = run["train_seconds"], trainer.step
    model = trainer.model.eval()

    model.config.sample_steps = args.sample_steps
    test = torch.from_numpy(np.array(x_test)).float().div(255.0)
    t1 = time.perf_counter()
    with torch.no_grad():
        losses = [model.evaluate(Batch(c))["loss"] for c in test.split(500)]
    eval_s = time.perf_counter() - t1
    t1 = time.perf_counter()
    with torch.no_grad():
        samples = model.sample(64, torch.Generator().manual_seed(1)).numpy()
    sample_s = time.perf_counter() - t1
    RESULTS.mkdir(parents=True, exist_ok=True)
    grid = RESULTS / f"{name}.png"
    save_png(grid, make_grid(samples, nrow=8), scale=2)
    np.save(RESULTS / f"{name}.npy", samples)
    write_result(
        name,
        {
            "config": config or "defaults",
            "parameters": sum(p.numel() for p in model.net.parameters()),
            "budget_s": args.budget,
            "trained_s": trained_s,
            "steps": steps,
            "batch_size": args.batch_size,
            "epochs": steps * args.batch_size / (0.95 * 8000),
            "steps_per_s": steps / trained_s,
            "test_l_simple": float(np.mean(losses)),
            "test_set": "last 2,000 MNIST test images; t and noise from seed 0 per chunk of 500",
            "sampler": f"{model.config.sampler}, eta {model.config.eta}, {args.sample_steps} steps, EMA weights",
            "eval_s": eval_s,
            "sample_s": sample_s,
            "grid": str(grid.relative_to(RESULTS.parent.parent)),
            "samples": f"bench/results/{name}.npy",
        },
    )


if __name__ == "__main__":
    main()

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench._common import mnist_fid, mnist_train_set, save_samples, train_for, write_result  # noqa: E402
from genstudio.api import config_to_dict  # noqa: E402

# DCGAN at width 32 (Radford et al. 2016's recipe, narrower): about 9 GFLOP per step at batch 64,
# so two CPU cores do a few thousand steps in 10 minutes; digit shapes appear within ~500
CONFIG = {"loss": "ns", "latent_dim": 64, "width": 32, "lr_g": 2e-4, "lr_d": 2e-4, "ema_decay": 0.999}
BATCH_SIZE = 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=600.0, help="Seconds of training (default 600)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dataset = mnist_train_set()
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

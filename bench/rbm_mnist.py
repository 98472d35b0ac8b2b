"""A restricted Boltzmann machine on binarised MNIST within a CPU time budget, with its AIS likelihood.

Trains the ``rbm`` family (500 hidden units, PCD-1) on the benchmarks' MNIST split (first 8,000
images of the shared test set for training, last 2,000 for testing; ``bench._common.load_mnist``)
through the GenStudio trainer for ``--budget`` seconds, then estimates log Z by annealed
importance sampling and reports the average test log-likelihood in nats. Writes:

- ``bench/results/rbm_mnist.png``: a 10x10 grid of samples (visible probabilities after
  ``gibbs_steps`` Gibbs steps from the data's marginals);
- ``bench/results/rbm_mnist_samples.npy``: those 100 samples, float32 (100, 1, 28, 28) in [0, 1];
- ``bench/results/rbm_mnist.json``: settings, steps, steps per second, AIS log Z with a
  +-3 standard error bracket, train and test log-likelihoods, and the published figure.

Training pixels are binarised stochastically afresh each step (x ~ Bernoulli(intensity)); the
test images are binarised the same way once, with a fixed seed, so every run scores the same
binary vectors. Run from the repository root: ``.venv/bin/python bench/rbm_mnist.py --budget 600``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench._common import load_mnist, mnist_fid, mnist_train_set, save_samples, train_for, write_result  # noqa: E402
from genstudio.api import config_to_dict  # noqa: E402

# 500 hidden units as in Salakhutdinov and Murray 2008; PCD-1 (Tieleman 2008) gives samples that
# look like digits within minutes, where CD-1's fantasies stay blurred
CONFIG = {
    "hidden": 500,
    "method": "pcd",
    "k": 1,
    "n_chains": 100,
    "lr": 0.01,
    "momentum": 0.5,
    "binarize": "stochastic",
}
BATCH_SIZE = 100
PUBLISHED = {
    "published_nats": -86.3,
    "published_source": (
        "Salakhutdinov and Murray 2008, 'On the quantitative analysis of deep belief networks', ICML: "
        "an RBM with 500 hidden units trained by CD-25, -86.34 nats (AIS) on the MNIST test set"
    ),
    "setup_differences": (
        "published: 60,000 training images, CD-25, hundreds of epochs with a decaying learning rate, "
        "10,000 test images, 14,500 AIS temperatures; here: 8,000 training images, PCD-1, a fixed "
        "CPU time budget, 2,000 test images (the last of the MNIST test set), fewer AIS temperatures"
    ),
}


def binarise(x: np.ndarray, seed: int) -> torch.Tensor:
    """uint8 images -> float32 binary tensor, each pixel ~ Bernoulli(intensity), from a fixed seed."""
    p = x.astype(np.float32) / 255.0
    return torch.from_numpy((np.random.default_rng(seed).random(p.shape) < p).astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budget", type=float, default=600.0, help="Seconds of training (default 600)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ais-betas", type=int, default=10_000, help="AIS temperatures")
    parser.add_argument("--ais-runs", type=int, default=100, help="AIS runs")
    args = parser.parse_args()
    dataset, x_test = mnist_train_set(), load_mnist()[2]
    # 16 samples per live grid keep the trainer's every-15-seconds sampling cheap
    trainer, run = train_for("rbm", dataset, CONFIG, args.budget, batch_size=BATCH_SIZE, seed=args.seed, n_samples=16)
    model = trainer.model
    model.eval()
    with torch.no_grad():
        samples = model.sample(100, generator=torch.Generator().manual_seed(args.seed)).numpy()
        files = save_samples("rbm_mnist", samples)
        t0 = time.perf_counter()
        log_z, log_w = model.ais_log_partition(betas=args.ais_betas, runs=args.ais_runs, seed=args.seed)
        ais_seconds = time.perf_counter() - t0
        # +-3 standard errors of the mean importance weight, in log space (Salakhutdinov and Murray 2008)
        top = float(log_w.max())
        w = (log_w - top).exp()
        mean, se = float(w.mean()), float(w.std() / math.sqrt(len(w)))
        base = log_z - math.log(mean)
        # the lower end is -inf (None) when the weights are too uneven for 3 standard errors
        low = base + math.log(mean - 3 * se) if mean > 3 * se else None
        bracket = [low, base + math.log(mean + 3 * se)]
        test = binarise(x_test, seed=12345)
        train = binarise(dataset.x[:2000], seed=12345)
        test_ll = float((-model.free_energy(test.view(-1, 1, 28, 28)) - log_z).mean())
        train_ll = float((-model.free_energy(train.view(-1, 1, 28, 28)) - log_z).mean())
    fid = mnist_fid(model, seed=args.seed)
    write_result(
        "rbm_mnist",
        {
            "model": "rbm",
            "data": "MNIST: first 8,000 images of the shared test set for training, last 2,000 for testing",
            "binarisation": "training: stochastic, fresh each step; test: stochastic once, numpy seed 12345",
            "budget_seconds": args.budget,
            "config": config_to_dict(model.config),
            "batch_size": BATCH_SIZE,
            "seed": args.seed,
            **run,
            **files,
            **fid,
            "ais": {
                "betas": args.ais_betas,
                "runs": args.ais_runs,
                "log_z": round(log_z, 3),
                "log_z_minus_3se": None if bracket[0] is None else round(bracket[0], 3),
                "effective_runs": round(float(w.sum() ** 2 / w.pow(2).sum()), 1),
                "log_z_plus_3se": round(bracket[1], 3),
                "seconds": round(ais_seconds, 1),
            },
            "test_log_likelihood_nats": round(test_ll, 2),
            "train_log_likelihood_nats": round(train_ll, 2),
            **PUBLISHED,
        },
    )


if __name__ == "__main__":
    main()

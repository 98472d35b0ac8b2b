"""The VAE on MNIST: test log-likelihood after a CPU time budget, and a sample grid.

Trains ``genstudio train vae --binarize`` on the first 8,000 images of the shared MNIST test
set for ``--budget`` seconds of wall time (default 300, the issue's 5 minutes), then
estimates the log-likelihood of the last 2,000 images, stochastically binarised once with a
fixed seed, with the importance-weighted bound of Burda et al. (2016) and K samples.

For scale: Burda et al. (2016, table 1) report -86.76 nats (VAE, K=5000) and -82.90 (IWAE)
after 3,280 epochs on the full 60,000 binarised training images. Five minutes on 8,000
images is far from that; the figure shows where the budget gets.

    python bench/vae_mnist.py [--budget SECONDS] [--k K] [--arch conv|mlp]
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
from genstudio.data.grid import make_grid, save_png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget", type=float, default=300.0, help="seconds of training")
    ap.add_argument("--k", type=int, default=1000, help="importance samples for the test log-likelihood")
    ap.add_argument("--arch", default="conv", choices=("conv", "mlp"))
    ap.add_argument("--latent-dim", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args()
    x_test = load_mnist()[2]
    config = {"arch": args.arch, "binarize": True, "latent_dim": args.latent_dim, "lr": 1e-3}
    trainer, run = train_for(
        "vae", mnist_train_set(), config, args.budget, batch_size=args.batch_size, val_fraction=0.05
    )
    trained_s, steps = run["train_seconds"], trainer.step
    model = trainer.model
    model.eval()
    val = trainer.store.scalars(trainer.run.id, ["val/nelbo"])["val/nelbo"][1]

    g = torch.Generator().manual_seed(0)
    test = torch.bernoulli(torch.from_numpy(x_test).float().div(255.0), generator=g)
    torch.manual_seed(0)
    t1 = time.perf_counter()
    with torch.no_grad():
        ll = torch.cat([model.log_prob(chunk, k=args.k) for chunk in test.split(100)])
        mu, _ = model._posterior(test)
        elbo = torch.cat([model._elbo_terms(c)[0] - model._elbo_terms(c)[1] for c in test.split(500)])
        samples = model.sample(64, generator=torch.Generator().manual_seed(1)).numpy()
    eval_s = time.perf_counter() - t1
    grid = RESULTS / "vae_mnist.png"
    save_png(grid, make_grid(samples, nrow=8), scale=2)
    np.save(RESULTS / "vae_mnist_samples.npy", samples)
    write_result(
        "vae_mnist",
        {
            "config": config,
            "budget_s": args.budget,
            "trained_s": trained_s,
            "steps": steps,
            "epochs": steps * args.batch_size / (0.95 * 8000),
            "steps_per_s": steps / trained_s,
            "test_log_likelihood_nats": float(ll.mean()),
            "test_log_likelihood_sem": float(ll.std() / len(ll) ** 0.5),
            "test_elbo_nats": float(elbo.mean()),
            "importance_samples": args.k,
            "test_set": "last 2,000 MNIST test images, binarised once with torch.bernoulli, seed 0",
            "last_val_nelbo": float(val[-1]) if len(val) else None,
            "published": {
                "vae_k5000_nats": -86.76,
                "iwae_k50_nats": -82.90,
                "source": "Burda, Grosse and Salakhutdinov 2016, table 1: 3,280 epochs on 60,000 training images",
            },
            "eval_s": eval_s,
            "grid": str(grid.relative_to(RESULTS.parent.parent)),
            "active_units": int((mu.var(0) > 0.01).sum()),
        },
    )


if __name__ == "__main__":
    main()

"""GenStudio against the pytorch/examples VAE loop, same network, same data, same process.

pytorch/examples' ``vae/main.py`` trains an MLP VAE (784-400-20, 20-400-784) with Adam 1e-3,
batch 128, feeding it with a DataLoader. Here its loop runs over a DataLoader on a
TensorDataset of the MNIST images (the issue's baseline), against ``genstudio train vae
--arch mlp --hidden 400 --hidden-layers 1 --latent-dim 20 --batch-size 128`` (the same
network), whose data sits on the device and is batched by index.

Target (issue 2): GenStudio at least 1.2 times faster in steps per second on this CPU.

    python bench/vae_vs_examples.py [--epochs N] [--repeats R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from bench._common import load_mnist, write_result
from genstudio.api import Dataset, DataSpec
from genstudio.host import create_plugin_manager
from genstudio.runs.trainer import Trainer
from genstudio.runs.workspace import Workspace
from genstudio.training.settings import TrainSettings

NETWORK = {"arch": "mlp", "hidden": 400, "hidden_layers": 1, "latent_dim": 20, "lr": 1e-3}


class ExamplesVAE(nn.Module):
    """pytorch/examples vae/main.py, as published."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def examples_loop(x_float: torch.Tensor, y: torch.Tensor, epochs: int) -> tuple[float, int]:
    torch.manual_seed(0)
    model = ExamplesVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x_float, y), batch_size=128, shuffle=True)
    model.train()
    steps = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        train_loss = 0.0
        for data, _ in loader:
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            steps += 1
    return steps / (time.perf_counter() - t0), steps


def genstudio_loop(host, data: Dataset, steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = TrainSettings(steps=steps, batch_size=128, device="cpu", val_fraction=0.0)
        trainer = Trainer.new(host, Workspace(tmp), "vae", data, config=NETWORK, settings=settings)
        t0 = None
        for event in trainer.events():
            if event.type == "started":
                t0 = time.perf_counter()
            elif event.type == "failed":
                raise RuntimeError(event.message)
        rate = steps / (time.perf_counter() - t0)
        trainer.store.close()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    x, y, _, _ = load_mnist()
    x_float = torch.from_numpy(x).float().div(255.0)
    y_t = torch.from_numpy(y)
    data = Dataset(x, y, DataSpec("image", (1, 28, 28), len(x), classes=tuple("0123456789"), source="mnist-8000"))
    host = create_plugin_manager(autoload=False)
    examples_loop(x_float[:1024], y_t[:1024], 1)  # warm-up
    theirs, ours = [], []
    steps = 0
    for _ in range(args.repeats):
        rate, steps = examples_loop(x_float, y_t, args.epochs)
        theirs.append(rate)
        ours.append(genstudio_loop(host, data, steps))
    ratios = [o / t for o, t in zip(ours, theirs)]
    ratio = statistics.median(ratios)
    write_result(
        "vae_vs_examples",
        {
            "network": "MLP VAE 784-400-20 / 20-400-784, Adam 1e-3, batch 128 (pytorch/examples vae/main.py)",
            "data": "MNIST test set, first 8,000 images",
            "baseline": "pytorch/examples loop over DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True)",
            "genstudio": "Trainer with the same network (genstudio train vae --arch mlp --hidden 400 --hidden-layers 1"
            " --latent-dim 20), data on the device batched by index, default logging, grids and checkpoints",
            "steps": steps,
            "examples_steps_per_s": theirs,
            "genstudio_steps_per_s": ours,
            "ratio_each": ratios,
            "ratio_median": ratio,
            "target": 1.2,
            "passed": ratio >= 1.2,
        },
    )


if __name__ == "__main__":
    main()

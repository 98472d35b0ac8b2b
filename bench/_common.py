"""Shared by the benchmarks: where the shared data is, and how results are written.

Every benchmark writes one JSON file to ``bench/results/<name>.json`` with what it measured,
the machine it ran on, and ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SHARED_DATA = Path(os.environ.get("GENSTUDIO_SHARED_DATA", ROOT.parent / "shared" / "data"))
MNIST_IMAGES = SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz"
MNIST_LABELS = SHARED_DATA / "mnist" / "t10k-labels-idx1-ubyte.gz"


def machine() -> dict:
    import torch

    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def write_result(name: str, result: dict) -> Path:
    """Write ``bench/results/<name>.json`` and print it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return path


def load_mnist() -> tuple:
    """The shared MNIST test set split as the benchmarks agree: first 8,000 train, last 2,000 test.

    Returns ``(x_train, y_train, x_test, y_test)``: uint8 ``(N, 1, 28, 28)`` and int64 ``(N,)``.
    """
    import gzip

    import numpy as np

    with gzip.open(MNIST_IMAGES) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(MNIST_LABELS) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return x[:8000], y[:8000], x[8000:], y[8000:]

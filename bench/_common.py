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


def write_result(name: str, result: dict, quiet: bool = False) -> Path:
    """Write ``bench/results/<name>.json`` and print it (unless ``quiet``)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": machine(), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    if not quiet:
        print(json.dumps(out, indent=2))
    return path


def mnist_train_set():
    """The first 8,000 shared MNIST images, labelled, as a GenStudio Dataset (uint8)."""
    import numpy as np

    from genstudio.api import Dataset, DataSpec

    x, y, _, _ = load_mnist()
    spec = DataSpec("image", (1, 28, 28), len(x), classes=tuple("0123456789"), source="mnist-8000")
    return Dataset(np.ascontiguousarray(x), y, spec)


def train_for(model: str, data, config: dict, budget: float, **settings) -> tuple:
    """Train through GenStudio's own trainer (with its logging, grids and checkpoints) until
    ``budget`` seconds of training have passed; then stop it, which saves a checkpoint.

    :param data: a Dataset, or a source's name. ``settings`` are TrainSettings fields
        (default: CPU, no validation split). Returns ``(trainer, figures)``; the trainer's
        store and model stay usable.
    """
    import tempfile

    import torch

    from genstudio.host import create_plugin_manager
    from genstudio.runs.trainer import Trainer
    from genstudio.runs.workspace import Workspace
    from genstudio.training.settings import TrainSettings

    host = create_plugin_manager(autoload=False)
    workspace = Workspace(Path(tempfile.mkdtemp(prefix="genstudio-bench-")) / "workspace")
    # more steps than the budget allows: the clock stops the run
    settings = TrainSettings(**{"steps": 10_000_000, "device": "cpu", "val_fraction": 0.0, **settings})
    trainer = Trainer.new(host, workspace, model, data, config=config, settings=settings)
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


def save_samples(name: str, samples, nrow: int = 10) -> dict:
    """``bench/results/<name>.png`` (a grid, enlarged twice) and ``<name>_samples.npy``."""
    import numpy as np

    from genstudio.data.grid import make_grid, save_png

    RESULTS.mkdir(parents=True, exist_ok=True)
    png = save_png(RESULTS / f"{name}.png", make_grid(samples, nrow=nrow), scale=2)
    npy = RESULTS / f"{name}_samples.npy"
    np.save(npy, samples.astype(np.float32), allow_pickle=False)
    return {"grid": str(png.relative_to(ROOT)), "samples": str(npy.relative_to(ROOT))}


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


class _RealImages:
    """A stand-in model whose samples are real training images: FID against the held-out
    images then gives the floor a model could reach with these features and this n."""

    def __init__(self, images, spec):
        import torch

        self.images, self.spec, self.device = images, spec, torch.device("cpu")

    def sample(self, n, generator=None):
        import torch

        return torch.from_numpy(self.images[:n].astype("float32") / 255.0)


def mnist_fid(model, n: int = 2000, seed: int = 0) -> dict:
    """FID and KID of ``model``'s samples against the 2,000 held-out MNIST images, on the
    features of the project's classifier extractor trained on the first 8,000 (Inception-v3
    at 299x299 is too slow for a CPU budget); with the same figures for real training images
    in the model's place, the floor."""
    import tempfile

    import numpy as np

    from genstudio.api import Dataset, DataSpec
    from genstudio.host import create_plugin_manager
    from genstudio.metrics.evaluate import evaluate_model

    x_train, y_train, x_test, y_test = load_mnist()
    x = np.concatenate([x_train, x_test])
    spec = DataSpec("image", (1, 28, 28), len(x), classes=tuple("0123456789"), source="mnist-10k")
    data = Dataset(x, np.concatenate([y_train, y_test]), spec)
    host = create_plugin_manager(autoload=False)
    cache = Path(tempfile.mkdtemp(prefix="genstudio-fid-"))
    index = {"train_index": np.arange(8000), "val_index": np.arange(8000, 10000)}
    common = {"metrics": ["fid", "kid"], "n": n, "extractor": "classifier", "cache_dir": cache, "seed": seed}
    report = evaluate_model(host, model, data, **index, **common)
    floor = evaluate_model(host, _RealImages(x_train, spec), data, **index, **common)
    values = {r.metric: r.values for r in report.results}
    floors = {r.metric: r.values for r in floor.results}
    return {
        "fid": values["fid"]["fid"],
        "kid": values["kid"]["kid"],
        "fid_of_real_training_images": floors["fid"]["fid"],
        "kid_of_real_training_images": floors["kid"]["kid"],
        "fid_extractor": report.extractor_identity,
        "fid_n": n,
        "fid_note": "classifier features (GenStudio's, trained on the 8,000 training images); "
        "comparable within this benchmark, not with published Inception FIDs",
    }

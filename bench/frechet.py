"""Frechet distance between two 2048-dimensional statistics: GenStudio against pytorch-fid.

Two feature sets shaped like Inception's pool3 features (5,000 non-negative, correlated
2048-dimensional vectors each, from a seeded random ReLU layer; the second layer perturbed)
give two (mu, sigma) pairs. Both implementations run on the same statistics in the same
process: ``genstudio.metrics.frechet_distance`` (eigenvalues of symmetric matrices) and
pytorch-fid's ``calculate_frechet_distance`` (``scipy.linalg.sqrtm`` of the product). The
target: GenStudio at least 5 times faster, and equal within 1e-6 relative.

Run from the repository root: ``.venv/bin/python bench/frechet.py [--repeats N]``. It needs
the dev set-up's pytorch-fid and scipy; pytorch-fid imports torchvision, which is stubbed
here because ``calculate_frechet_distance`` never uses it. BLAS runs on one thread unless
``OPENBLAS_NUM_THREADS`` says otherwise: on a shared two-core machine, threads that wait
for each other swamp the comparison. The runs of the two alternate, so both see the same
machine.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import os
import statistics
import sys
import time
import types
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads its BLAS

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench._common import write_result  # noqa: E402
from genstudio.metrics import feature_statistics, frechet_distance  # noqa: E402

TARGET_SPEEDUP = 5.0
DIM, N, SEED = 2048, 5000, 0


class _Stub(types.ModuleType):
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        import torch

        obj = type(name, (torch.nn.Module,), {}) if name[:1].isupper() else _Stub(f"{self.__name__}.{name}")
        setattr(self, name, obj)
        return obj


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torchvision":
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Stub(spec.name)

    def exec_module(self, module):
        pass


def pytorch_fid_frechet():
    if importlib.util.find_spec("torchvision") is None:
        sys.meta_path.insert(0, _Finder())
    from pytorch_fid.fid_score import calculate_frechet_distance

    return calculate_frechet_distance


def statistics_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    w = rng.standard_normal((512, DIM)) / np.sqrt(512)
    b = rng.standard_normal(DIM) * 0.1
    w2 = w + 0.05 * rng.standard_normal(w.shape) / np.sqrt(512)
    x1 = np.maximum(rng.standard_normal((N, 512)) @ w + b, 0.0) + 0.01 * rng.standard_normal((N, DIM))
    x2 = np.maximum(rng.standard_normal((N, 512)) @ w2 + b, 0.0) + 0.01 * rng.standard_normal((N, DIM))
    return (*feature_statistics(x1), *feature_statistics(x2))


def timed(fn) -> tuple[float, float]:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        value = float(fn())
    return value, round(time.perf_counter() - t0, 4)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3, help="runs of pytorch-fid (GenStudio runs twice as often)")
    args = p.parse_args()
    reference = pytorch_fid_frechet()
    mu1, s1, mu2, s2 = statistics_pair()
    ours_runs, their_runs = [], []
    for _ in range(args.repeats):  # alternate, so both see the same load
        theirs, seconds = timed(lambda: reference(mu1, s1, mu2, s2))
        their_runs.append(seconds)
        for _ in range(2):
            ours, seconds = timed(lambda: frechet_distance(mu1, s1, mu2, s2))
            ours_runs.append(seconds)
    ours_s, their_s = statistics.median(ours_runs), statistics.median(their_runs)
    rel = abs(ours - theirs) / abs(theirs)
    ratio = their_s / ours_s
    write_result(
        "frechet",
        {
            "dim": DIM,
            "blas_threads": os.environ["OPENBLAS_NUM_THREADS"],
            "features_per_set": N,
            "seed": SEED,
            "genstudio": {"value": ours, "median_s": ours_s, "runs": ours_runs},
            "pytorch_fid": {"value": theirs, "median_s": their_s, "runs": their_runs},
            "relative_difference": rel,
            "ratio": round(ratio, 2),
            "target": TARGET_SPEEDUP,
            "meets_target": bool(ratio >= TARGET_SPEEDUP and rel <= 1e-6),
        },
    )


if __name__ == "__main__":
    main()

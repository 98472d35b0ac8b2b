"""``bench/quality.py`` on a GPU: every image family from its defaults on MNIST, with a budget
sized so that all five together take at most 8 minutes on one GPU (1.2 minutes of training
each, plus sampling, scoring and likelihoods), writing ``bench/results/gpu_quality.json`` and
``gpu_quality_<family>.png`` grids (``gpu_quality_<tag>.json`` with ``--tag``).

Run it by hand where a GPU is lent: ``python bench/gpu_quality.py``. Without CUDA it runs on the
CPU, for a smoke test with a tiny budget: ``python bench/gpu_quality.py --minutes 0.05 --n 100``.
The options are those of ``bench/quality.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench import quality  # noqa: E402

MINUTES = 1.2  # x 5 families = 6 minutes of training; sampling and scoring fill the rest of the 8


def main(argv: list[str] | None = None) -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    argv = list(sys.argv[1:] if argv is None else argv)
    quality.main(argv, name="gpu_quality", device=device, minutes=MINUTES)


if __name__ == "__main__":
    main()

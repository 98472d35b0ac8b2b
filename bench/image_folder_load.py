"""Loading an image folder: the first load decodes and writes the cache, later loads hit it.

Writes the 10,000 MNIST test images as 28x28 grayscale PNGs into class folders 0..9 in a
temporary folder, then loads that folder through ``load_dataset`` with a cache folder: once
cold (scan, decode in threads, cache write) and three times warm (scan, stat, memory-map).
The target is a warm load under one second.

Run from the repository root: ``.venv/bin/python bench/image_folder_load.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench._common import MNIST_IMAGES, write_result  # noqa: E402
from genstudio.data import load_dataset  # noqa: E402
from genstudio.host import create_plugin_manager  # noqa: E402

TARGET_SECOND_LOAD_S = 1.0
REPEATS = 3


def write_pngs(folder: Path, x: np.ndarray, y: np.ndarray) -> None:
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True)
    for i, (image, label) in enumerate(zip(x, y)):
        Image.fromarray(image[0]).save(folder / str(int(label)) / f"{i:05d}.png")


def main() -> None:
    host = create_plugin_manager(builtins=("genstudio.data.formats",), autoload=False)
    mnist = load_dataset(host, str(MNIST_IMAGES))
    with tempfile.TemporaryDirectory(prefix="genstudio-bench-") as tmp:
        folder, cache = Path(tmp) / "mnist-png", Path(tmp) / "cache"
        t0 = time.perf_counter()
        write_pngs(folder, mnist.x, mnist.y)
        write_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        first = load_dataset(host, str(folder), cache_dir=cache)
        first_s = time.perf_counter() - t0

        seconds = []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            second = load_dataset(host, str(folder), cache_dir=cache)
            seconds.append(time.perf_counter() - t0)

        # the folder holds the images in class order: compare as sets of (label, image) pairs
        order = np.argsort(mnist.y, kind="stable")
        same = bool(
            np.array_equal(first.x, mnist.x[order])
            and np.array_equal(second.x, first.x)
            and np.array_equal(second.y, mnist.y[order])
        )

    median, worst = statistics.median(seconds), max(seconds)
    write_result(
        "image_folder_load",
        {
            "images": len(first),
            "image_shape": list(first.spec.shape),
            "write_pngs_s": round(write_s, 3),
            "first_load_s": round(first_s, 3),
            "second_load_s": {
                "median": round(median, 4),
                "max": round(worst, 4),
                "runs": [round(s, 4) for s in seconds],
            },
            "ratio_first_to_second": round(first_s / median, 1),
            "same_data": same,
            "target_second_load_s": TARGET_SECOND_LOAD_S,
            "passed": bool(same and worst < TARGET_SECOND_LOAD_S),
        },
    )


if __name__ == "__main__":
    main()

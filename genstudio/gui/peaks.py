"""Peak downsampling in time proportional to the pixels drawn, not to the points held.

A :class:`Pyramid` keeps the minimum and maximum of a growing series over blocks of 4, 16,
64, ... points, updating only the blocks that new points touch. Drawing a span of a million
points then reads one level's few thousand minima and maxima: the envelope pyqtgraph's
``peak`` mode would compute, without scanning the million points every frame. No point is
dropped from the data; a zoomed-in view draws the points themselves.
"""

from __future__ import annotations

import math

import numpy as np

FACTOR = 4


class Pyramid:
    def __init__(self) -> None:
        self.mins: list[np.ndarray] = []  # level k + 1 holds blocks of FACTOR ** (k + 1) points
        self.maxs: list[np.ndarray] = []
        self.counts: list[int] = []

    def clear(self) -> None:
        self.mins.clear()
        self.maxs.clear()
        self.counts.clear()

    def update(self, y: np.ndarray, n: int, start: int) -> None:
        """Bring every level up to date after ``y[start:n]`` was written (``y`` holds ``n`` points)."""
        src_min, src_max = y, y
        size, first = n, start
        level = 0
        while size > FACTOR:
            b0, b1 = first // FACTOR, -(-size // FACTOR)
            if level == len(self.mins):
                self.mins.append(np.empty(max(16, b1 * 2)))
                self.maxs.append(np.empty(max(16, b1 * 2)))
                self.counts.append(0)
                b0 = 0
            if len(self.mins[level]) < b1:
                for store in (self.mins, self.maxs):
                    grown = np.empty(b1 * 2)
                    grown[: self.counts[level]] = store[level][: self.counts[level]]
                    store[level] = grown
            lo = b0 * FACTOR
            full = (size - lo) // FACTOR
            if full:
                end = lo + full * FACTOR
                self.mins[level][b0 : b0 + full] = src_min[lo:end].reshape(full, FACTOR).min(axis=1)
                self.maxs[level][b0 : b0 + full] = src_max[lo:end].reshape(full, FACTOR).max(axis=1)
            if b0 + full < b1:  # a last, partial block
                self.mins[level][b1 - 1] = src_min[lo + full * FACTOR : size].min()
                self.maxs[level][b1 - 1] = src_max[lo + full * FACTOR : size].max()
            self.counts[level] = b1
            src_min, src_max = self.mins[level], self.maxs[level]
            size, first = b1, b0
            level += 1

    def envelope(self, x: np.ndarray, y: np.ndarray, lo: int, hi: int, budget: int) -> tuple[np.ndarray, np.ndarray]:
        """What to draw for points ``lo:hi``: the points themselves when there are at most
        ``budget``, else each block's minimum and maximum at the block's first x."""
        count = hi - lo
        if count <= budget or not self.mins:
            return x[lo:hi], y[lo:hi]
        level = min(len(self.mins), max(1, math.ceil(math.log(count / budget, FACTOR))))
        block = FACTOR**level
        b0, b1 = lo // block, min(-(-hi // block), self.counts[level - 1])
        starts = np.arange(b0, b1) * block
        xs = np.repeat(x[starts], 2)
        ys = np.empty(2 * (b1 - b0))
        ys[0::2] = self.mins[level - 1][b0:b1]
        ys[1::2] = self.maxs[level - 1][b0:b1]
        return xs, ys

    def bounds(self, y: np.ndarray, n: int) -> tuple[float, float]:
        """The minimum and maximum of all ``n`` points, from the coarsest level."""
        if not self.mins:
            finite = y[:n][np.isfinite(y[:n])]
            return (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        top = len(self.mins) - 1
        mins, maxs = self.mins[top][: self.counts[top]], self.maxs[top][: self.counts[top]]
        return float(np.nanmin(mins)), float(np.nanmax(maxs))

"""Batches by index from data held on the training device: no DataLoader.

The training split is moved to the device once (uint8 images stay uint8 there: four times less
memory, and the conversion to float runs on the device). Each epoch is a seeded permutation;
a batch is an ``index_select`` of it. Under torchrun every process takes its own part of each
span of ``batch_size * world_size`` examples, so the processes together see what one process
with the combined batch would.

This is the one place batches are made: data larger than memory streams in here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genstudio.api import Batch, Dataset
from genstudio.data.budget import needs_streaming
from genstudio.data.streaming import StreamingTensor


class Batches:
    """Endless batches of the examples ``index`` of ``dataset``, on ``device``.

    ``batch_size`` is per process; images come as ``(B, C, H, W)`` float32 in [0, 1]."""

    def __init__(
        self,
        dataset: Dataset,
        index: np.ndarray,
        batch_size: int,
        device: torch.device,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        streaming = needs_streaming(dataset.x, device)
        self.x, self.y = _to_device(dataset, index, device, labels_only=streaming)
        if streaming:  # larger than the memory budget: batches stream from the memory map
            self.x = StreamingTensor(dataset.x, index, device)
        self.n = len(self.x)
        self.batch_size = min(batch_size, self.n // world_size)
        self.rank = rank
        self.span = self.batch_size * world_size
        gen_device = device if device.type == "cuda" else torch.device("cpu")
        self.gen = torch.Generator(device=gen_device)
        self.gen.manual_seed(seed)
        self.perm = torch.zeros(0, dtype=torch.long, device=gen_device)
        self.pos = self.n  # the first batch draws the first permutation

    @property
    def per_epoch(self) -> int:
        """Steps in one pass over the split (the last partial span is dropped)."""
        return max(1, self.n // self.span)

    def next(self) -> Batch:
        if self.pos + self.span > self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=self.gen, device=self.gen.device), 0
        idx = self.perm[self.pos + self.rank * self.batch_size : self.pos + (self.rank + 1) * self.batch_size]
        self.pos += self.span
        if isinstance(self.x, StreamingTensor):  # larger than memory: gather the next batches ahead
            self.x.plan(self.perm, self.pos + self.rank * self.batch_size, self.span, self.batch_size)
        xb = self.x.index_select(0, idx)
        if xb.dtype == torch.uint8:
            xb = xb.float().mul_(1.0 / 255.0)
        return Batch(xb, None if self.y is None else self.y.index_select(0, idx))

    def state(self) -> dict[str, Any]:
        """Where the batches are, for a checkpoint: the permutation, the position in it and the
        generator's state."""
        return {"perm": self.perm, "pos": self.pos, "gen": self.gen.get_state()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"].cpu())
        self.perm, self.pos = state["perm"].to(self.gen.device), int(state["pos"])


def held_out(dataset: Dataset, index: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The examples ``index`` on ``device`` as the dataset stores them (for validation)."""
    return _to_device(dataset, index, device)


def _to_device(
    dataset: Dataset, index: np.ndarray, device: torch.device, labels_only: bool = False
) -> tuple[Any, torch.Tensor | None]:
    y = None if dataset.y is None else torch.from_numpy(dataset.y[index].astype(np.int64)).to(device)
    if labels_only:
        return None, y
    return torch.from_numpy(np.ascontiguousarray(dataset.x[index])).to(device), y

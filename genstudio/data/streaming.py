"""Data larger than memory: training batches gathered from a memory map in the background.

Data that fits is moved to the device once and batched by index (the loop's fast path). Data
larger than the memory budget (:func:`genstudio.data.budget.memory_budget`) stays where it
is, in a memory-mapped file (a ``.npy``, the image folder's cache, the IDX cache written by
:mod:`genstudio.data.idx`), and :class:`StreamingTensor` stands in for the training tensor:
the loop tells it where it is in its permutation (:meth:`StreamingTensor.plan`) and a
background thread gathers the next batches from the map while the model trains on this
one. On CUDA a batch is gathered into pinned host memory and copied on a side stream with
``non_blocking=True``, so the copy overlaps the previous step.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import numpy as np
import torch

#: Batches gathered ahead of the one the model trains on.
DEPTH = 4


class StreamingTensor:
    """The training examples ``source[rows]``, gathered batch by batch onto ``device``.

    Supports what the loop asks of its training tensor: ``len``, ``dtype``, ``shape`` and
    ``index_select(0, idx)`` with ``idx`` positions in ``rows`` (a slice of the loop's
    permutation). Batches announced by :meth:`plan` are gathered ahead in a background thread.

    :param source: ``(N, *shape)`` array, typically a read-only ``np.memmap``.
    :param rows: indices into ``source`` of the training examples, ``(n_train,)``.
    """

    def __init__(self, source: np.ndarray, rows: np.ndarray, device: torch.device, depth: int = DEPTH):
        self.source, self.rows, self.device, self.depth = source, np.asarray(rows, dtype=np.int64), device, depth
        self.dtype = torch.uint8 if source.dtype == np.uint8 else torch.float32
        self.shape = (len(self.rows), *source.shape[1:])
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="genstudio-stream")
        self._perm: torch.Tensor | None = None
        self._perm_np: np.ndarray | None = None
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._cuda = device.type == "cuda"
        self._stream = torch.cuda.Stream(device) if self._cuda else None
        self.gathered = 0
        """Batches gathered in the background and used (for tests and benchmarks)."""

    def __len__(self) -> int:
        return len(self.rows)

    def plan(self, perm: torch.Tensor, start: int, span: int, size: int) -> None:
        """The loop's next batches are ``perm[start + k * span : ... + size]``: gather up to
        :data:`DEPTH` of them ahead (a new permutation drops what was gathered for the old)."""
        if perm is not self._perm:
            self._perm, self._perm_np = perm, perm.cpu().numpy()
            self._cancel()
        for k in range(self.depth):
            at = start + k * span
            if at + size > len(self._perm_np):
                break
            if at not in self._pending:
                self._pending[at] = self._pool.submit(self._gather, self._perm_np[at : at + size])

    def index_select(self, dim: int, idx: torch.Tensor) -> torch.Tensor:
        """The examples at positions ``idx`` (a slice of the planned permutation, or any
        indices), on the device, in ``idx``'s order."""
        if dim != 0:
            raise ValueError("a streamed tensor is indexed along its first axis only")
        future = None
        if self._perm is not None and idx.device == self._perm.device and idx.numel():
            at = (idx.data_ptr() - self._perm.data_ptr()) // idx.element_size()
            future = self._pending.pop(at, None) if 0 <= at < len(self._perm_np) else None
        if future is not None:
            self.gathered += 1
            out, event = future.result()
        else:
            out, event = self._gather(idx.cpu().numpy())
        if event is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(event)
            out.record_stream(current)  # made on the side stream, used on this one
        return out

    def _gather(self, positions: np.ndarray) -> tuple[torch.Tensor, Any]:
        # sorted reads are sequential in the file; the batch keeps the permutation's order
        rows = self.rows[positions]
        order = np.argsort(rows, kind="stable")
        block = np.empty((len(rows), *self.source.shape[1:]), dtype=self.source.dtype)
        block[order] = self.source[rows[order]]
        host = torch.from_numpy(block)
        if not self._cuda:
            return host, None
        host = host.pin_memory()
        with torch.cuda.stream(self._stream):
            out = host.to(self.device, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self._stream)
        return out, event

    def _cancel(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    def close(self) -> None:
        self._cancel()
        self._pool.shutdown(wait=False)

    def __del__(self) -> None:
        self._pool.shutdown(wait=False)

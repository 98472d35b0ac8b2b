"""How much training data stays in memory: the budget past which it is streamed from a
memory map (:mod:`genstudio.data.streaming`). No torch here, so that reading a file (an IDX
file larger than the budget is cached to disk as it is read) does not import it."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

BUDGET_ENV = "GENSTUDIO_MEMORY_BUDGET"


def parse_bytes(text: str) -> int:
    """``"512M"``, ``"2G"``, ``"1.5GiB"`` or a plain byte count -> bytes."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not m:
        raise ValueError(f"{BUDGET_ENV}={text!r} is not a size such as 512M or 2G")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2)]
    return int(float(m.group(1)) * scale)


def memory_budget(device: Any = None) -> int:
    """Bytes of training data kept in memory: ``GENSTUDIO_MEMORY_BUDGET``, else half the
    machine's RAM (and, on CUDA, at most half the device's free memory). ``device``: a
    ``torch.device`` or None."""
    env = os.environ.get(BUDGET_ENV, "").strip()
    if env:
        return parse_bytes(env)
    try:
        budget = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a modest machine
        budget = 4 << 30
    if device is not None and device.type == "cuda":
        import torch  # a CUDA device: torch is loaded already

        free, _ = torch.cuda.mem_get_info(device)
        budget = min(budget, free // 2)
    return int(budget)


def needs_streaming(x: np.ndarray, device: Any = None) -> bool:
    """Whether examples ``x`` (as stored: uint8 images stay uint8) exceed the memory budget."""
    return int(x.nbytes) > memory_budget(device)

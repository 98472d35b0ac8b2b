"""What a model's ``sample()`` returns, as the host hands samples on."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genstudio.api import DataSpec


def sample_array(out: Any, spec: DataSpec, *, offset: int = 0, temperature: float | None = None) -> np.ndarray:
    """What a model's ``sample()`` returned, as the host hands samples on (``.npy`` files,
    grids, events): ``(N, *spec.shape)`` float32; for images ``(N, C, H, W)`` in [0, 1],
    clamped, since a decoder's means (a Gaussian likelihood's, say) may stray outside.

    Raises :class:`ValueError` when the shape is not the data's (the plugin broke the
    contract), or when a sample holds NaN or infinite values: the message names them
    (numbered from ``offset``) and the ``temperature`` they were drawn at, if given."""
    from genstudio.metrics.core import non_finite_message

    if isinstance(out, torch.Tensor):
        out = out.detach().float()
        bad = non_finite_message(out.cpu().numpy(), offset=offset, temperature=temperature)
        if bad:
            raise ValueError(bad)
        if spec.kind == "image":
            out = out.clamp(0.0, 1.0)
        arr = out.cpu().numpy()
    else:
        arr = np.asarray(out, dtype=np.float32)
        bad = non_finite_message(arr, offset=offset, temperature=temperature)
        if bad:
            raise ValueError(bad)
        if spec.kind == "image":
            arr = np.clip(arr, 0.0, 1.0)
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim < 1 or arr.shape[1:] != tuple(spec.shape):
        raise ValueError(f"sample() returned shape {arr.shape}; expected (n, {', '.join(map(str, spec.shape))})")
    return arr

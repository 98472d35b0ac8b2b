"""Arrays into tensors, one way for the metrics, the feature extractors and the evaluation
context. torch is imported on first use, so that registering the extractors stays cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


def to_device_float(x: Any, device: torch.device) -> torch.Tensor:
    """Examples as models and extractors take them: float32 on ``device``, uint8 images scaled
    to [0, 1]."""
    import torch

    if not isinstance(x, torch.Tensor):
        x = np.ascontiguousarray(x)
        # torch warns (on the terminal, once) about a tensor over read-only memory, such as a
        # data set's memory-mapped file; a batch is small, so it is copied instead
        x = torch.from_numpy(x if x.flags.writeable else x.copy())
    x = x.to(device)
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()

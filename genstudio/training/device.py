"""Choosing the training device. Importing this module does not import torch (the command
line's flags and the window's form read :data:`DEVICES` from here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from genstudio.api import ConfigError

if TYPE_CHECKING:
    import torch

#: The devices a person can name; ``auto`` picks CUDA, then MPS, then the CPU. The one list.
DEVICES = ("auto", "cpu", "cuda", "mps")


def mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; a named device that is missing is refused."""
    import torch

    name = (name or "auto").strip().lower()
    base = name.split(":")[0]
    if base not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: CUDA is not available on this machine (this PyTorch build or no GPU)")
    if base == "mps" and not mps_available():
        raise ConfigError("--device mps: Apple's MPS backend is not available on this machine")
    return torch.device(name)


def describe(device: torch.device, threads: int | None = None) -> str:
    """A name for the user: the GPU's name for CUDA; for the CPU, ``threads`` (default: the
    number PyTorch uses now)."""
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    n = threads or torch.get_num_threads()
    return f"cpu ({n} thread{'s' if n != 1 else ''})"

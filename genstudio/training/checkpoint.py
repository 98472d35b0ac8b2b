"""Checkpoints without pickle: tensors in a safetensors file, everything else in a JSON sidecar.

A model's state is a nested structure of dicts, lists, tensors and plain values. It is split
into a flat ``{path: tensor}`` mapping (``module/enc.0.weight``, ``optimizers/opt/state/3/exp_avg``)
and a JSON skeleton where each tensor is replaced by ``{"__tensor__": path}``.

A checkpoint is complete when its JSON sidecar exists: the tensors are written (atomically)
first, the sidecar (atomically) second, and the sidecar records the tensor file's size.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from genstudio.api import CheckpointError
from genstudio.files import atomic_write, atomic_write_text

FORMAT = 1
_NAME = re.compile(r"^step-(\d+)\.json$")


def flatten_state(state: Any) -> tuple[dict[str, torch.Tensor], Any]:
    """Split ``state`` into ``(tensors, skeleton)``; the skeleton is JSON-able."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(obj: Any, path: str) -> Any:
        if isinstance(obj, torch.Tensor):
            tensors[path] = obj
            return {"__tensor__": path}
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj):
                return {k: walk(v, f"{path}/{k}" if path else k) for k, v in obj.items()}
            # optimizer states are keyed by int: keep the keys' types
            return {"__items__": [[k, walk(v, f"{path}/{k}" if path else str(k))] for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            return [walk(v, f"{path}/{i}") for i, v in enumerate(obj)]
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
            return obj.item()
        raise CheckpointError(f"cannot checkpoint a {type(obj).__name__} at {path!r}: only tensors and JSON values")

    return tensors, walk(state, "")


def unflatten_state(tensors: dict[str, torch.Tensor], skeleton: Any) -> Any:
    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            if set(obj) == {"__tensor__"}:
                return tensors[obj["__tensor__"]]
            if set(obj) == {"__items__"}:
                return {k: walk(v) for k, v in obj["__items__"]}
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(skeleton)


def to_device(obj: Any, device: Any) -> Any:
    """A loaded state with every tensor moved to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_device(v, device) for v in obj]
    return obj


def _for_saving(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """On the CPU, contiguous, each owning its memory: safetensors refuses tensors that share
    storage (tied weights) or are views into a larger one."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, t in tensors.items():
        t = t.detach().to("cpu")
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if not t.is_contiguous() or ptr in seen or storage.nbytes() != t.numel() * t.element_size():
            t = t.contiguous().clone()
        if ptr:
            seen.add(ptr)
        out[key] = t
    return out


def checkpoint_paths(folder: Path, step: int) -> tuple[Path, Path]:
    stem = f"step-{step:09d}"
    return folder / f"{stem}.safetensors", folder / f"{stem}.json"


def save_checkpoint(folder: str | Path, step: int, state: Any, meta: dict[str, Any]) -> Path:
    """Write a checkpoint atomically. Returns the sidecar's path."""
    folder = Path(folder)
    tensors, skeleton = flatten_state(state)
    tensor_path, json_path = checkpoint_paths(folder, step)
    data = _for_saving(tensors)
    atomic_write(tensor_path, lambda f: f.write(save(data)))
    sidecar = {
        "format": FORMAT,
        "step": step,
        "tensors": tensor_path.name,
        "tensors_bytes": tensor_path.stat().st_size,
        "state": skeleton,
        **meta,
    }
    atomic_write_text(json_path, json.dumps(sidecar, allow_nan=True))
    return json_path


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in ``folder``, oldest first: ``[(step, sidecar path)]``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def load_checkpoint(json_path: str | Path, device: Any = "cpu") -> tuple[Any, dict[str, Any]]:
    """Read a checkpoint: ``(state, sidecar)``. Raises :class:`CheckpointError` when it is
    incomplete or damaged."""
    json_path = Path(json_path)
    try:
        sidecar = json.loads(json_path.read_text())
        tensor_path = json_path.with_name(sidecar["tensors"])
        size = tensor_path.stat().st_size
        if size != sidecar["tensors_bytes"]:
            raise CheckpointError(
                f"{json_path}: damaged checkpoint: {tensor_path.name} holds {size} bytes, "
                f"not the {sidecar['tensors_bytes']} recorded (truncated?)"
            )
        tensors = load_file(str(tensor_path), device=str(device))
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise CheckpointError(
            f"{json_path}: damaged checkpoint: cannot read it ({type(exc).__name__}: {exc})"
        ) from None
    return unflatten_state(tensors, sidecar["state"]), sidecar


@dataclass
class Found:
    """What :func:`latest_intact` found: the newest checkpoint that loads (``loaded`` is
    ``(state, sidecar)``, or ``None`` when there is none) and why each newer one did not."""

    loaded: tuple[Any, dict[str, Any]] | None
    path: Path | None
    damaged: list[str] = field(default_factory=list)
    """One message per damaged checkpoint, newest first, naming its file and the damage."""

    @property
    def meta(self) -> dict[str, Any]:
        return self.loaded[1] if self.loaded is not None else {}


def latest_intact(folder: str | Path, device: Any = "cpu") -> Found:
    """The newest checkpoint in ``folder`` that loads, naming the damaged ones skipped on the
    way (a truncated tensor file, an unreadable sidecar)."""
    damaged: list[str] = []
    for _, path in reversed(list_checkpoints(folder)):
        try:
            return Found(load_checkpoint(path, device), path, damaged)
        except CheckpointError as exc:
            damaged.append(f"{exc}; skipped")
    return Found(None, None, damaged)


def load_latest(folder: str | Path, device: Any = "cpu") -> tuple[Any, dict[str, Any]] | None:
    """The newest checkpoint in ``folder`` that loads, or ``None``."""
    return latest_intact(folder, device).loaded


def prune(folder: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` checkpoints; returns the removed sidecars."""
    removed = []
    for _, json_path in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        try:
            sidecar = json.loads(json_path.read_text())
            json_path.unlink()  # the sidecar first: a half-deleted checkpoint is an incomplete one
            json_path.with_name(sidecar["tensors"]).unlink(missing_ok=True)
            removed.append(json_path)
        except (OSError, ValueError, KeyError):
            continue
    return removed


__all__ = [
    "Found",
    "flatten_state",
    "latest_intact",
    "list_checkpoints",
    "load_checkpoint",
    "load_latest",
    "prune",
    "save_checkpoint",
    "to_device",
    "unflatten_state",
]

"""Training under ``torchrun``: PyTorch's launcher starts one process per device, and
``genstudio train`` runs unchanged in each.

A family owns its optimizers and its whole training step (a GAN steps two optimizers per
step), so GenStudio cannot route its forward passes through ``DistributedDataParallel``.
It performs the reduction DDP performs instead, with ``torch.distributed``: before any
optimizer of the model steps, the gradients of its parameters are averaged over the
processes (one all-reduce per optimizer step). Every process starts from rank 0's weights
and draws a different part of each batch from the same seeded permutation, so the processes
together train on ``world_size x batch_size`` examples per step, as one process would on the
whole batch. Rank 0 alone writes the run: its record, scalars, samples and checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from genstudio.api import ConfigError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def writer(self) -> bool:
        """Whether this process writes the run (rank 0)."""
        return self.rank == 0


def current() -> World:
    """The world ``torchrun`` describes in the environment (one process without it)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


def device_for(world: World, device: torch.device) -> torch.device:
    """Each process trains on its own GPU; on the CPU they share it."""
    if world.distributed and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def init(world: World, device: torch.device) -> None:
    """Join the process group (NCCL on GPUs, Gloo on the CPU), once."""
    import torch.distributed as dist

    if not world.distributed or dist.is_initialized():
        return
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed: run without torchrun")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def broadcast_int(world: World, value: int) -> int:
    """Rank 0's ``value``, in every process."""
    if not world.distributed:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.long, device=_collective_device())
    dist.broadcast(t, src=0)
    return int(t.item())


def _collective_device() -> torch.device:
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def prepare_model(world: World, model: Any) -> None:
    """Give every process rank 0's weights and average gradients before each optimizer step."""
    if not world.distributed:
        return
    import torch.distributed as dist

    if not isinstance(model, torch.nn.Module):
        raise ConfigError(
            f"{type(model).__name__} is not a torch module: it cannot be trained under torchrun; run it in one process"
        )
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if isinstance(tensor, torch.Tensor):
                dist.broadcast(tensor, src=0)
    for _, optimizer in model.optimizers():
        if isinstance(optimizer, torch.optim.Optimizer):
            optimizer.register_step_pre_hook(_average_gradients)


def _average_gradients(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    import torch.distributed as dist

    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return
    # one collective per optimizer step: flatten, reduce, write back
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def finish(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

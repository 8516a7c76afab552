"""torch.distributed set-up and the few collective helpers the trainer needs.

Launch model: ``torchrun --standalone --nproc_per_node=K`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
(and the rendezvous address) in the environment; a plain ``python`` run has none of them and is rank 0 of
a world of 1 with no process group at all. Backend: NCCL when the process drives a CUDA device, gloo on
CPU and on Windows (NCCL does not exist there).

Seeds: every rank draws its own dropout / ε noise from ``seed + rank`` (``rank_seed``), while model
initialisation uses the shared ``seed`` (DDP also broadcasts rank 0's weights at wrap time).
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["DistInfo", "setup", "cleanup", "is_dist", "rank", "world_size", "is_main", "barrier",
           "all_reduce_sum", "all_reduce_mean", "rank_seed", "seed_everything"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: its global rank, the world size, its local rank and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def setup(prefer_cuda: bool = True) -> DistInfo:
    """Read the torchrun environment, pick the device and start the process group when world > 1."""
    world = _env_int("WORLD_SIZE", 1)
    rank_ = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", 0)
    use_cuda = prefer_cuda and torch.cuda.is_available()
    if use_cuda:
        device = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if use_cuda and sys.platform != "win32" else "gloo"
        dist.init_process_group(backend=backend, rank=rank_, world_size=world)
    return DistInfo(rank=rank_, world_size=world, local_rank=local, device=device)


def cleanup() -> None:
    """Tear the process group down (no-op without one)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_dist() else 0


def world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def is_main() -> bool:
    """True on the process that logs and saves (rank 0)."""
    return rank() == 0


def barrier() -> None:
    if is_dist():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks, in place and returned (identity without a process group)."""
    if is_dist():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean over ranks: ``Σ_r x_r / world``."""
    return all_reduce_sum(tensor).div_(world_size())


def rank_seed(seed: int, rank_: int) -> int:
    """Per-rank seed offset so ranks draw different noise from one ``--seed``."""
    return seed + rank_


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)

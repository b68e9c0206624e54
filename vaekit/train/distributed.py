"""The process group of a ``torchrun`` launch (or a single process), and the few collectives used.

``torchrun --nproc_per_node N -m vaekit train ...`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``;
the trainer then joins a process group (NCCL on CUDA, gloo on CPU). Without those variables
everything here degrades to single-process no-ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def average(self, t: torch.Tensor) -> torch.Tensor:
        """Mean of ``t`` over ranks (a new tensor; ``t`` itself on a single process)."""
        if not self.enabled:
            return t
        t = t.clone()
        dist.all_reduce(t)
        return t / self.world_size

    def any(self, flags: torch.Tensor) -> torch.Tensor:
        """Element-wise logical OR of boolean ``flags`` over ranks (one collective)."""
        if not self.enabled:
            return flags
        t = flags.to(torch.int32)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.bool()

    def gather_objects(self, obj) -> list:
        """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


def setup(device: str = "auto") -> Dist:
    """Join the torchrun process group if there is one and pick this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", device_id=dev if use_cuda else None)
    return Dist(rank, world_size, local_rank, dev)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()

"""Exponential moving average of the generator's weights (what validation and export use)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """A frozen copy of a model whose weights trail the trained ones.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the average
    forgets the random initialisation within the first few hundred steps instead of thousands.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        ema = list(self.model.parameters())
        torch._foreach_lerp_(ema, [p.detach() for p in model.parameters()], 1.0 - decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"weights": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["weights"])
        self.updates = int(state["updates"])

"""Index batches over a training set, as resumable state."""

from __future__ import annotations

import torch


class BatchSampler:
    """Endless index batches: shuffled epochs without replacement, or weighted draws with replacement.

    An iterator whose position is state (``state_dict``), so a resumed run draws exactly the batches an
    uninterrupted one would."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, weights: torch.Tensor | None = None):
        self.n, self.batch_size, self.generator, self.weights = n, batch_size, generator, weights
        self.order, self.position = torch.empty(0, dtype=torch.long), 0

    def __iter__(self):
        return self

    def __next__(self) -> torch.Tensor:
        if self.weights is not None:
            return torch.multinomial(self.weights, self.batch_size, replacement=True, generator=self.generator)
        if self.position + min(self.batch_size, self.n) > len(self.order):  # a new epoch (the tail is dropped)
            self.order, self.position = torch.randperm(self.n, generator=self.generator, device=self.generator.device), 0
        batch = self.order[self.position: self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state_dict(self) -> dict:
        return {"order": self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.position = state["order"], state["position"]

"""The best validation score of a training run so far and a copy of its weights: what early stopping counts from,
and the weights the run returns."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch


@dataclass
class BestWeights:
    """The best validation score so far, the epoch it came at and a copy of that epoch's weights."""

    metric: str  # the validation metric that decides, e.g. "NDCG@10"
    score: float = -math.inf
    epoch: int = 0  # 0 while no evaluated epoch was the best
    metrics: dict[str, float] = field(default_factory=dict)  # every validation metric of that epoch
    state: dict[str, torch.Tensor] | None = None  # a copy of the model's weights (state_dict) at that epoch
    bad_evals: int = 0  # evaluations since the score last improved: early stopping's count
    evaluated_epochs: list[int] = field(default_factory=list)

    def add(self, epoch: int, metrics: dict[str, float], model: torch.nn.Module) -> bool:
        """Count one evaluation; a better score than any before keeps a copy of the weights. True when it improved."""
        self.evaluated_epochs.append(epoch)
        if metrics[self.metric] > self.score:
            self.score, self.epoch, self.metrics, self.bad_evals = metrics[self.metric], epoch, metrics, 0
            self.state = copy.deepcopy(model.state_dict())  # a copy: the model trains on
            return True
        self.bad_evals += 1
        return False

    def keep_latest(self, model: torch.nn.Module) -> None:
        """Keep the weights as they are now: without validation cases there is nothing to choose the best by."""
        self.state = copy.deepcopy(model.state_dict())

    @property
    def still_improving(self) -> bool:
        """The best score came at one of the last two evaluations."""
        return self.epoch in self.evaluated_epochs[-2:]

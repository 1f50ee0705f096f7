"""The learning-rate schedules: warm-up, then a cosine over the planned training, a constant, or halvings on a stall."""

from __future__ import annotations

import math

from ltsi.errors import LTSIError
from ltsi.train_config import TrainConfig

SCHEDULES = ("cosine", "constant", "plateau")


def learning_rate(cfg: TrainConfig, progress: float) -> float:
    """Learning rate at `progress` in [0, 1], the share of the planned training done.

    The plan is `cfg.epochs` epochs, or, with a time budget, whichever of the epochs and the
    budget runs out first: the caller passes max(epochs done / epochs, seconds used / budget), so
    the schedule anneals within the budget instead of being cut off in the middle.
    """
    schedule = cfg.lr_schedule()
    if schedule not in SCHEDULES:
        raise LTSIError(f"Unknown learning-rate schedule {cfg.schedule!r}; use auto or {', '.join(SCHEDULES)}.")
    warmup = min(cfg.warmup_epochs / cfg.epochs, 0.5)  # share of the plan spent warming up
    if progress < warmup:
        return cfg.lr * (0.1 + 0.9 * progress / warmup)
    if schedule in ("constant", "plateau"):  # plateau without a stall: see plateau_learning_rate
        return cfg.lr
    t = min((progress - warmup) / max(1 - warmup, 1e-9), 1.0)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def plateau_learning_rate(cfg: TrainConfig, epochs_done: float, cuts: int) -> float:
    """The "plateau" schedule: warm-up over `warmup_epochs`, then lr halved `cuts` times (at least lr * min_lr_ratio).

    Chosen for training until early stopping: a cosine needs a known end and would either decay to
    ~0 at an arbitrary epoch or stay near its peak; a constant rate never anneals, which costs
    accuracy. Halving on a stall anneals when the validation score says the current rate has done
    its work, so the run ends near where a cosine would have annealed it.
    """
    if cfg.warmup_epochs > 0 and epochs_done < cfg.warmup_epochs:
        return cfg.lr * (0.1 + 0.9 * epochs_done / cfg.warmup_epochs)
    return cfg.lr * max(0.5**cuts, cfg.min_lr_ratio)

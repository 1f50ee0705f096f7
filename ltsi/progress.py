"""What the training loop reports while it runs (`Progress`), and how much longer it takes, in plain words."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Progress:
    epoch: int  # 1-based; 0 before the first epoch
    epochs: int  # the planned most (with until_converged: the safety cap)
    step: int  # batches done in this epoch
    steps: int  # batches per epoch
    loss: float  # mean training loss of this epoch so far
    metrics: dict[str, float] | None  # validation metrics, at the end of an evaluated epoch
    elapsed_s: float
    message: str
    # what `eta_words` needs: measured pace, how the run ends
    epoch_seconds: float = math.nan  # mean seconds of a finished epoch (training + validation); NaN before one
    max_seconds: float | None = None  # the time budget (None = none)
    until_converged: bool = False  # no planned end: early stopping ends it
    patience: int = 0  # evaluations without improvement that end training
    bad_evals: int = 0  # evaluations since the last improvement
    eval_every: int = 1  # epochs between evaluations


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 epoch', '3 epochs', '1,204 batches'."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def fmt_duration(seconds: float) -> str:
    """12 s, 4 min, 1.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def epochs_done(p: Progress) -> float:
    """Epochs done, fractional (0 before the first batch)."""
    return max(p.epoch - 1, 0) + p.step / max(p.steps, 1) if p.epoch >= 1 else 0.0


def fewest_epochs_left(p: Progress) -> float:
    """The fewest epochs before early stopping can end training: the patience left, from the last evaluation."""
    into_epoch = p.step / max(p.steps, 1) if p.step < p.steps else 0.0  # an epoch's last report follows its evaluation
    return max((p.patience - p.bad_evals) * p.eval_every - into_epoch, 0.0)


def eta_words(p: Progress) -> str:
    """How much longer training takes, in plain words, from the measured pace (an estimate, said as one).

    With a plan (epochs, a time budget): at most the time to the last epoch or the end of the budget,
    sooner when early stopping ends it. With `until_converged`: no one knows when the validation score
    stops improving, so the words give the least (`patience` evaluations without improvement from
    now) and the most (the safety cap, or the budget) that it can take.
    """
    if p.epoch < 1 or not math.isfinite(p.epoch_seconds) or p.epoch_seconds <= 0:
        return "Time left: known after the first epoch."
    by_epochs = max(p.epochs - epochs_done(p), 0.0) * p.epoch_seconds
    by_budget = max(p.max_seconds - p.elapsed_s, 0.0) if p.max_seconds else math.inf
    most = min(by_epochs, by_budget)
    ends = "the time budget" if by_budget < by_epochs else None
    if not p.until_converged:
        ends = ends or f"the last of {plural(p.epochs, 'epoch')}"
        return (
            f"At most about {fmt_duration(most)} left ({ends} ends training); sooner if the validation "
            f"score stops improving for {plural(p.patience, 'evaluation')}."
        )
    least = min(fewest_epochs_left(p) * p.epoch_seconds, most)
    ends = ends or f"the safety cap of {plural(p.epochs, 'epoch')}"
    return (
        f"Until the validation score stops improving (patience {p.patience}): at least about "
        f"{fmt_duration(least)} more, at most about {fmt_duration(most)} ({ends})."
    )

"""What to train with: the settings that follow the log and the device, and a measured time estimate.

    plan = plan_training(seqs, split, device="auto", max_seconds=45)
    print("\n".join(plan.reasons))                 # each derived setting and why
    result = train(seqs, split, plan.model_config, plan.train_config)
    estimate_training(seqs, split, plan.model_config, plan.train_config).verdict(45)  # "" or why 45 s is too short

`plan_training` is the one place where defaults are derived from the data: the history window,
the most epochs (with a time budget: so that the learning-rate schedule spans about TARGET_STEPS
optimizer steps on any log; without one: until early stopping, under a safety cap) and full vs
sampled softmax (by catalogue size and device). `default_budget` proposes a time budget from a
measured `TimeEstimate`. Its constants were chosen on the
validation splits of the panel of logs in `bench/panel.py` (README, "Measured"). The estimate runs
a few real training steps and one validation pass, so it measures this machine under its load.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ltsi.batches import NextItemDataset
from ltsi.devices import default_threads, pick_device
from ltsi.model import ModelConfig
from ltsi.progress import Progress, fmt_duration, plural
from ltsi.sequences import Sequences
from ltsi.splits import Split
from ltsi.train import train
from ltsi.train_config import TrainConfig, plateau_evals


@dataclass
class Plan:
    """Configurations for one log, and why each derived setting has its value."""

    model_config: ModelConfig
    train_config: TrainConfig
    reasons: list[str]  # one line per setting that follows the data, the device or the user


# a fixed budget for scripts that want one (bench/time_to_quality.py); the dashboard's Train form proposes a
# budget measured for the log and the machine instead (`default_budget`)
DEFAULT_BUDGET_S = 45

# Constants of `plan_training`, chosen on the validation splits of the panel (bench/panel.py, README)
TARGET_STEPS = 600  # optimizer steps that the schedule spans on a log of any size
MIN_EPOCHS, MAX_EPOCHS = 10, 200
# without a time budget and without chosen epochs, training runs until early stopping; this cap only guards
# against a run that never stops improving (2.5x the most epochs a plan spans), and is reported if reached
SAFETY_EPOCHS = 500
# catalogue size above which sampled softmax (8,192 negatives) replaces the full one. Measured on a 2-core CPU
# (ms per step, full / sampled): 1.7k items 184 / 234, 5.1k 267 / 376, 29.9k 1,002 / 349, 57.6k 524 / 107 (a
# sparser log); the full softmax is kept up to where sampling is clearly faster, as it ranks slightly better.
SAMPLED_ABOVE = {"cpu": 20_000, "cuda": 200_000}


def plan_training(
    seqs: Sequences,
    split: Split,
    device: str = "auto",
    max_seconds: float | None = None,
    model: dict | None = None,
    train: dict | None = None,
    until_converged: bool = False,
) -> Plan:
    """The defaults for this log and device: everything that should follow the data is decided here.

    `model` / `train`: settings the user chose (ModelConfig / TrainConfig field -> value); they win
    over the derived ones and are reported as chosen. Without a time budget, the epochs are planned so that a
    cosine schedule spans about TARGET_STEPS steps (the setting measured on the panel of logs), or, with
    `until_converged` (the dashboard's "budget 0"), training runs until early stopping under a safety cap.
    """
    model, train = dict(model or {}), dict(train or {})
    reasons = []
    lengths = np.asarray(split.train_ends)  # (U,) training events per user
    if "max_len" not in model:
        p90 = int(np.percentile(lengths, 90)) if len(lengths) else 0
        model["max_len"] = int(min(50, max(10, math.ceil(p90 / 10) * 10)))
        reasons.append(
            f"history window {plural(model['max_len'], 'event')}: "
            + (
                f"90% of users have at most {p90} training events, and a longer window would be mostly padding"
                if model["max_len"] < 50
                else f"the most it reads (90% of users have up to {p90} training events)"
            )
        )
    else:
        reasons.append(f"history window {plural(model['max_len'], 'event')}: chosen by you")
    model.setdefault("short_window", min(ModelConfig.short_window, model["max_len"]))
    model_config = ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types), **model)

    batch_size = train.get("batch_size", TrainConfig.batch_size)
    windows = int(np.ceil(np.clip(lengths - 1, 0, None) / model_config.max_len).sum())  # as NextItemDataset cuts them
    steps = max(1, math.ceil(windows / batch_size))
    patience = train.get("patience", TrainConfig.patience)
    scheduled = int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps))))  # ~TARGET_STEPS steps
    if "epochs" not in train and max_seconds is None and until_converged:
        train["epochs"], train["until_converged"] = SAFETY_EPOCHS, True
        train.setdefault("min_epochs", scheduled)
        reasons.append(
            f"at least {plural(train['min_epochs'], 'epoch')} (about {TARGET_STEPS:,} steps) and at most "
            f"{SAFETY_EPOCHS}, a safety cap: with no time budget, training then runs until the validation score "
            f"has not improved for {plural(patience, 'evaluation')}, and the learning rate is halved each time "
            f"it stalls for {plural(plateau_evals(patience), 'evaluation')}"
        )
    elif "epochs" not in train:
        train["epochs"] = scheduled
        reasons.append(
            f"at most {plural(train['epochs'], 'epoch')}: {plural(steps, 'batch', 'batches')} per epoch, "
            f"and the learning-rate schedule spans about {TARGET_STEPS:,} steps (early stopping may end "
            "sooner)"
        )
    else:
        reasons.append(f"at most {plural(train['epochs'], 'epoch')}: chosen by you")
    kind = pick_device(device).type
    if "sampled_softmax" not in train:
        threshold = SAMPLED_ABOVE.get(kind, SAMPLED_ABOVE["cuda"])
        train["sampled_softmax"] = model_config.n_items - 1 > threshold
        reasons.append(
            f"{'sampled' if train['sampled_softmax'] else 'full'} softmax: {model_config.n_items - 1:,} "
            f"items on {kind} ({'above' if train['sampled_softmax'] else 'at most'} {threshold:,}, where "
            "scoring every item in training becomes slower than scoring a sample)"
        )
    if max_seconds is not None:
        reasons.append(f"time budget {max_seconds:g} s: the learning rate anneals within it")
    if kind == "cpu":
        threads = train.get("threads") or default_threads()
        how = "" if train.get("threads") else " (one per available core, at most 8)"
        reasons.append(f"{plural(threads, 'CPU thread')}{how}: on a busy machine fewer are often faster")
    train_config = TrainConfig(device=device, max_seconds=max_seconds, **train)
    return Plan(model_config, train_config, reasons)


MIN_USEFUL_EPOCHS = 3  # fewer passes than this over the data leave LTSI close to where it started


@dataclass
class TimeEstimate:
    """Measured cost of training one log with one configuration on this machine."""

    step_seconds: float  # one optimizer step (a batch), measured after the first
    steps_per_epoch: int
    eval_seconds: float  # one validation pass
    epochs: int  # the planned most

    @property
    def epoch_seconds(self) -> float:
        return self.steps_per_epoch * self.step_seconds + self.eval_seconds

    @property
    def planned_seconds(self) -> float:
        return self.epochs * self.epoch_seconds

    def needed_seconds(self) -> float:
        """A budget for the fewest useful epochs (or all planned, when fewer)."""
        return min(self.epochs, MIN_USEFUL_EPOCHS) * self.epoch_seconds

    def verdict(self, budget: float | None) -> str:
        """ "" when the budget allows useful training, else why not and what budget would."""
        if budget is None or budget >= self.needed_seconds():
            return ""
        return (
            f"A time budget of {fmt_duration(budget)} is too short here: one pass over the data takes about "
            f"{fmt_duration(self.epoch_seconds)} on this machine ({self.steps_per_epoch:,} batches of "
            f"{self.step_seconds:.2f} s and a validation of {fmt_duration(self.eval_seconds)}), so LTSI would "
            f"stay close to its starting point and may not beat the baselines. A budget of about "
            f"{fmt_duration(self.needed_seconds())} allows {min(self.epochs, MIN_USEFUL_EPOCHS)} passes; "
            f"the whole planned schedule takes about {fmt_duration(self.planned_seconds)}."
        )


def estimate_training(
    seqs: Sequences,
    split: Split,
    model_config: ModelConfig,
    train_config: TrainConfig,
    n_batches: int = 4,
    should_stop: Callable[[], bool] | None = None,
) -> TimeEstimate:
    """Measure a few training steps and one validation pass with these settings (no model is kept).

    `should_stop()` True ends the measurement early (a stop button); the estimate is then rougher.
    """
    ticks: list[float] = []

    def on_progress(p: Progress) -> None:
        if p.epoch == 1 and p.step >= 1 and p.metrics is None:
            ticks.append(p.elapsed_s)

    probe = TrainConfig(**{**train_config.to_dict(), "epochs": 1, "log_every": 1, "max_seconds": None})
    result = train(
        seqs,
        split,
        model_config,
        probe,
        callback=on_progress,
        should_stop=lambda: len(ticks) >= n_batches or bool(should_stop and should_stop()),
    )
    steps = math.ceil(len(NextItemDataset(seqs, split.train_ends, model_config.max_len)) / train_config.batch_size)
    if len(ticks) >= 2:
        step_seconds = (ticks[-1] - ticks[0]) / (len(ticks) - 1)
    else:  # an epoch of one batch
        step_seconds = float(result.history["seconds"].iloc[0]) / max(steps, 1)
    eval_seconds = float(result.history["eval_seconds"].iloc[0]) if len(result.history) else 0.0
    return TimeEstimate(step_seconds, steps, eval_seconds, train_config.epochs)


# `default_budget`: enough for the steps a plan spans, within a range that suits an interactive page
MIN_BUDGET_S, MAX_BUDGET_S = 30, 1800  # at most the dashboard's cap on one training (30 min)
BUDGET_MARGIN = 1.2  # measured from 4 batches on a shared machine: leave room for a slower stretch


@dataclass
class BudgetProposal:
    seconds: int  # a whole multiple of 5 s in [MIN_BUDGET_S, MAX_BUDGET_S]
    reason: str  # why, in plain words


def default_budget(estimate: TimeEstimate) -> BudgetProposal:
    """A time budget for this log on this machine: about TARGET_STEPS optimizer steps (at least
    MIN_USEFUL_EPOCHS passes over the data) with their validations, plus a margin, clamped and rounded up to 5 s.
    """
    epochs = max(MIN_USEFUL_EPOCHS, math.ceil(TARGET_STEPS / max(estimate.steps_per_epoch, 1)))
    needed = BUDGET_MARGIN * epochs * estimate.epoch_seconds
    seconds = int(min(MAX_BUDGET_S, max(MIN_BUDGET_S, 5 * math.ceil(needed / 5))))
    batches = plural(epochs * estimate.steps_per_epoch, "batch", "batches")
    pace = (
        f"{plural(epochs, 'pass', 'passes')} over the data ({batches} with a validation after each) take about "
        f"{fmt_duration(epochs * estimate.epoch_seconds)} on this machine"
    )
    if needed > MAX_BUDGET_S:
        reason = f"{pace}; the budget is capped at {fmt_duration(MAX_BUDGET_S)} (no budget = until early stopping)"
    elif needed < MIN_BUDGET_S:
        reason = f"{pace}; the budget is at least {fmt_duration(MIN_BUDGET_S)}"
    else:
        reason = f"{pace}, plus a margin for a busier moment"
    return BudgetProposal(seconds, reason)

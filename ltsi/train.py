"""Training: one visible loop, full softmax cross-entropy on every position, early stopping.

    result = train(seqs, split, ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types)),
                   TrainConfig(), callback=print)

Per epoch: shuffle the training windows (`NextItemDataset`), for each batch run the model over the
window, score every real position against the whole catalogue (or a sample of it, for large
catalogues), both parts of the score (interest and counts; the predicted transition is left out of
its own count), take the cross-entropy with the next item, AdamW step with gradient clipping. The
learning rate warms up, then follows a cosine over the planned training: `epochs`, or the time
budget when that ends sooner, so a budgeted run anneals within it. With `until_converged` there is
no planned end: training runs until early stopping (`epochs` is only a safety cap, reported as
`StopReason.SAFETY_CAP` if ever reached) and the learning rate is halved whenever validation stalls
(schedule "plateau", see `plateau_learning_rate`). After every `eval_every` epochs
the model is evaluated on the validation cases (full ranking, `ltsi.evaluate`); the weights with the
best validation NDCG@10 are kept and restored at the end, and training stops after `patience`
evaluations without improvement.

The loop stops early, and says why (`TrainResult.stop_reason`, and in words `stopped`), when:
validation stopped improving, `should_stop()` returned True (a stop button), the time budget ran
out, or the loss became NaN or infinite (no exception: the message tells what to change, the best
weights so far are returned). `TrainResult.advice` says "train longer" when the validation score
was still improving at the last epoch or the budget.

Settings that follow the log (history window, most epochs, sampled softmax) are planned in
`ltsi.plan`. The fixed ones (lr 3e-3 with a one-epoch-equivalent warm-up, batch 128, dropout 0.1,
clipping 1.0, no weight decay, windows re-cut at a random offset each epoch, patience 10) were first
chosen on ML-100k's validation split (3 seeds; lr 2e-3 / 3e-3 / 4e-3 -> 0.070 / 0.074 / 0.078,
dropout 0.1 / 0.2 / 0.3 -> 0.084 / 0.074 / 0.071) and then checked on the panel (bench/panel.py).

Devices: "auto" picks CUDA when present, else CPU. On CUDA, mixed precision is bf16 autocast (fp16
autocast with a GradScaler on GPUs without bf16). On CPU, training is bitwise reproducible for a
seed and thread count.

Several processes (torchrun, `ltsi train --gpus N`; see `ltsi.distributed`): the same loop, once the
process group is initialised. Each rank trains on its share of every global batch (`batch_size` stays
the whole batch), DistributedDataParallel averages the gradients, validation is sharded and combined,
and the reasons to stop are agreed so that all ranks stop together. Only rank 0 calls `callback`.

This module holds the loop and what it returns; its parts, in the order the loop uses them:
`ltsi.train_config` (TrainConfig), `ltsi.devices` (device, threads, mixed precision, seed),
`ltsi.learning_rate` (the schedules), `ltsi.loss` (next_item_loss), `ltsi.best_weights` (best validation
score and its weights, early stopping's count), `ltsi.progress` (Progress and the time-left words) and
`ltsi.distributed` (sharding and agreeing across processes).
"""

from __future__ import annotations

import copy
import enum
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ltsi import distributed
from ltsi.baselines import training_counts
from ltsi.batches import Batch, NextItemDataset
from ltsi.best_weights import BestWeights
from ltsi.devices import amp_dtype, default_threads, pick_device, set_seed
from ltsi.errors import LTSIError
from ltsi.evaluate import evaluate, metric_names
from ltsi.learning_rate import learning_rate, plateau_learning_rate
from ltsi.loss import next_item_loss
from ltsi.model import LTSI, ModelConfig
from ltsi.progress import Progress, fmt_duration, plural
from ltsi.sequences import Sequences
from ltsi.splits import Split
from ltsi.train_config import TrainConfig

MAX_SUCCESSORS = 100  # successors kept per item for the counts part: bounds a batch's gathered pairs
# a run shorter than this gets no "about N s (twice this run)": twice a second or two is no advice
SHORT_RUN_S = 5.0


class StopReason(enum.Enum):
    """Why the training loop ended."""

    CONVERGED = "converged"  # validation stopped improving (patience ran out)
    EPOCHS = "epochs"  # the last planned epoch finished
    BUDGET = "budget"  # the time budget ran out
    REQUESTED = "requested"  # should_stop() said so
    DIVERGED = "diverged"  # the loss became NaN or infinite
    SAFETY_CAP = "safety_cap"  # with until_converged: the safety cap of `epochs` came before early stopping


# reasons to stop inside an epoch, least serious first: several processes stop for the most serious one of any rank
HALT_PRIORITY = (None, StopReason.BUDGET, StopReason.REQUESTED, StopReason.DIVERGED)


@dataclass
class TrainResult:
    model: LTSI  # best weights restored, eval mode, on CPU
    history: pd.DataFrame  # per epoch: epoch, loss, lr (at its end), validation metrics (NaN if not evaluated),
    #                        seconds, eval_seconds
    best_epoch: int  # 0 when no epoch finished with a validation score
    valid_metrics: dict[str, float]  # validation metrics of the returned weights ({} when never evaluated)
    stopped: str  # why the loop ended, in plain words
    stop_reason: StopReason
    still_improving: bool  # the best validation score came at one of the last two evaluations
    seconds: float
    device: str
    model_config: ModelConfig = field(default=None)
    train_config: TrainConfig = field(default=None)

    @property
    def advice(self) -> str:
        """What to do about how training ended, in plain words ("" when it converged)."""
        if not self.still_improving or self.stop_reason not in (
            StopReason.EPOCHS,
            StopReason.BUDGET,
            StopReason.SAFETY_CAP,
        ):
            return ""
        ended = {
            StopReason.BUDGET: "the time budget",
            StopReason.EPOCHS: "the last epoch",
            StopReason.SAFETY_CAP: "the safety cap on epochs",
        }[self.stop_reason]
        if self.seconds < SHORT_RUN_S:
            further = "This run took only a few seconds, so letting it run until early stopping costs little"
        else:
            further = f"About {fmt_duration(2 * self.seconds)} (twice this run) lets it go further"
        return (
            f"The validation score was still improving when {ended} ended training: train longer. "
            f"{further}; early stopping ends it when the score stops improving."
        )


def jittered_windows(train_ends: np.ndarray, max_len: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(users, ends) of training windows cut at a random offset per user.

    Each user's last window always ends at its last training event; the earlier ones end at
    train_end - s, train_end - s - L, ... for a random s in [1, L]. With s = L this is
    `NextItemDataset`'s layout; other s let a target see a different stretch of history each
    epoch (the two last windows overlap by L - s targets).
    """
    ends = np.asarray(train_ends, dtype=np.int64)  # (U,)
    shift = rng.integers(1, max_len + 1, size=len(ends))  # (U,)
    earlier = np.where(ends - shift >= 2, (ends - shift - 2) // max_len + 1, 0)  # (U,) windows before the last
    counts = np.where(ends >= 2, 1 + earlier, 0)  # (U,)
    users = np.repeat(np.arange(len(ends)), counts)  # (W,)
    j = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)  # (W,) window index in user
    window_ends = np.where(j == 0, ends[users], ends[users] - shift[users] - (j - 1) * max_len)  # (W,)
    return users, window_ends


def _param_groups(model: LTSI, cfg: TrainConfig) -> list[dict]:
    """Weight decay on Linear/LSTM weight matrices only; the counts part's weights learn faster.

    Each group's `lr_scale` multiplies the scheduled learning rate.
    """
    decay, no_decay, counts = [], [], []
    for name, p in model.named_parameters():
        if name in ("transition_weight", "popularity_weight"):
            counts.append(p)
        elif p.dim() >= 2 and "embedding" not in name:
            decay.append(p)
        else:
            no_decay.append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay, "lr_scale": 1.0},
        {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0},
    ]
    if counts:
        groups.append({"params": counts, "weight_decay": 0.0, "lr_scale": cfg.counts_lr_scale})
    return groups


def train(
    seqs: Sequences,
    split: Split,
    model_config: ModelConfig,
    train_config: TrainConfig | None = None,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train LTSI on `split.train_ends`, early-stop on `split.valid` (see module docstring)."""
    cfg = train_config or TrainConfig()
    if model_config.n_items != len(seqs.items) or model_config.n_event_types != len(seqs.event_types):
        raise LTSIError(
            "The model configuration does not match the data: n_items / n_event_types differ "
            "from the vocabularies of the sequences."
        )
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise LTSIError("Training needs at least one epoch and a batch size of at least one.")
    ctx = distributed.current()
    device = distributed.rank_device(pick_device(cfg.device), ctx)
    # on a GPU too: the validation's data handling and the caller's evaluation after training run on the CPU;
    # processes on one machine share its cores
    torch.set_num_threads(cfg.threads or max(1, default_threads() // ctx.local_world_size))
    dtype = amp_dtype(cfg.amp, device)
    set_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()

    # data: every training window, gathered once and kept on the device
    dataset = NextItemDataset(seqs, split.train_ends, model_config.max_len)
    if len(dataset) == 0:
        raise LTSIError("There is nothing to train on: every user needs at least two training events.")
    steps = math.ceil(len(dataset) / cfg.batch_size)

    def windows(epoch: int) -> tuple[distributed.Shard, Batch, torch.Tensor]:
        """This epoch's shuffled windows of this rank (all of them for one process), as (n, L) inputs and
        next-item targets on the device in training order: batch s is rows shard.bounds[s]:shard.bounds[s + 1]."""
        if cfg.window_jitter and epoch > 1:  # the first epoch uses the plain layout
            dataset.users, dataset.ends = jittered_windows(split.train_ends, model_config.max_len, rng)
        order = rng.permutation(len(dataset))  # (W,) the same on every rank: same seed
        targets_per_window = np.minimum(dataset.ends - 1, model_config.max_len)  # (W,)
        shard = distributed.shard_windows(order, cfg.batch_size, targets_per_window, ctx)
        inputs, targets = dataset.batch(shard.windows)  # (n, L) each
        return shard, inputs.to(device), targets.to(device)

    model = LTSI(model_config)
    if model_config.transitions:
        model.set_counts(training_counts(seqs, split, MAX_SUCCESSORS))
    model = model.to(device)
    initial_state = copy.deepcopy(model.state_dict())  # returned if the loss diverges before any evaluation
    if ctx.rank:  # own dropout masks on each rank; the weights are rank 0's (DDP copies them at the start)
        set_seed(cfg.seed + ctx.rank)
    # an ablation's switched-off weights get no gradient in any case; DDP needs one for every weight it averages
    frozen = distributed.unused_weights(model, dataset, device) if ctx.active else []
    for weight in frozen:
        weight.requires_grad_(False)
    forward = distributed.wrap(model, ctx, device)  # DDP averages the gradients of several processes
    # its own generator: dropout's draws differ between ranks, the negatives must not
    negatives_generator = torch.Generator(device=device).manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg), lr=cfg.lr, fused=device.type == "cuda")
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else nullcontext
    sampled = cfg.sampled_softmax if cfg.sampled_softmax is not None else model_config.n_items > cfg.sampled_threshold
    n_negatives = min(cfg.n_negatives, model_config.n_items - 1)
    can_validate = len(split.valid) > 0
    valid_cases = distributed.shard_cases(split.valid, ctx)  # this rank's validation users

    plateau = cfg.lr_schedule() == "plateau"
    if not plateau:
        learning_rate(cfg, 0.0)  # an unknown schedule fails here, before any work
    epoch_seconds: list[float] = []  # training + validation time of each finished epoch
    best = BestWeights(cfg.metric)  # the best validation score so far and its weights; early stopping's count

    def report(epoch: int, step: int, loss: float, metrics: dict | None, message: str) -> None:
        if callback is None or not ctx.is_main:
            return
        pace = sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds else math.nan
        callback(
            Progress(
                epoch,
                cfg.epochs,
                step,
                steps,
                loss,
                metrics,
                time.perf_counter() - t0,
                message,
                epoch_seconds=pace,
                max_seconds=cfg.max_seconds,
                until_converged=cfg.until_converged,
                patience=cfg.patience,
                bad_evals=best.bad_evals,
                eval_every=cfg.eval_every,
            )
        )

    shared_elapsed = 0.0  # several processes: the slowest rank's clock at the last agreement (`agree_on_stop`)

    def clock() -> float:
        """Seconds since the start; the agreed clock for several processes, so all ranks use one schedule."""
        return shared_elapsed if ctx.active else time.perf_counter() - t0

    def progress(epochs_done: float) -> float:
        """Share of the planned training done: epochs, or the clock when the budget ends sooner."""
        by_time = clock() / cfg.max_seconds if cfg.max_seconds else 0.0
        return min(max(epochs_done / cfg.epochs, by_time), 1.0)

    def agree_on_stop(stop: StopReason | None) -> StopReason | None:
        """Every rank's most serious reason to stop, and the clock, made the same on all ranks."""
        nonlocal shared_elapsed
        code, shared_elapsed = distributed.agree(ctx, HALT_PRIORITY.index(stop), time.perf_counter() - t0, device)
        return HALT_PRIORITY[code]

    history, cuts = [], 0  # cuts: halvings of the "plateau" learning rate so far
    if cfg.until_converged:  # only reached when early stopping did not come first: said as such
        reason = StopReason.SAFETY_CAP
        stopped = (
            f"reached the safety cap of {plural(cfg.epochs, 'epoch')} before the validation score stopped improving"
        )
    else:
        reason = StopReason.EPOCHS
        stopped = f"finished all {cfg.epochs} epochs" if cfg.epochs > 1 else "finished its only epoch"
    sizes = f"{plural(len(dataset), 'window')}, {plural(steps, 'batch', 'batches')} per epoch"
    where = f"{device.type} in {ctx.world_size} processes" if ctx.active else device.type
    report(0, 0, math.nan, None, f"training on {where}: {sizes}")
    for epoch in range(1, cfg.epochs + 1):
        # ---- one pass over the training windows
        model.train()
        epoch_start, halt = time.perf_counter(), None
        shard, inputs, targets = windows(epoch)  # (n, L) each
        steps = len(shard.bounds) - 1
        loss_sum, done = torch.zeros((), device=device), 0  # summed on the device: no sync per batch
        for step in range(steps):
            rows = slice(int(shard.bounds[step]), int(shard.bounds[step + 1]))  # this rank's part of the batch
            x, y = inputs.items[rows], targets[rows]  # (B, L), (B, L)
            if plateau:
                lr = plateau_learning_rate(cfg, epoch - 1 + step / steps, cuts)
            else:
                lr = learning_rate(cfg, progress(epoch - 1 + step / steps))
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            # distinct negatives (the counts part scatters into their columns): a random subset, not draws
            negatives = (
                torch.randperm(model_config.n_items - 1, device=device, generator=negatives_generator)[:n_negatives] + 1
                if sampled
                else None
            )
            with autocast():
                out = forward(x, inputs.events[rows], inputs.gaps[rows])
                loss = next_item_loss(model, out.interest, x, y, negatives)  # ()
                if ctx.active:  # weighted by this rank's share of the batch: DDP's average is then the batch's mean
                    loss = loss * float(shard.share[step])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.detach()
            done = step + 1
            # the finiteness check syncs a GPU, so there it runs every log_every batches and at the end; several
            # processes decide whether to stop only there, together (a collective each time)
            check = device.type == "cpu" or done % max(cfg.log_every, 1) == 0 or done == steps
            stop = None
            if check and not torch.isfinite(loss_sum):
                stop = StopReason.DIVERGED
            elif should_stop is not None and should_stop():
                stop = StopReason.REQUESTED
            elif cfg.max_seconds is not None and time.perf_counter() - t0 > cfg.max_seconds:
                stop = StopReason.BUDGET
            if ctx.active:
                stop = agree_on_stop(stop) if check else None
            if stop is StopReason.DIVERGED:
                reason = StopReason.DIVERGED
                halt = (
                    f"The training loss became {float(loss_sum)} in epoch {epoch}; training was stopped and "
                    f"the best weights so far kept. Try a lower learning rate (now {cfg.lr:g}) or turn "
                    "mixed precision off."
                )
                break
            # several processes: only rank 0 reports, and its weighted part of the loss estimates the batch's mean
            if check and cfg.log_every and done % cfg.log_every == 0 and done < steps:
                report(epoch, done, float(loss_sum) / done, None, f"epoch {epoch}, batch {done}/{steps}")
            if stop is StopReason.REQUESTED:
                reason, halt = StopReason.REQUESTED, "stopped on request"
                break
            if stop is StopReason.BUDGET:
                reason, halt = StopReason.BUDGET, f"time budget of {cfg.max_seconds:g} s reached"
                break
        epoch_loss = float(distributed.average(ctx, loss_sum)) / max(done, 1)  # every rank's part: the batches' mean
        train_seconds = time.perf_counter() - epoch_start

        # ---- validation, best weights, early stopping
        metrics, eval_start = None, time.perf_counter()
        diverged = reason is StopReason.DIVERGED
        if not diverged and can_validate and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs or halt):
            mine = (
                evaluate(model, seqs, valid_cases, model_config.max_len, batch_size=cfg.eval_batch_size)
                if len(valid_cases)
                else {}
            )
            metrics = distributed.combine_means(ctx, mine, len(valid_cases), metric_names(), device)
            improved = best.add(epoch, metrics, model)
            if plateau and not improved and best.bad_evals % cfg.plateau_evals() == 0:
                cuts += 1  # validation stalled at this rate: halve it
        elif not diverged and not can_validate:  # nothing to select on: keep the latest weights
            best.keep_latest(model)
        history.append(
            {
                "epoch": epoch,
                "loss": epoch_loss,
                "lr": lr,
                **(metrics or dict.fromkeys(metric_names(), math.nan)),
                "seconds": train_seconds,
                "eval_seconds": time.perf_counter() - eval_start,
            }
        )
        epoch_seconds.append(time.perf_counter() - epoch_start)
        shown = f", valid {cfg.metric} {metrics[cfg.metric]:.4f}" if metrics else ""
        report(epoch, done, epoch_loss, metrics, f"epoch {epoch}/{cfg.epochs}: loss {epoch_loss:.4f}{shown}")
        if halt is not None:
            stopped = halt
            break
        agree_on_stop(None)  # one clock for `progress` below and the next epoch's schedule
        # not in the first half of a planned schedule either: the learning rate is still high there, and a model
        # whose counts part scores well at once dips on validation before the interest part catches up
        settled = epoch >= cfg.min_epochs and (plateau or progress(epoch) >= 0.5)
        if can_validate and best.bad_evals >= cfg.patience and settled:
            reason = StopReason.CONVERGED
            stopped = (
                f"early stop: validation {cfg.metric} did not improve for {cfg.patience} evaluations "
                f"(best {best.score:.4f} at epoch {best.epoch})"
            )
            break

    model.load_state_dict(best.state if best.state is not None else initial_state)
    for weight in frozen:
        weight.requires_grad_(True)
    model = model.to("cpu").eval()
    seconds = time.perf_counter() - t0
    still_improving = reason is not StopReason.CONVERGED and best.still_improving
    report(
        len(history),
        steps,
        history[-1]["loss"] if history else math.nan,
        best.metrics or None,
        f"done in {seconds:.1f} s: {stopped}",
    )
    return TrainResult(
        model=model,
        history=pd.DataFrame(history, columns=["epoch", "loss", "lr", *metric_names(), "seconds", "eval_seconds"]),
        best_epoch=best.epoch,
        valid_metrics=best.metrics,
        stopped=stopped,
        stop_reason=reason,
        still_improving=still_improving,
        seconds=seconds,
        device=str(device),
        model_config=model_config,
        train_config=cfg,
    )

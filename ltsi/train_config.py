"""The training loop's settings (`TrainConfig`), checked field by field when made or loaded from a run.

The values and why they were chosen are in `ltsi.train`'s docstring; settings that follow the log are planned
in `ltsi.plan`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ltsi.errors import LTSIError
from ltsi.model import _config_bool, _config_float, _config_int, _config_str


@dataclass
class TrainConfig:
    epochs: int = 30  # the cosine schedule spans this many epochs; early stopping may end sooner
    until_converged: bool = False  # train until early stopping; `epochs` is then only a safety cap
    batch_size: int = 128  # training windows per step
    lr: float = 3e-3  # peak learning rate
    # "cosine": decay to lr * min_lr_ratio over `epochs` (or the budget); "constant"; "plateau": halve the lr
    # whenever validation has not improved for `plateau_evals()` evaluations (the choice for until_converged).
    schedule: str = "auto"  # "auto": plateau with until_converged, else cosine
    warmup_epochs: float = 1.0  # linear warm-up from lr / 10 to lr
    min_lr_ratio: float = 0.02
    weight_decay: float = 0.0  # AdamW decoupled decay on weight matrices (not embeddings, norms, biases)
    clip: float = 1.0  # gradient-norm clipping; 0 = off
    patience: int = 10  # evaluations without a better validation NDCG@10 before stopping
    # early stopping cannot end training before this epoch. With until_converged the plan sets it to the length
    # of its usual schedule: a model whose counts part scores well after one epoch dips on validation while the
    # interest part learns, and would otherwise be stopped, at its first epoch's weights, before it recovers.
    min_epochs: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:1" ...
    seed: int = 0
    threads: int = 0  # CPU threads for torch; 0 = one per available core, at most 8
    amp: str = "auto"  # "auto" (bf16/fp16 on CUDA, off on CPU) | "bf16" | "fp16" | "off"
    eval_every: int = 1  # epochs between validation runs
    log_every: int = 20  # batches between progress callbacks (plus one per epoch)
    max_seconds: float | None = None  # time budget for the whole loop; None = no limit
    window_jitter: bool = True  # re-cut the training windows at a random offset every epoch (augmentation)
    eval_batch_size: int = 512
    metric: str = "NDCG@10"  # validation metric for early stopping and best weights
    sampled_softmax: bool | None = None  # None = automatic: on when the catalogue exceeds sampled_threshold
    sampled_threshold: int = 200_000  # items (padding included) above which sampling is switched on
    n_negatives: int = 8192  # shared uniform negatives per batch under sampled softmax
    counts_lr_scale: float = 10.0  # the counts part's few weights (one per lag + popularity) learn this much faster

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """LTSIError naming the first field of a wrong type or out of range (a stored run's too)."""
        owner = "train_config"
        if isinstance(self.epochs, int) and not isinstance(self.epochs, bool) and self.epochs < 1:
            raise LTSIError(f"{owner}.epochs must be at least 1: train for at least one epoch (not {self.epochs}).")
        _config_int(owner, "epochs", self.epochs, 1)
        _config_bool(owner, "until_converged", self.until_converged)
        _config_int(owner, "batch_size", self.batch_size, 1)
        _config_float(owner, "lr", self.lr, 0.0, low_open=True)
        _config_str(owner, "schedule", self.schedule)
        _config_float(owner, "warmup_epochs", self.warmup_epochs, 0.0)
        _config_float(owner, "min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        _config_float(owner, "weight_decay", self.weight_decay, 0.0)
        _config_float(owner, "clip", self.clip, 0.0)
        _config_int(owner, "patience", self.patience, 1)
        _config_int(owner, "min_epochs", self.min_epochs, 0)
        _config_str(owner, "device", self.device)
        _config_int(owner, "seed", self.seed, 0)
        _config_int(owner, "threads", self.threads, 0)
        _config_str(owner, "amp", self.amp)
        _config_int(owner, "eval_every", self.eval_every, 1)
        _config_int(owner, "log_every", self.log_every, 1)
        if self.max_seconds is not None:
            _config_float(owner, "max_seconds", self.max_seconds, 0.0, low_open=True)
        _config_bool(owner, "window_jitter", self.window_jitter)
        _config_int(owner, "eval_batch_size", self.eval_batch_size, 1)
        _config_str(owner, "metric", self.metric)
        _config_bool(owner, "sampled_softmax", self.sampled_softmax, optional=True)
        _config_int(owner, "sampled_threshold", self.sampled_threshold, 0)
        _config_int(owner, "n_negatives", self.n_negatives, 1)
        _config_float(owner, "counts_lr_scale", self.counts_lr_scale, 0.0, low_open=True)

    def to_dict(self) -> dict:
        return asdict(self)

    def lr_schedule(self) -> str:
        """The schedule in force: "auto" resolved (see `schedule`)."""
        if self.schedule != "auto":
            return self.schedule
        return "plateau" if self.until_converged else "cosine"

    def plateau_evals(self) -> int:
        """Evaluations without improvement after which the "plateau" schedule halves the learning rate."""
        return plateau_evals(self.patience)


def plateau_evals(patience: int) -> int:
    """Half the patience: a stalled run gets one halving of the learning rate (the annealing a cosine would
    have given it) before early stopping ends it, and another after each further stall.

    Measured on the 600-user synthetic log of the baseline test (seeds 0 / 1, test NDCG@10, patience 10):
    halving every 5 stalled evaluations 0.301 / 0.304, every 3 0.143 / 0.295 (cut too soon, before the
    attention part had learned), constant rate 0.289 / 0.304; the cosine over a planned 600 steps 0.315 / 0.307.
    """
    return max(1, patience // 2)

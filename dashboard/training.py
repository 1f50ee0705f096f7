"""The dashboard's training job: `ltsi.pipeline.fit_run` in a worker thread, one slot per training, a time-budget check.

The worker thread never calls `st.*`: it writes into the `TrainingJob`, which the pages poll (a
fragment redraws the progress every 2 s). The process-wide training semaphore and the background
warm-up of slow imports live in `st.cache_resource` (shared by all sessions, holding nothing of one).
"""

from __future__ import annotations

import math
import os
import threading
import time
import traceback
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from dashboard.state import ActiveRun, Dataset, Keys, log, set_run
from dashboard.text import fmt_seconds, plural
from ltsi.errors import LTSIError

if TYPE_CHECKING:
    from ltsi.pipeline import Stage
    from ltsi.plan import BudgetProposal, Plan, TimeEstimate
    from ltsi.progress import Progress
    from ltsi.runs import Run

MAX_CONCURRENT_TRAININGS = int(os.environ.get("LTSI_MAX_TRAININGS", "1"))
WAITING = "waiting for a free training slot (another session is training)"
# A training whose session has gone (tab closed, session expired) is stopped: every script run and every poll of
# the progress fragment (every 2 s) refreshes the job's heartbeat; the worker stops when it is older than this.
# Generous: browsers throttle the timers of a hidden tab to about one a minute. A session that Streamlit's runtime
# no longer knows (its websocket closed) stops its training at once (`session_active`).
HEARTBEAT_TIMEOUT_S = 120.0
MAX_TRAINING_S = 30 * 60.0  # a cap on one training's time (slot held), whatever its settings say
MAX_SESSION_TRAINING_S = 60 * 60.0  # a cap on all the trainings of one session together (slot held)
SESSION_CHECK_S = 1.0  # how often a worker asks the runtime whether its session is still connected


def current_session_id() -> str | None:
    """The id of the session whose script is running (None outside a script run, e.g. in a worker thread)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return None if ctx is None else ctx.session_id


def session_active(session_id: str | None) -> bool:
    """Whether Streamlit's runtime still has this session connected (True when that cannot be known: no id, no
    runtime, as under AppTest). Thread-safe: `Runtime.is_active_session` may be called from any thread."""
    if session_id is None:
        return True
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return True
    return Runtime.instance().is_active_session(session_id)


class SlotBoard:
    """Process-wide: which trainings hold a slot (since when) and which wait, in arrival order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[int, float] = {}  # id(job) -> wall-clock time it got its slot
        self.waiting: list[int] = []

    def wait(self, key: int) -> None:
        with self.lock:
            if key not in self.waiting:
                self.waiting.append(key)

    def run(self, key: int) -> None:
        with self.lock:
            self.waiting = [k for k in self.waiting if k != key]
            self.running[key] = time.time()

    def leave(self, key: int) -> None:
        with self.lock:
            self.waiting = [k for k in self.waiting if k != key]
            self.running.pop(key, None)

    def waiting_words(self, key: int) -> str:
        """'waiting for a free training slot: 1 training running (since 14:02), 1 waiting ahead of this one'."""
        with self.lock:
            ahead = self.waiting.index(key) if key in self.waiting else 0
            starts = sorted(self.running.values())
        if not starts:
            return WAITING
        since = time.strftime("%H:%M", time.localtime(starts[0]))
        running = f"{plural(len(starts), 'training')} running (since {since})"
        queued = f", {ahead} waiting ahead of this one" if ahead else ""
        return f"waiting for a free training slot: {running}{queued}"


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per server process, in the background: sweep stale temp folders, then the slow first imports that
    training and attribution need (torch's optimizer pulls in torch._dynamo, ~6 s; captum ~2 s) and those of the
    views' analysis modules, so the first Train click or the first visit of a view does not wait for them."""

    def work() -> None:
        from dashboard.exporting import sweep_stale_temp

        sweep_stale_temp()  # run folders extracted by servers that are gone, older than a day
        import captum.attr  # noqa: F401
        import torch._dynamo  # noqa: F401

        import dashboard.figures  # noqa: F401
        import dashboard.report  # noqa: F401
        import ltsi.catalogue  # noqa: F401
        import ltsi.compare  # noqa: F401
        import ltsi.item_analysis  # noqa: F401
        import ltsi.quality  # noqa: F401
        import ltsi.slices  # noqa: F401

    thread = threading.Thread(target=work, name="ltsi-warm-up", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner=False)
def training_board() -> SlotBoard:
    """Process-wide: the running and waiting trainings (what a waiting tab tells its analyst)."""
    return SlotBoard()


@st.cache_resource(show_spinner=False)
def training_slots() -> threading.BoundedSemaphore:
    """Process-wide: at most LTSI_MAX_TRAININGS trainings at once (the CPU is shared by all sessions)."""
    return threading.BoundedSemaphore(MAX_CONCURRENT_TRAININGS)


def planned(
    dataset: Dataset,
    device: str = "auto",
    budget: float | None = None,
    model: dict | None = None,
    train: dict | None = None,
) -> Plan:
    """`ltsi.plan.plan_training` for this dataset and these settings (cheap; cached per dataset and settings).

    `model` / `train`: the settings the analyst chose (ModelConfig / TrainConfig field -> value); the
    rest follows the log and the device. A short-term window longer than the planned history is the
    whole history read, so the plan's model configuration gets the window it really has.
    """
    from ltsi.plan import Plan, plan_training

    model, train = dict(model or {}), dict(train or {})
    key = ("plan", device, budget, tuple(sorted(model.items())), tuple(sorted(train.items())))

    def compute() -> Plan:
        seqs, split = dataset.sequences()
        plan = plan_training(seqs, split, device, budget, model=model, train=train, until_converged=budget is None)
        config = plan.model_config
        return Plan(
            replace(config, short_window=min(config.short_window, config.max_len)), plan.train_config, plan.reasons
        )

    return dataset.cached(key, compute)


def estimate_training(seqs, split, model_config, train_config, should_stop=None) -> TimeEstimate:
    """`ltsi.plan.estimate_training` (looked up when called, so a test can replace it): a few measured batches."""
    from ltsi import plan

    return plan.estimate_training(seqs, split, model_config, train_config, should_stop=should_stop)


def proposed_budget(dataset: Dataset, threads: int) -> BudgetProposal | None:
    """The Train form's default time budget for this log: the default plan's first batches measured on this
    machine (`ltsi.plan.default_budget`); measured once per dataset, a few seconds. None when the log cannot be
    measured (e.g. nothing to train on): the Train button then says why."""
    from ltsi.plan import default_budget

    def compute() -> BudgetProposal | None:
        seqs, split = dataset.sequences()
        plan = planned(dataset, "auto", None, {}, {"threads": threads})
        try:
            estimate = estimate_training(seqs, split, plan.model_config, plan.train_config)
        except LTSIError:
            return None
        return default_budget(estimate)

    return dataset.cached(("proposed_budget", threads), compute)


def fit_run(*args, **kwargs) -> Run:
    """`ltsi.pipeline.fit_run` (looked up when called, so a test can replace it): the one training pipeline."""
    from ltsi import pipeline

    return pipeline.fit_run(*args, **kwargs)


class TrainingJob:
    """One training run in a daemon thread; the UI reads its fields, only the worker writes them.

    States: waiting (for a free training slot) -> [measuring ->] training -> evaluating -> done | failed.
    With `check_budget` and a time budget, the worker first measures a few batches; when the budget is
    too short for useful training (`TimeEstimate.verdict`), it stops in state "confirm" with the
    verdict and the proposed budget, frees its slot and ends: the analyst then calls `proceed(budget)`
    (a new worker thread trains) or `cancel()`.
    `stop()` asks the loop to end after the current batch; the best weights so far are kept.
    The training itself is `ltsi.pipeline.fit_run`; `result` wraps the `Run` it returns.
    """

    ACTIVE = ("waiting", "measuring", "training", "evaluating")

    def __init__(
        self,
        dataset: Dataset,
        model_config,
        train_config,
        with_ablations: bool = False,
        slots: threading.BoundedSemaphore | None = None,
        check_budget: bool = False,
        board: SlotBoard | None = None,
        session_trained_s: float = 0.0,
        session_id: str | None = None,
    ) -> None:
        self.dataset_name = dataset.name
        self.seqs, self.split = dataset.sequences()
        self.items = dataset.items
        self.model_config, self.train_config = model_config, train_config
        self.with_ablations = with_ablations
        self.slots = slots
        self.check_budget = check_budget
        self.board = board
        self.heartbeat = time.monotonic()  # refreshed by the session's script runs (`beat`)
        self.running_since: float | None = None  # monotonic time the worker got its slot (None: holds none)
        self.session_id = session_id  # the session that started it: stopped at once when the runtime drops it
        self._session_checked = 0.0  # monotonic time of the last `session_active` check
        self.earlier_s = float(session_trained_s)  # the session's trainings before this one (slot-held seconds)
        self._held_s = 0.0  # this job's finished worker runs (a measurement, then the training after "confirm")
        self.abandoned = ""  # why the job stopped itself: its session went, or the time cap ("" = it did not)
        self.state = "waiting"
        self.message = WAITING
        self.progress: Progress | None = None  # the latest progress of the LTSI training
        self.epochs: list[dict] = []  # one row per finished epoch: epoch, loss, validation metrics
        self.batches: list[dict] = []  # running training loss: x = epochs done (fractional), loss
        self.result: ActiveRun | None = None
        self.adopted = False  # the result has become the session's active run (`adopt_finished`)
        self.error: str | None = None
        self.estimate: TimeEstimate | None = None  # once measured
        self.verdict = ""  # why the time budget is too short ("" = it is not, or not measured)
        self.started = time.perf_counter()
        self.finished: float | None = None
        self._stages = 0  # stages of fit_run begun: the first trains LTSI, whose progress the page shows
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, name="ltsi-training", daemon=True)

    def start(self) -> TrainingJob:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def beat(self) -> None:
        """The session is still there (called by its script runs and its progress fragment)."""
        self.heartbeat = time.monotonic()

    def session_trained_s(self) -> float:
        """Seconds the session has trained (held a training slot), this job included, so far."""
        since = self.running_since
        return self.earlier_s + self._held_s + (time.monotonic() - since if since is not None else 0.0)

    def _session_gone(self, now: float) -> bool:
        """The runtime no longer has the session connected (asked at most every SESSION_CHECK_S)."""
        if self.session_id is None or now - self._session_checked < SESSION_CHECK_S:
            return False
        self._session_checked = now
        return not session_active(self.session_id)

    def _should_stop(self) -> bool:
        """Stop asked for, the session gone (disconnected, or no heartbeat for HEARTBEAT_TIMEOUT_S) or a time cap
        reached (this training's, or the session's total)."""
        if self._stop.is_set():
            return True
        now = time.monotonic()
        if now - self.heartbeat > HEARTBEAT_TIMEOUT_S or self._session_gone(now):
            self.abandoned = "its session was closed or expired"
        elif self.running_since is not None and now - self.running_since > MAX_TRAINING_S:
            self.abandoned = f"it reached the cap of {fmt_seconds(MAX_TRAINING_S)} per training"
        elif self.running_since is not None and self.session_trained_s() > MAX_SESSION_TRAINING_S:
            self.abandoned = f"this session reached its cap of {fmt_seconds(MAX_SESSION_TRAINING_S)} of training"
        else:
            return False
        log.warning("stopping a training: %s", self.abandoned)
        self._stop.set()
        return True

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def active(self) -> bool:
        """A worker is running (or about to)."""
        return self.state in self.ACTIVE

    @property
    def awaiting(self) -> bool:
        """Measured, and the time budget is too short: waiting for the analyst's decision."""
        return self.state == "confirm"

    def proposed_budget(self) -> int | None:
        """The budget the measurement proposes, in whole seconds (rounded up); None before a measurement."""
        return None if self.estimate is None else max(1, math.ceil(self.estimate.needed_seconds()))

    def proceed(self, budget: float | None) -> TrainingJob:
        """After "confirm": train with this time budget (None = no limit), in a new worker thread."""
        if not self.awaiting:
            raise LTSIError("This training is not waiting for a decision on its time budget.")
        self.train_config = replace(self.train_config, max_seconds=float(budget) if budget else None)
        self.state = "waiting"
        self.message = WAITING
        self.started = time.perf_counter()
        self.beat()
        self.thread = threading.Thread(target=self._work, kwargs={"measure": False}, name="ltsi-training", daemon=True)
        return self.start()

    def cancel(self) -> None:
        """After "confirm": do not train."""
        self.state, self.message = "cancelled", "cancelled before training"
        self.finished = time.perf_counter()

    def history(self) -> pd.DataFrame:
        with self._lock:
            return pd.DataFrame(self.epochs)

    def batch_loss(self) -> pd.DataFrame:
        with self._lock:
            return pd.DataFrame(self.batches, columns=["x", "loss"])

    def fraction(self) -> float:
        """Progress in [0, 1]: epochs done of the maximum, or time used of the time budget, whichever is further.

        Training until early stopping has no known end: there it is the epochs done of those done plus the
        fewest that early stopping needs from here (it steps back when the validation score improves).
        """
        p = self.progress
        if p is None or not p.epochs:
            return 0.0
        from ltsi.progress import epochs_done, fewest_epochs_left

        done_epochs = epochs_done(p)
        planned_epochs = min(p.epochs, done_epochs + fewest_epochs_left(p)) if p.until_converged else p.epochs
        done = done_epochs / max(planned_epochs, 1e-9)
        budget = self.train_config.max_seconds
        if budget:
            done = max(done, p.elapsed_s / budget)
        return float(min(1.0, done))

    # -- worker side (never calls st.*)
    def _on_stage(self, stage: Stage, words: str) -> None:
        """fit_run begins a stage: training LTSI, an ablation, then evaluating all models."""
        from ltsi.pipeline import Stage

        with self._lock:
            self._stages += 1
            self.state = "evaluating" if stage is Stage.EVALUATING else "training"
            self.message = words

    def _on_progress(self, progress: Progress) -> None:
        """Progress of a training. Only LTSI's is shown (bar, curves, message): an ablation's stage words stay."""
        with self._lock:
            if self._stages > 1:
                return
            self.progress = progress
            self.message = progress.message
            if progress.epoch >= 1 and progress.step > 0 and progress.steps and math.isfinite(progress.loss):
                self.batches.append({"x": progress.epoch - 1 + progress.step / progress.steps, "loss": progress.loss})
            if (
                progress.metrics is not None
                and progress.epoch >= 1
                and (not self.epochs or self.epochs[-1]["epoch"] < progress.epoch)
            ):
                self.epochs.append({"epoch": progress.epoch, "loss": progress.loss, **progress.metrics})

    def _stopped_before_start(self) -> None:
        self.state, self.message = "failed", "stopped before it started"
        self.error = "Training was stopped before it started."

    def _work(self, measure: bool = True) -> None:
        acquired, awaiting = False, False
        key = id(self)
        try:
            if self.board is not None:
                self.board.wait(key)
            while self.slots is not None and not acquired:
                acquired = self.slots.acquire(timeout=0.5)
                if not acquired and self._should_stop():
                    self._stopped_before_start()
                    return
                if not acquired and self.board is not None:
                    self.message = self.board.waiting_words(key)
            self.running_since = time.monotonic()
            if self.board is not None:
                self.board.run(key)
            if measure and self.check_budget and self.train_config.max_seconds:
                self.state, self.message = "measuring", "measuring a few batches to check the time budget"
                self.estimate = estimate_training(
                    self.seqs, self.split, self.model_config, self.train_config, should_stop=self._should_stop
                )
                self.verdict = self.estimate.verdict(self.train_config.max_seconds)
                if self._stop.is_set():  # Stop during the measurement: no training
                    self._stopped_before_start()
                    return
                if self.verdict:
                    awaiting = True
                    return
            self._train()
        except LTSIError as error:
            self.error = str(error)
            self.state = "failed"
        except Exception as error:  # noqa: BLE001 - reported to the page as a message
            log.error("training failed:\n%s", traceback.format_exc())
            self.error = f"Training failed: {type(error).__name__}: {error}"
            self.state = "failed"
        finally:
            if self.board is not None:
                self.board.leave(key)
            if self.running_since is not None:  # the slot-held time counts towards the session's cap
                self._held_s += time.monotonic() - self.running_since
                self.running_since = None
            if acquired:
                self.slots.release()
            if awaiting:  # last: the page acts on "confirm" only once the slot is free again
                self.message = "the time budget looks too short: waiting for your decision on the Train page"
                self.state = "confirm"
            else:
                self.finished = time.perf_counter()

    def _train(self) -> None:
        from ltsi.plan import Plan

        self._stages = 0
        self.state = "training"
        trained = fit_run(
            self.seqs,
            self.split,
            Plan(self.model_config, self.train_config, []),
            items=self.items,
            ablations=self.with_ablations,
            callback=self._on_progress,
            should_stop=self._should_stop,
            on_stage=self._on_stage,
        )
        self.result = ActiveRun(trained, name=f"Trained on {self.dataset_name} ({time.strftime('%H:%M')})")
        summary = self.result.training
        self.state = "done"
        self.message = f"done in {fmt_seconds(summary.get('seconds'))}: {summary.get('stopped', '')}"
        if self.abandoned:
            self.message += f" (stopped because {self.abandoned})"


def job() -> TrainingJob | None:
    """The session's training job; asking for it is the session's heartbeat (every script run and poll does)."""
    current = st.session_state.get(Keys.JOB)
    if current is not None:
        current.beat()
    return current


def session_cap_words(trained_s: float) -> str:
    """The refusal when the session has used up its training time ("" while it has not)."""
    if trained_s < MAX_SESSION_TRAINING_S:
        return ""
    return (
        f"This session has trained for {fmt_seconds(trained_s)}: that is its cap of "
        f"{fmt_seconds(MAX_SESSION_TRAINING_S)} of training (the machine is shared), so no new training can "
        "start in it. The models trained so far stay."
    )


def start_job(dataset: Dataset, plan: Plan, with_ablations: bool) -> TrainingJob:
    """Train on `dataset` with `plan` in a worker thread (a shared slot, the time budget checked first).

    The session's trainings are a chain: each new job carries the total of the one before (its slot-held
    seconds), and none starts once that total reaches MAX_SESSION_TRAINING_S (an `LTSIError` says so).
    """
    previous = st.session_state.get(Keys.JOB)
    trained_s = previous.session_trained_s() if previous is not None else 0.0
    refusal = session_cap_words(trained_s)
    if refusal:
        raise LTSIError(refusal)
    st.session_state[Keys.JOB] = started = TrainingJob(
        dataset,
        plan.model_config,
        plan.train_config,
        with_ablations,
        slots=training_slots(),
        check_budget=True,
        board=training_board(),
        session_trained_s=trained_s,
        session_id=current_session_id(),
    ).start()
    return started


def drop_job() -> None:
    st.session_state.pop(Keys.JOB, None)


def adopt_finished() -> None:
    """A finished training becomes the active model, whichever page the user is on (once)."""
    current = job()
    if current is not None and current.state == "done" and not current.adopted:
        set_run(current.result)
        current.adopted = True
        from dashboard import library  # here: dashboard.library imports widgets, which imports this module

        library.autosave(current.result, *library.training_log(current.result))

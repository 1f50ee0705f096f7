"""Per-session state of the dashboard, the cached parsers and the training worker.

What lives where (one browser tab = one session):

- `st.session_state["dataset"]`: the active `Dataset` (validated event log + its sequences);
- `st.session_state["run"]`: the active `ActiveRun` (a trained or loaded model, its data and
  results, plus a small cache of derived views such as explanations);
- `st.session_state["job"]`: the `TrainingJob` while (and after) a model trains in a worker thread.

Only pure parsing of uploaded bytes is cached across sessions (`st.cache_data`, keyed by a digest of
the bytes, so a session can only hit an entry for bytes it uploaded itself), and the process-wide
training semaphore lives in `st.cache_resource`. Nothing per-session goes into `st.cache_resource`.
The worker thread never calls `st.*`: it writes into the job object, which a fragment polls.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.text import fmt_seconds, plural, split_words
from ltsi.errors import LTSIError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DEMO_RUN = DATA / "demo_run"
DEMOS = {
    "ecommerce": dict(label="E-commerce demo (synthetic shop)",
                      events=DATA / "ecommerce" / "events.csv", items=DATA / "ecommerce" / "items.csv"),
    "movielens": dict(label="MovieLens 100K (movie ratings)",
                      events=DATA / "ml-100k" / "ratings.csv", items=DATA / "ml-100k" / "movies.csv"),
}
MAX_CONCURRENT_TRAININGS = int(os.environ.get("LTSI_MAX_TRAININGS", "1"))
MAX_SELECTBOX_USERS = 5000  # more users than this: a search box narrows the picker down
# Settings the user expects to find as left after visiting another page (the keys of those widgets)
KEPT_SETTINGS = ("train_dim", "train_max_len", "train_epochs", "train_budget", "train_device", "train_ablations",
                 "train_lr", "train_batch", "train_patience", "train_window", "train_seed", "train_threads",
                 "export_k", "export_exclude_seen")


def default_training_threads() -> int:
    """CPU threads for a dashboard training: all cores but one (the page itself keeps running), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores - 1, 8))


log = logging.getLogger("ltsi.dashboard")


# ---------------------------------------------------------------------------------------------
# Errors: the library's message, never a traceback


@contextlib.contextmanager
def guard(what: str = "") -> Iterator[None]:
    """Show an `LTSIError` as `st.error(message)`; an unexpected error as a short message (logged in full).

    Streamlit's own control flow (rerun, stop, page switch) derives from BaseException and passes.
    """
    try:
        yield
    except LTSIError as error:
        st.error(str(error), icon=":material/error:")
    except Exception as error:  # noqa: BLE001 - the last line of defence: no traceback on the page
        log.error("dashboard error%s:\n%s", f" ({what})" if what else "", traceback.format_exc())
        st.error(f"Something went wrong{f' while {what}' if what else ''}: {type(error).__name__}: {error}",
                 icon=":material/error:")


# ---------------------------------------------------------------------------------------------
# Reading logs (cached by content digest: pure parsing of bytes)


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@st.cache_data(max_entries=6, ttl=3600, show_spinner="Reading and validating the log…")
def parse_log(key: str, name: str, mapping: tuple[tuple[str, str | None], ...] | None, min_events: int,
              dayfirst: bool | None, items_key: str | None, items_name: str | None,
              _data: bytes, _items: bytes | None):
    """`ltsi.events.load_events` on uploaded bytes; `key`/`items_key` are the digests of the bytes."""
    from ltsi.events import load_events

    return load_events(_data, name=name, mapping=dict(mapping) if mapping is not None else None,
                       items=load_items_bytes(items_key, items_name, _items) if _items is not None else None,
                       min_events=min_events, dayfirst=dayfirst)


@st.cache_data(max_entries=6, ttl=3600, show_spinner=False)
def load_items_bytes(key: str, name: str | None, _data: bytes) -> pd.DataFrame:
    from ltsi.events import load_items

    return load_items(_data, name=name)


@st.cache_data(max_entries=6, ttl=3600, show_spinner=False)
def source_columns(key: str, name: str, _data: bytes) -> list[str]:
    """The columns of the raw file, for the mapping selectboxes."""
    from ltsi.events import read_table

    data = _data
    plain = not data.startswith((b"\x1f\x8b", b"PK\x03\x04", b"PAR1", b"BZh", b"\xfd7zXZ"))
    if plain and len(data) > (8 << 20):  # a big plain-text log: its first megabyte has the same columns
        head = data[: 1 << 20]
        data = head[: head.rfind(b"\n") + 1] or head
    frame, _ = read_table(data, name=name)
    return [str(c) for c in frame.columns]


@dataclass
class Dataset:
    """One validated event log as the session uses it."""

    name: str  # what the sidebar shows: the file name or the demo's label
    kind: str  # "ecommerce" | "movielens" | "upload"
    key: str  # digest of the bytes
    log: Any  # ltsi.events.EventLog
    columns: list[str]
    mapping: dict[str, str | None] | None  # explicit overrides (None = automatic)
    min_events: int = 1
    dayfirst: bool | None = None
    source: tuple = field(default=(), repr=False)  # (bytes, name, item bytes, item name) to re-read with a new mapping
    _sequences: Any = field(default=None, repr=False)
    cache: dict = field(default_factory=dict, repr=False)  # summary figures, built once

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    @property
    def events(self) -> pd.DataFrame:
        return self.log.events

    @property
    def items(self) -> pd.DataFrame | None:
        return self.log.items

    @property
    def report(self):
        return self.log.report

    def sequences(self):
        """(Sequences, Split) built once per dataset: per-user chronological events, leave-one-out."""
        if self._sequences is None:
            from ltsi.sequences import build_sequences, leave_one_out

            seqs = build_sequences(self.events)
            self._sequences = (seqs, leave_one_out(seqs))
        return self._sequences


def read_dataset(data: bytes, name: str, kind: str, items: bytes | None = None, items_name: str | None = None,
                 mapping: dict[str, str | None] | None = None, min_events: int = 1,
                 dayfirst: bool | None = None) -> Dataset:
    """Parse + validate (cached) and wrap as a Dataset. Raises LTSIError for unusable input."""
    key = digest(data)
    items_key = digest(items) if items is not None else None
    frozen = tuple(sorted(mapping.items())) if mapping else None
    log_ = parse_log(key, name, frozen, min_events, dayfirst, items_key, items_name, data, items)
    columns = source_columns(key, name, data)
    return Dataset(name=name, kind=kind, key=key, log=log_, columns=columns, mapping=mapping, min_events=min_events,
                   dayfirst=dayfirst, source=(data, name, items, items_name))


def demo_bytes(kind: str) -> tuple[bytes, str, bytes | None, str | None]:
    demo = DEMOS[kind]
    items = demo["items"].read_bytes() if demo["items"].exists() else None
    return demo["events"].read_bytes(), demo["events"].name, items, demo["items"].name


def load_demo(kind: str = "ecommerce", **options) -> Dataset:
    data, name, items, items_name = demo_bytes(kind)
    dataset = read_dataset(data, name, kind, items, items_name, **options)
    dataset.name = DEMOS[kind]["label"]
    return dataset


def reread(current: Dataset, mapping: dict[str, str | None] | None, min_events: int,
           dayfirst: bool | None) -> Dataset:
    """The same bytes read again with another column mapping or options."""
    data, name, items, items_name = current.source
    new = read_dataset(data, name, current.kind, items, items_name, mapping=mapping, min_events=min_events,
                       dayfirst=dayfirst)
    new.name = current.name
    return new


def dataset() -> Dataset | None:
    return st.session_state.get("dataset")


def set_dataset(value: Dataset | None) -> None:
    st.session_state["dataset"] = value


# ---------------------------------------------------------------------------------------------
# Runs: a trained model with its data, results and a cache of derived views


@dataclass
class ActiveRun:
    name: str  # what the sidebar shows
    model: Any  # ltsi.model.LTSI, eval mode, CPU
    model_config: Any
    train_config: Any
    seqs: Any  # ltsi.sequences.Sequences the model was trained on
    split: Any
    items: pd.DataFrame | None
    results: pd.DataFrame | None  # test metrics: one row per model (LTSI, baselines, ablations)
    history: pd.DataFrame | None  # one row per epoch
    info: dict = field(default_factory=dict)  # dataset, seconds, device, stopped, stop_reason, still_improving,
    #                                            advice, best epoch, source (older saved runs lack some)
    folder: Path | None = None  # where the run was loaded from (None: trained in this session)
    train_result: Any = None  # ltsi.train.TrainResult of a session-trained run (what save_run needs)
    ablation_results: dict = field(default_factory=dict)  # name -> TrainResult
    cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    # Explanations hook the model's embedding layers: one computation at a time per model (the page
    # script and a deferred download run in different threads).
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def cached(self, key: tuple, compute: Callable[[], Any], limit: int = 64) -> Any:
        """Derived views (explanations, global views) computed once per run and session, LRU-bounded."""
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
            value = compute()
            self.cache[key] = value
            while len(self.cache) > limit:
                self.cache.popitem(last=False)
            return value


def run() -> ActiveRun | None:
    return st.session_state.get("run")


def require_run(page: str) -> ActiveRun:
    """The active model; without one, say so, offer the one-click demo (and Train), and stop the page."""
    active = run()
    if active is None:
        st.info("There is no model yet. Open the demo (pre-trained, instant) or train one on the Train page.",
                icon=":material/info:")
        c1, c2, _ = st.columns([1, 1, 3])
        if c1.button("Open the demo", type="primary", key=f"{page}_demo"):
            with guard("opening the demo"):
                start_demo()
                st.rerun()
        if c2.button("Go to Train", key=f"{page}_to_train"):
            st.switch_page("views/train.py")
        st.stop()
    return active


def set_run(value: ActiveRun | None) -> None:
    st.session_state["run"] = value
    for key in ("user", "target", "removed"):  # selections belong to the previous run
        st.session_state.pop(key, None)


def test_results(rows) -> pd.DataFrame | None:
    """The test-split rows of a run's metrics ({"model", "split", "HR@10", ...} records) as a table."""
    table = pd.DataFrame(rows or [])
    if table.empty or "model" not in table:
        return None
    if "split" in table:
        table = table[table["split"] == "test"].drop(columns="split")
    return table.reset_index(drop=True) if len(table) else None


def run_from_saved(saved, name: str, folder: Path | None) -> ActiveRun:
    """Wrap an `ltsi.runs.Run` (loaded from a folder)."""
    training = dict((saved.info or {}).get("training", {}))
    info = {**training, "source": str(folder) if folder else "loaded"}
    return ActiveRun(name=name, model=saved.model.eval(), model_config=saved.model_config,
                     train_config=saved.train_config, seqs=saved.seqs, split=saved.split, items=saved.items,
                     results=test_results(saved.metrics), history=saved.history, info=info, folder=folder)


def load_run_folder(path: Path | str, name: str | None = None) -> ActiveRun:
    from ltsi.runs import load_run

    saved = load_run(path)
    return run_from_saved(saved, name or f"run {Path(path).name}", Path(path))


def load_demo_run() -> ActiveRun:
    if not (DEMO_RUN / "config.json").exists():
        raise LTSIError("The demo model is missing (data/demo_run). Train one on the Train page, or create it "
                        "with `python -m dashboard.make_demo_run`.")
    try:
        return load_run_folder(DEMO_RUN, name="Demo model (e-commerce, pre-trained)")
    except LTSIError as error:
        raise LTSIError(f"The pre-trained demo model cannot be loaded: {error} If LTSI was updated, rebuild it with "
                        "`python -m dashboard.make_demo_run` (or train a model on the Train page).") from error


def start_demo() -> None:
    """One click: the e-commerce demo data and the pre-trained demo model."""
    set_dataset(load_demo("ecommerce"))
    set_run(load_demo_run())


# ---------------------------------------------------------------------------------------------
# Training in a worker thread


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per server process, in the background: the slow first imports that training and attribution need
    (torch's optimizer pulls in torch._dynamo, ~6 s; captum ~2 s), so the first Train click does not wait for them."""

    def work() -> None:
        import torch._dynamo  # noqa: F401
        import captum.attr  # noqa: F401

    thread = threading.Thread(target=work, name="ltsi-warm-up", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner=False)
def training_slots() -> threading.BoundedSemaphore:
    """Process-wide: at most LTSI_MAX_TRAININGS trainings at once (the CPU is shared by all sessions)."""
    return threading.BoundedSemaphore(MAX_CONCURRENT_TRAININGS)


def planned(dataset: Dataset, device: str = "auto", budget: float | None = None, model: dict | None = None,
            train: dict | None = None):
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
        plan = plan_training(seqs, split, device, budget, model=model, train=train)
        config = plan.model_config
        return Plan(replace(config, short_window=min(config.short_window, config.max_len)), plan.train_config,
                    plan.reasons)

    return dataset.cached(key, compute)


def estimate_training(seqs, split, model_config, train_config, should_stop=None):
    """`ltsi.plan.estimate_training` (looked up when called, so a test can replace it): a few measured batches."""
    from ltsi import plan

    return plan.estimate_training(seqs, split, model_config, train_config, should_stop=should_stop)


class TrainingJob:
    """One training run in a daemon thread; the UI reads its fields, only the worker writes them.

    States: waiting (for a free training slot) -> [measuring ->] training -> evaluating -> done | failed.
    With `check_budget` and a time budget, the worker first measures a few batches; when the budget is
    too short for useful training (`TimeEstimate.verdict`), it stops in state "confirm" with the
    verdict and the proposed budget, frees its slot and ends: the analyst then calls `proceed(budget)`
    (a new worker thread trains) or `cancel()`.
    `stop()` asks the loop to end after the current batch; the best weights so far are kept.
    """

    ACTIVE = ("waiting", "measuring", "training", "evaluating")

    def __init__(self, dataset: Dataset, model_config, train_config, with_ablations: bool = False,
                 slots: threading.BoundedSemaphore | None = None, check_budget: bool = False) -> None:
        self.dataset_name = dataset.name
        self.seqs, self.split = dataset.sequences()
        self.items = dataset.items
        self.model_config, self.train_config = model_config, train_config
        self.with_ablations = with_ablations
        self.slots = slots
        self.check_budget = check_budget
        self.state = "waiting"
        self.message = "waiting for a free training slot (another session is training)"
        self.progress = None  # the latest ltsi.train.Progress
        self.epochs: list[dict] = []  # one row per finished epoch: epoch, loss, validation metrics
        self.batches: list[dict] = []  # running training loss: x = epochs done (fractional), loss
        self.result: ActiveRun | None = None
        self.error: str | None = None
        self.estimate = None  # ltsi.plan.TimeEstimate, once measured
        self.verdict = ""  # why the time budget is too short ("" = it is not, or not measured)
        self.started = time.perf_counter()
        self.finished: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, name="ltsi-training", daemon=True)

    def start(self) -> TrainingJob:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

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
        self.message = "waiting for a free training slot (another session is training)"
        self.started = time.perf_counter()
        self.thread = threading.Thread(target=self._work, kwargs={"measure": False}, name="ltsi-training",
                                       daemon=True)
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
        """Progress in [0, 1]: epochs done of the maximum, or time used of the time budget, whichever is further."""
        p = self.progress
        if p is None or not p.epochs:
            return 0.0
        done = ((max(p.epoch, 1) - 1) + p.step / max(p.steps, 1)) / p.epochs
        budget = self.train_config.max_seconds
        if budget:
            done = max(done, p.elapsed_s / budget)
        return float(min(1.0, done))

    # -- worker side (never calls st.*)
    def _on_progress(self, progress) -> None:
        with self._lock:
            self.progress = progress
            self.message = progress.message
            if progress.epoch >= 1 and progress.step > 0 and progress.steps and math.isfinite(progress.loss):
                self.batches.append({"x": progress.epoch - 1 + progress.step / progress.steps, "loss": progress.loss})
            if progress.metrics is not None and progress.epoch >= 1 and (
                not self.epochs or self.epochs[-1]["epoch"] < progress.epoch
            ):
                self.epochs.append({"epoch": progress.epoch, "loss": progress.loss, **progress.metrics})

    def _stopped_before_start(self) -> None:
        self.state, self.message = "failed", "stopped before it started"
        self.error = "Training was stopped before it started."

    def _work(self, measure: bool = True) -> None:
        acquired, awaiting = False, False
        try:
            while self.slots is not None and not acquired:
                acquired = self.slots.acquire(timeout=0.5)
                if not acquired and self._stop.is_set():
                    self._stopped_before_start()
                    return
            if measure and self.check_budget and self.train_config.max_seconds:
                self.state, self.message = "measuring", "measuring a few batches to check the time budget"
                self.estimate = estimate_training(self.seqs, self.split, self.model_config, self.train_config,
                                                  should_stop=self._stop.is_set)
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
            if acquired:
                self.slots.release()
            if awaiting:  # last: the page acts on "confirm" only once the slot is free again
                self.message = "the time budget looks too short: waiting for your decision on the Train page"
                self.state = "confirm"
            else:
                self.finished = time.perf_counter()

    def _train(self) -> None:
        from ltsi.evaluate import compare
        from ltsi.model import ABLATIONS
        from ltsi.runs import model_scorers
        from ltsi.train import train

        self.state, self.message = "training", "preparing the training windows"
        result = train(self.seqs, self.split, self.model_config, self.train_config,
                       callback=self._on_progress, should_stop=self._stop.is_set)
        ablations = {}
        if self.with_ablations and not self._stop.is_set():
            for name, switches in ABLATIONS.items():
                if self._stop.is_set():
                    break
                self.state, self.message = "training", f"training the ablation 'LTSI ({name})'"
                ablations[name] = train(self.seqs, self.split, replace(self.model_config, **switches),
                                        self.train_config, should_stop=self._stop.is_set)
        self.state, self.message = "evaluating", "evaluating LTSI and the baselines on the test events"
        # report names as everywhere else: "LTSI", "LTSI (no attention)", ..., then the baselines
        scorers = model_scorers(result.model, {name: r.model for name, r in ablations.items()}, self.seqs, self.split)
        results = compare(scorers, self.seqs, self.split.test, self.model_config.max_len) if len(self.split.test) else None
        history = result.history
        self.result = ActiveRun(
            name=f"Trained on {self.dataset_name} ({time.strftime('%H:%M')})",
            model=result.model, model_config=result.model_config or self.model_config,
            train_config=result.train_config or self.train_config, seqs=self.seqs, split=self.split,
            items=self.items, results=results, history=history,
            info=dict(dataset=self.dataset_name, seconds=result.seconds, device=result.device,
                      stopped=result.stopped, stop_reason=result.stop_reason.value,
                      still_improving=bool(result.still_improving), advice=result.advice,
                      best_epoch=result.best_epoch, valid_metrics=result.valid_metrics,
                      source="trained in this session"),
            train_result=result, ablation_results=ablations,
        )
        self.state = "done"
        self.message = f"done in {fmt_seconds(result.seconds)}: {result.stopped}"


def job() -> TrainingJob | None:
    return st.session_state.get("job")


# ---------------------------------------------------------------------------------------------
# Small formatting helpers shared by the views


def fmt_rank(rank: float) -> str:
    return "not ranked" if rank is None or not np.isfinite(rank) else f"#{int(rank):,}"


def gate_words(g: float) -> str:
    """The gate in plain words: '62% long-term interest: the next recommendation leans on ...'."""
    if abs(g - 0.5) < 0.05:
        lean = "balances the user's lasting taste and what they did just now"
    elif g > 0.5:
        lean = "leans on the user's lasting taste (long-term)"
    else:
        lean = "leans on what the user did just now (short-term)"
    return f"{g:.0%} long-term interest: the next recommendation {lean}."


def gpu_summary() -> str:
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return f"GPU available: {name}"
    return f"No GPU: training runs on the CPU ({os.cpu_count()} cores)"


def sidebar(page: str = "") -> None:
    """The active dataset and model, on every page (and the training progress, except on the Train page,
    which shows it itself)."""
    with st.sidebar:
        st.markdown("**Active data**")
        d = dataset()
        if d is None:
            st.caption("none yet: pick a demo or upload a log on the Data page")
        else:
            r = d.report
            st.caption(f"{d.name}  \n{plural(r.rows_kept, 'event')} · {plural(r.n_users, 'user')} · "
                       f"{plural(r.n_items, 'item')}")
        st.markdown("**Active model**")
        a = run()
        if a is None:
            st.caption("none yet: train one or load the demo model on the Train page")
        else:
            ndcg = None
            if a.results is not None and "NDCG@10" in a.results:
                ltsi_rows = a.results[a.results["model"] == "LTSI"]
                ndcg = float(ltsi_rows["NDCG@10"].iat[0]) if len(ltsi_rows) else None
            extra = f"  \ntest NDCG@10 {ndcg:.3f}" if ndcg is not None else ""
            st.caption(f"{a.name}  \n{plural(a.seqs.n_users, 'user')} · "
                       f"{plural(len(a.seqs.items) - 1, 'item')}{extra}")
        j = job()
        if j is not None and j.active:
            if page == "Train":
                st.caption(f":material/model_training: {j.state}: see the progress on this page")
            else:
                training_status()
        elif j is not None and j.awaiting and page != "Train":
            st.caption(":material/timer: a training waits for your decision on the Train page: the time budget "
                       "looks too short")


@st.fragment(run_every=2.0)
def training_status() -> None:
    """Sidebar line while a model trains, on every page; when it is done, rerun the app to make it active."""
    j = job()
    if j is None or not j.active:
        st.rerun()
    st.caption(f":material/model_training: {j.state}: {j.message}")
    st.progress(j.fraction())


# ---------------------------------------------------------------------------------------------
# Per-run views the Users page needs (thin glue over ltsi.explain, cached per run)


def heldout(active: ActiveRun, user: str) -> dict | None:
    """The user's held-out test event: {"end": history length before it, "item_id", "position"}; None if untested."""
    table = active.cached(("heldout-table",), lambda: {
        active.seqs.users[int(u)]: (int(e), int(t)) for u, e, t in
        zip(active.split.test.users, active.split.test.ends, active.split.test.targets)})
    if user not in table:
        return None
    end, target = table[user]
    return {"end": end, "item_id": active.seqs.items.decode([target])[0], "position": end}


def user_overview(active: ActiveRun, max_users: int = 5000) -> pd.DataFrame:
    """One row per (sampled) tested user: gate, short-term peak and held-out rank, for the suggestions."""

    def compute() -> pd.DataFrame:
        import torch

        from ltsi.explain import edit_history, pad_histories, score_histories

        seqs, cases, model = active.seqs, active.split.test, active.model
        if len(cases) == 0:  # nobody has enough events for a held-out test event
            return pd.DataFrame(columns=["user_id", "n_events", "gate", "short_peak", "heldout_rank"])
        index = np.arange(len(cases))
        if len(index) > max_users:
            index = np.sort(np.random.default_rng(0).choice(index, max_users, replace=False))
        users, ends, targets = cases.users[index], cases.ends[index], cases.targets[index]
        histories = [edit_history(seqs, int(u), int(e)) for u, e in zip(users, ends)]
        _, ranks = score_histories(model, histories, targets)
        gates, peaks = [], []
        with torch.no_grad():
            model.eval()
            for start in range(0, len(histories), 512):
                batch = pad_histories(histories[start:start + 512], model.config.max_len)
                out = model(batch.items, batch.events, batch.gaps)
                gates.append(out.gate[:, -1].float().numpy())
                peaks.append(out.short_attention[:, -1].max(-1).values.float().numpy())
        return pd.DataFrame({
            "user_id": [seqs.users[int(u)] for u in users], "n_events": seqs.lengths[users],
            "gate": np.concatenate(gates) if gates else [], "short_peak": np.concatenate(peaks) if peaks else [],
            "heldout_rank": ranks,
        })

    return active.cached(("overview", max_users), compute)


def heldout_rank(active: ActiveRun, user: str) -> float:
    """Rank of the user's held-out item after the history before it (inf when not tested)."""
    held = heldout(active, user)
    if held is None:
        return float("inf")

    def compute() -> float:
        from ltsi.explain import edit_history, score_histories

        u = active.seqs.user_index(user)
        target = active.seqs.items.encode([held["item_id"]], "item")
        _, ranks = score_histories(active.model, [edit_history(active.seqs, u, held["end"])], target)
        return float(ranks[0])

    return active.cached(("heldout-rank", user), compute)


def suggestions(active: ActiveRun) -> dict[str, tuple[str, str]]:
    """Four users worth a look: {label: (user_id, why)}."""
    table = user_overview(active)
    if table.empty:
        return {}
    for minimum in (15, 8, 1):  # prefer timelines long enough to show both kinds of interest
        if (table["n_events"] >= minimum).sum() >= 20:
            table = table[table["n_events"] >= minimum]
            break
    out = {}
    burst = table.assign(s=(1 - table["gate"]) * table["short_peak"]).nlargest(1, "s").iloc[0]
    out["Short-term burst"] = (burst["user_id"], f"{1 - burst['gate']:.0%} short-term; one recent event carries "
                                                 f"{burst['short_peak']:.0%} of the short-term attention")
    longest = table.nlargest(1, "gate").iloc[0]
    out["Long-term taste"] = (longest["user_id"], f"{longest['gate']:.0%} long-term interest")
    hits = table[table["heldout_rank"] <= 10]
    if len(hits):
        hit = hits.sort_values(["heldout_rank", "n_events"], ascending=[True, False]).iloc[0]
        out["Test hit"] = (hit["user_id"], f"the held-out next item was ranked #{int(hit['heldout_rank'])}")
    misses = table[table["heldout_rank"] > 10]
    if len(misses):
        miss = misses.iloc[(misses["heldout_rank"] - misses["heldout_rank"].median()).abs().argsort().iloc[0]]
        out["Test miss"] = (miss["user_id"], f"the held-out next item was ranked {fmt_rank(miss['heldout_rank'])}")
    return out


def explanation(active: ActiveRun, user: str, end: int | None, target: str | None, k: int = 10):
    """ltsi.explain.explain for one user and one target (default: the top recommendation), cached per run."""
    from ltsi.explain import explain

    return active.cached(("explain", user, end, target, k), lambda: explain(
        active.model, active.seqs, user, targets=[target] if target else None, end=end, items=active.items,
        n_steps=32, with_occlusion=False, k=k))


def what_if(active: ActiveRun, user: str, end: int | None, removed: tuple[int, ...], item: str | None, k: int = 10):
    from ltsi.explain import what_if as _what_if

    return active.cached(("what-if", user, end, removed, item, k), lambda: _what_if(
        active.model, active.seqs, user, remove=list(removed), item=item, k=k, end=end, items=active.items))


# ---------------------------------------------------------------------------------------------
# Exports (the download buttons call these lazily, in a worker thread of Streamlit: no st.* here)


def all_recommendations(active: ActiveRun, k: int, exclude_seen: bool, users: list[str] | None = None) -> pd.DataFrame:
    from ltsi.recommend import recommend_all

    return active.cached(("recommend-all", k, exclude_seen, tuple(users) if users else None), lambda: recommend_all(
        active.model, active.seqs, k=k, items=active.items, exclude_seen=exclude_seen, users=users), limit=64)


def recommendations_csv(active: ActiveRun, k: int, exclude_seen: bool) -> bytes:
    from dashboard.exporting import safe_csv

    return safe_csv(all_recommendations(active, k, exclude_seen))


def export_rows(active: ActiveRun, k: int, exclude_seen: bool) -> tuple[int, int, int]:
    """(rows in all, fewest per user, most per user) of `recommendations_csv`, without scoring anybody: each user
    gets min(k, items) rows, or min(k, items not yet in the user's history) when seen items are left out."""

    def compute() -> tuple[int, int, int]:
        seqs = active.seqs
        n_items = len(seqs.items) - 1
        if exclude_seen:
            owner = np.repeat(np.arange(seqs.n_users, dtype=np.int64), seqs.lengths)
            pairs = np.unique(owner * len(seqs.items) + seqs.item_ids)
            seen = np.bincount(pairs // len(seqs.items), minlength=seqs.n_users)
            per_user = np.minimum(k, n_items - seen)
        else:
            per_user = np.full(seqs.n_users, min(k, n_items))
        if per_user.size == 0:
            return 0, 0, 0
        return int(per_user.sum()), int(per_user.min()), int(per_user.max())

    return active.cached(("export-rows", k, exclude_seen), compute)


def export_caption(active: ActiveRun, k: int, exclude_seen: bool) -> str:
    """What the recommendations CSV really holds: users × rows, saying where a user gets fewer than k rows."""
    n_users, n_items = active.seqs.n_users, len(active.seqs.items) - 1
    total, fewest, most = export_rows(active, k, exclude_seen)
    users = plural(n_users, "user")
    if most == 0:
        return f"No rows for {users}: every user has already had every item, and those are left out"
    if fewest == most:
        shape = f"{users} × {plural(most, 'row')}"
        if most < k and not exclude_seen:
            shape += f" (the catalogue has only {plural(n_items, 'item')}, so every item is listed)"
        elif most < k:
            shape += f" (every user has had all but {plural(most, 'item')}, and only those are left)"
        shape += f" = {plural(total, 'row')}" if n_users > 1 else ""
    else:
        shape = (f"{plural(total, 'row')} for {users}: up to {plural(most, 'row')} per user, fewer where few items "
                 f"are left that the user has not had yet (at least {fewest})")
    return shape


def recommendations_preview(active: ActiveRun, k: int, exclude_seen: bool, n_users: int = 3) -> pd.DataFrame:
    return all_recommendations(active, k, exclude_seen, users=list(active.seqs.users[:n_users]))


def run_zip(active: ActiveRun) -> bytes:
    """The run folder as a zip: the folder it was loaded from, or a fresh save of a session-trained run."""
    import tempfile

    from dashboard.exporting import zip_folder

    if active.folder is not None:
        return zip_folder(active.folder)
    from ltsi.runs import save_run

    metrics = active.results.assign(split="test") if active.results is not None else None
    with tempfile.TemporaryDirectory(prefix="ltsi-run-") as tmp:
        folder = save_run(Path(tmp) / "run", active.train_result, active.seqs, active.split,
                          items_table=active.items, metrics=metrics, ablations=active.ablation_results)
        return zip_folder(folder)


def load_run_zip(data: bytes, name: str) -> ActiveRun:
    """A run folder uploaded as a zip (safetensors + JSON only), unpacked to a private temporary folder."""
    import tempfile

    from dashboard.exporting import unzip_to

    import shutil
    import weakref

    tmp = Path(tempfile.mkdtemp(prefix="ltsi-upload-run-"))
    try:
        folder = unzip_to(data, tmp)
        loaded = load_run_folder(folder, name=f"Uploaded run {name}")
    except ValueError as error:  # LTSIError is a ValueError too: its message is already plain
        shutil.rmtree(tmp, ignore_errors=True)
        raise error if isinstance(error, LTSIError) else LTSIError(str(error)) from error
    weakref.finalize(loaded, shutil.rmtree, tmp, True)  # the folder lives as long as the run
    return loaded


def user_report(active: ActiveRun, user: str) -> str:
    """The self-contained HTML report of one user (evaluation view when the user has a held-out event)."""
    from dashboard import figures
    from dashboard.exporting import user_report_html

    held = heldout(active, user)
    end = held["end"] if held else None
    exp = explanation(active, user, end, None)
    recs = exp.recommendations.copy()
    top = recs["item_id"].iat[0]
    rows = exp.for_target(top)
    titles = active.items.drop_duplicates("item_id").set_index("item_id")["title"] if (
        active.items is not None and "title" in active.items) else None

    def name(item: str) -> str:
        return f"{titles[item]} ({item})" if titles is not None and item in titles.index else str(item)

    g = float(exp.gate)
    n_events = int(active.seqs.lengths[active.seqs.user_index(user)])
    if exp.n_window < exp.n_history:
        read = f"the model read the last {exp.n_window} of the {exp.n_history} before the prediction"
    elif exp.n_history < n_events:  # the held-out event is hidden
        read = f"the model read {'the one' if exp.n_history == 1 else f'all {exp.n_history}'} before the prediction"
    else:
        read = "the model read all of them"
    summary = [gate_words(g), f"The user has {plural(n_events, 'event')}; {read}.",
               f"Top recommendation: {name(top)}.", split_words(exp.targets.iloc[0], name(top))]
    if held:
        rank = heldout_rank(active, user)
        summary.append(f"Held-out next event (hidden from the model): {name(held['item_id'])}, ranked "
                       f"{fmt_rank(rank)} of {plural(len(active.seqs.items) - 1, 'item')}"
                       f" ({'in' if rank <= len(recs) else 'not in'} the top {len(recs)}).")
        recs.insert(1, "held-out", np.where(recs["item_id"] == held["item_id"], "next event", ""))
    heatmap = figures.user_heatmap(rows, [("Short-term attention", "short_attention", "weight"),
                                          ("Long-term weight", "long_attention", "weight"),
                                          (f"Attribution to {name(top)}", "attribution", "attribution")],
                                   axis_hint="events, oldest → most recent (hover for item and time)")
    strongest = rows.reindex(rows["attribution"].abs().sort_values(ascending=False).index).head(5)
    strongest = pd.DataFrame({
        "event #": strongest["position"], "item": [name(i) for i in strongest["item_id"]],
        "event": strongest["event"].astype(str), "time": pd.to_datetime(strongest["timestamp"]).dt.strftime(
            "%Y-%m-%d %H:%M"), "attribution": strongest["attribution"]})
    return user_report_html(
        user_id=user, run_name=active.name, summary=summary,
        figures=[("Long-term vs. short-term interest", figures.gate_bar(g), "The gate: share of long-term interest."),
                 ("The user's timeline", heatmap, "One column per event, oldest left. Hover for item and time.")],
        tables=[("Top recommendations", recs.drop(columns=[c for c in ("genres",) if c in recs])),
                (f"Events that mattered most for {name(top)}", strongest)])


def keep_settings() -> None:
    """Keep the settings widgets' values while their page is not shown.

    Streamlit forgets the state of a widget that a script run does not draw, so a visit to another
    page would reset the Train form; writing a value back to its key makes it user state, which is
    kept (Streamlit's documented way to retain widget values across pages). Call once per run.
    """
    for key in KEPT_SETTINGS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


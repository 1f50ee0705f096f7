"""Per-session state of the dashboard (every session key, the active dataset and run) and its caches.

What lives where (one browser tab = one session; `Keys` names every key):

- `st.session_state[Keys.DATASET]`: the active `Dataset` (validated event log, its filters + its sequences;
  or, for a source on the server, the sequences and report of `ltsi.warehouse.scan` and no event table);
- `st.session_state[Keys.RUN]`: the active `ActiveRun` (an `ltsi.runs.Run`, trained or loaded, plus
  its name and a small cache of derived views such as explanations);
- `st.session_state[Keys.JOB]`: the `dashboard.training.TrainingJob` while (and after) a model trains.

Only pure parsing of uploaded bytes is cached across sessions (`st.cache_data`, keyed by a digest of
the bytes, so a session can only hit an entry for bytes it uploaded itself); the process-wide
training semaphore lives in `dashboard.training`. Nothing per-session goes into `st.cache_resource`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import streamlit as st

from ltsi.errors import LTSIError

if TYPE_CHECKING:
    from ltsi.event_log import EventLog, ValidationReport
    from ltsi.filters import EventFilter
    from ltsi.runs import Run
    from ltsi.sequences import Sequences
    from ltsi.splits import Split
    from ltsi.warehouse import ScanResult

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DEMO_RUN = DATA / "demo_run"
DEMOS = {
    "ecommerce": dict(
        label="E-commerce demo (synthetic shop)",
        events=DATA / "ecommerce" / "events.csv",
        items=DATA / "ecommerce" / "items.csv",
    ),
    "movielens": dict(
        label="MovieLens 100K (movie ratings)",
        events=DATA / "ml-100k" / "ratings.csv",
        items=DATA / "ml-100k" / "movies.csv",
    ),
}

log = logging.getLogger("ltsi.dashboard")


class Keys:
    """Every key of `st.session_state` that the dashboard reads or writes, named once.

    (Widget keys that are only an element's identity, such as a button's or a chart's, stay at the widget.)
    """

    DATASET = "dataset"  # the active Dataset
    RUN = "run"  # the active ActiveRun
    JOB = "job"  # the TrainingJob of this session
    RUN_LOADED = "run_loaded"  # the name of a run just loaded from a zip: said once, on the next Train page
    DATA_SOURCE = "data_source"  # the Data page's source radio: a demo's kind, "upload", "server" or "sql"
    SERVER_PATH = "server_path"  # the Data page's path on the server (a file, a folder or a pattern)
    SERVER_SQL = "server_sql"  # the Data page's SQL query over files on the server
    SERVER_SAMPLE = "server_sample"  # the Data page's number of users to sample from a server source
    CHOICES_LOG = "choices_log"  # form -> the log (Dataset.reading_key) the Data page's form choices were made on
    UPLOAD_COLUMNS = "upload_columns"  # (digest, role -> column): the columns chosen after a file could not be read
    RUN_FOLDER = "run_folder"  # the Train page's run folder on the server
    USER = "user"  # the user the Users page shows (and the Export page's default)
    USER_PICK = "user_pick"  # the Users page's user selectbox
    USER_QUERY = "user_query"  # the Users page's search box (logs with many users)
    TARGET = "target"  # ("target", user, end, hide_seen, item): the item the Users page's attribution explains
    EVALUATION_VIEW = "evaluation_view"  # the Users page's "hide the last event" toggle
    EXPORT_K = "export_k"
    HIDE_SEEN = "hide_seen"  # "hide items already in the history": one switch for the Users and Export pages
    LIBRARY_QUERY = "library_query"  # the run library's search box (Train page)
    LIBRARY_PICK = "library_pick"  # the run library's choice of saved run (its id)
    LIBRARY_NEW_NAME = "library_new_name"  # the run library's rename box
    LIBRARY_DELETING = "library_deleting"  # the id of the saved run whose deletion awaits confirmation
    LIBRARY_LOG = "library_log"  # the last uploaded log (dashboard.library.RememberedLog), saved with its runs
    LIBRARY_NOTICE = "library_notice"  # what the last library action did: said once, on the next run
    SCENARIOS = "scenarios"  # the Users page's what-if per (user, end): explaining.UserScenarios (edits + saved)
    COMPARE_RUN = "compare_run"  # the Compare page's other run (an ActiveRun)
    ITEM = "item"  # the item the Items page shows
    ITEM_QUERY = "item_query"  # the Items page's search box
    SLICE_BY = "slice_by"  # the Model page's slicing choice
    SLICE = "slice"  # the Model page's selected slice
    TIMELINE_ZOOM = "timeline_zoom"  # the Users page's timeline aggregation choice
    EXPORT_USER = "export_user"
    # the Train form
    TRAIN_DIM = "train_dim"
    TRAIN_MAX_LEN = "train_max_len"
    TRAIN_EPOCHS = "train_epochs"
    TRAIN_BUDGET = "train_budget"
    TRAIN_BUDGET_LOG = "train_budget_log"  # (log key, budget): the budget the analyst left for that log
    TRAIN_DEVICE = "train_device"
    TRAIN_ABLATIONS = "train_ablations"
    TRAIN_LR = "train_lr"
    TRAIN_BATCH = "train_batch"
    TRAIN_PATIENCE = "train_patience"
    TRAIN_WINDOW = "train_window"
    TRAIN_SEED = "train_seed"
    TRAIN_THREADS = "train_threads"

    @staticmethod
    def what_if(user: str, end: int | None) -> str:
        """The Users page's what-if table of one user and view (its unticked rows are the removed events)."""
        return f"whatif_{user}_{end}"

    @staticmethod
    def recommendations(user: str, end: int | None) -> str:
        """The Users page's recommendations table of one user and view (a clicked row picks the target)."""
        return f"recs_{user}_{end}"


# Selections that belong to one run: a new active run starts without them
# (the seen switch: its default follows the run's data; scenarios name one run's events and items)
RUN_SELECTIONS = (Keys.USER, Keys.TARGET, Keys.HIDE_SEEN, Keys.SCENARIOS, Keys.ITEM, Keys.SLICE)


# ---------------------------------------------------------------------------------------------
# Reading logs (cached by content digest: pure parsing of bytes)


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@st.cache_data(max_entries=6, ttl=3600, show_spinner="Reading and validating the log…")
def parse_log(
    key: str,
    name: str,
    mapping: tuple[tuple[str, str | None], ...] | None,
    min_events: int,
    dayfirst: bool | None,
    items_key: str | None,
    items_name: str | None,
    _data: bytes,
    _items: bytes | None,
):
    """`ltsi.events.load_events` on uploaded bytes; `key`/`items_key` are the digests of the bytes."""
    from ltsi.events import load_events

    return load_events(
        _data,
        name=name,
        mapping=dict(mapping) if mapping is not None else None,
        items=load_items_bytes(items_key, items_name, _items) if _items is not None else None,
        min_events=min_events,
        dayfirst=dayfirst,
    )


@st.cache_data(max_entries=6, ttl=3600, show_spinner=False)
def load_items_bytes(key: str, name: str | None, _data: bytes) -> pd.DataFrame:
    from ltsi.items import load_items

    return load_items(_data, name=name)


SERVER_KINDS = ("server", "sql")  # Dataset.kind of the sources on the server (ltsi.warehouse.scan)


@dataclass(frozen=True)
class ServerSource:
    """A log on the server as `ltsi.warehouse.scan` reads it: a checked path (a file, a folder or a pattern) or
    a checked query, how many users to sample, and the log's days and event types before any filter (what the
    filters offer; a scan with filters reports only what they keep)."""

    path: str  # "" for a query
    sql: str | None
    sample_users: int | None  # None: every user
    min_events: int = 1
    days: tuple[dt.date, dt.date] | None = None  # (first, last) day of the log before the filters; None: no times
    event_types: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "sql" if self.sql is not None else "server"

    def key(self) -> str:
        """Which data this is (for caches, budgets and the run library): the digest of what was asked."""
        asked = f"{self.path}\n{self.sql}\n{self.sample_users}\n{self.min_events}"
        return "server:" + digest(asked.encode())


@dataclass
class Dataset:
    """One validated event log as the session uses it: as read, or with only the events its filters keep.

    From a source on the server (`server` set) there is no event table: the sequences and report of
    `ltsi.warehouse.scan` (`scanned`) stand for it, already filtered and perhaps a sample of the users."""

    name: str  # what the sidebar shows: the file name or the demo's label
    kind: str  # "ecommerce" | "movielens" | "upload" | "server" | "sql"
    source_key: str  # digest of the bytes (or of the server source asked for)
    log: EventLog | None  # the log in use: the filtered one when there are filters (None: a server source)
    columns: list[str]
    mapping: dict[str, str | None] | None  # explicit overrides (None = automatic)
    min_events: int = 1
    dayfirst: bool | None = None
    source: tuple = field(default=(), repr=False)  # (bytes, name, item bytes, item name) to re-read with a new mapping
    filters: EventFilter | None = None  # what the analyst chose to keep (None: every event)
    unfiltered: EventLog | None = field(default=None, repr=False)  # the log as read, when there are filters
    _sequences: tuple[Sequences, Split] | None = field(default=None, repr=False)
    cache: dict = field(default_factory=dict, repr=False)  # summary figures and plans, built once
    server: ServerSource | None = None  # what was scanned on the server
    scanned: ScanResult | None = field(default=None, repr=False)  # its sequences, report and item table

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    @property
    def key(self) -> str:
        """Which data this is: the digest of the bytes, and the filters when there are some (other data,
        so other caches, training budgets and run-library entries)."""
        return self.source_key if self.filters is None else f"{self.source_key} | {self.filters.key()}"

    @property
    def reading_key(self) -> str:
        """Which reading of which log this is, before any filter: the source, and for a file also the column
        read for each role, the minimum events per user and the day-first choice. What the Data page's forms
        offer (columns, dates, event types) depends on it, so their choices belong to one reading."""
        if self.log is None:
            return self.source_key
        columns = sorted(self.as_read.report.mapping.columns().items())
        return f"{self.source_key} | {columns} | {self.min_events} | {self.dayfirst}"

    @property
    def has_events(self) -> bool:
        """Whether there is an event table (`events`, `as_read`); a server source has only its sequences."""
        return self.log is not None

    @property
    def as_read(self) -> EventLog:
        """The log before the filters (the one to filter again when the analyst changes them)."""
        return self.unfiltered if self.unfiltered is not None else self.log

    @property
    def events(self) -> pd.DataFrame:
        return self.log.events

    @property
    def items(self) -> pd.DataFrame | None:
        return self.scanned.items if self.scanned is not None else self.log.items

    @property
    def report(self) -> ValidationReport:
        return self.scanned.report if self.scanned is not None else self.log.report

    @property
    def sampled_out(self) -> int:
        """Rows of the users left out of the sample (0: every user of the log is here)."""
        if self.server is None or self.server.sample_users is None:
            return 0
        from ltsi.warehouse import reason_not_sampled

        return int(self.report.dropped.get(reason_not_sampled(self.server.sample_users), 0))

    def sequences(self) -> tuple[Sequences, Split]:
        """(Sequences, Split) built once per dataset from the events in use (after the filters):
        per-user chronological events, leave-one-out."""
        if self._sequences is None:
            from ltsi.sequences import build_sequences
            from ltsi.splits import leave_one_out

            seqs = self.scanned.seqs if self.scanned is not None else build_sequences(self.events)
            self._sequences = (seqs, leave_one_out(seqs))
        return self._sequences

    def chart_events(self) -> pd.DataFrame:
        """The events the Data page's charts count: the event table, or one built from a server source's
        sequences (user, item, time, event type; no value)."""
        if self.log is not None:
            return self.log.events
        return self.cached("chart_events", lambda: sequence_events(self.sequences()[0]))

    def built(self, seqs: Sequences) -> bool:
        """Whether `seqs` are this dataset's sequences (the very object: a model trained on them came from here)."""
        return self._sequences is not None and self._sequences[0] is seqs


def sequence_events(seqs: Sequences) -> pd.DataFrame:
    """One row per event of `seqs`, in sequence order: user_id, item_id, timestamp (UTC), event. Ids and
    event types are categoricals over the vocabularies (one text per user and item, not per event)."""
    user_codes = np.repeat(np.arange(seqs.n_users), seqs.lengths)  # (E,) user index of each event
    users = pd.Categorical.from_codes(user_codes, categories=pd.Index(seqs.users, dtype=object))
    # vocabulary id 0 is padding and never occurs: the categories start at id 1
    items = pd.Categorical.from_codes(seqs.item_ids - 1, categories=pd.Index(seqs.items.tokens[1:], dtype=object))
    kinds = pd.Categorical.from_codes(
        seqs.event_ids - 1, categories=pd.Index(seqs.event_types.tokens[1:], dtype=object)
    )
    return pd.DataFrame(
        {
            "user_id": users,
            "item_id": items,
            "timestamp": pd.to_datetime(seqs.timestamps, unit="s", utc=True),
            "event": kinds,
        }
    )


def with_filters(current: Dataset, filters: EventFilter | None) -> Dataset:
    """A fresh Dataset of the same log as read with only the events `filters` keep (None or a filter that
    keeps everything: the log as read). Its sequences and cached figures are built again, from those events
    (a server source is scanned again with the filters). Raises LTSIError when a filter cannot apply or leaves
    no event."""
    from ltsi.filters import apply_filters

    if current.server is not None:
        return scan_server(current.server, filters if filters is not None and filters.active else None)
    as_read = current.as_read
    if filters is None or not filters.active:
        return replace(current, log=as_read, filters=None, unfiltered=None, _sequences=None, cache={})
    filtered = apply_filters(as_read, filters, current.min_events)
    return replace(current, log=filtered, filters=filters, unfiltered=as_read, _sequences=None, cache={})


def open_server_source(
    path: str = "", sql: str | None = None, sample_users: int | None = None, min_events: int = 1
) -> Dataset:
    """A log on the server (a file, a folder or a pattern of Parquet/CSV files, or a SELECT over them) as a
    Dataset, read by `ltsi.warehouse.scan` without filters. The path or query is checked first
    (`ltsi.server_sources`): outside the folders the operator allows, it is refused with an LTSIError."""
    from ltsi.server_sources import check_path, check_sql

    if sql is not None:
        check_sql(sql)
        asked = ServerSource("", sql, sample_users, min_events)
    else:
        asked = ServerSource(str(check_path(path)), None, sample_users, min_events)
    first = scan_server(asked, None)
    report = first.report
    days = (report.time_min.date(), report.time_max.date()) if report.time_min is not None else None
    # the filters later offer what this unfiltered scan found
    known = replace(asked, days=days, event_types=tuple(str(t) for t in report.event_counts))
    first.server = known
    return first


def scan_server(server: ServerSource, filters: EventFilter | None) -> Dataset:
    """`ltsi.warehouse.scan` of a server source with these filters, as a Dataset (the path or query was
    checked when the source was opened)."""
    from ltsi import warehouse
    from ltsi.server_sources import allowed_folders

    result = warehouse.scan(
        server.path,
        sql=server.sql,
        filters=filters,
        sample_users=server.sample_users,
        min_events=server.min_events,
        allowed_folders=allowed_folders(),
    )
    name = "SQL query on the server" if server.sql is not None else Path(server.path).name or server.path
    return Dataset(
        name=name,
        kind=server.kind,
        source_key=server.key(),
        log=None,
        columns=list(result.report.columns),
        mapping=None,
        min_events=server.min_events,
        filters=filters,
        server=server,
        scanned=result,
    )


def read_dataset(
    data: bytes,
    name: str,
    kind: str,
    items: bytes | None = None,
    items_name: str | None = None,
    mapping: dict[str, str | None] | None = None,
    min_events: int = 1,
    dayfirst: bool | None = None,
) -> Dataset:
    """Parse + validate (cached) and wrap as a Dataset. Raises LTSIError for unusable input."""
    key = digest(data)
    items_key = digest(items) if items is not None else None
    frozen = tuple(sorted(mapping.items())) if mapping else None
    log_ = parse_log(key, name, frozen, min_events, dayfirst, items_key, items_name, data, items)
    return Dataset(
        name=name,
        kind=kind,
        source_key=key,
        log=log_,
        columns=log_.report.columns,
        mapping=mapping,
        min_events=min_events,
        dayfirst=dayfirst,
        source=(data, name, items, items_name),
    )


def demo_bytes(kind: str) -> tuple[bytes, str, bytes | None, str | None]:
    demo = DEMOS[kind]
    items = demo["items"].read_bytes() if demo["items"].exists() else None
    return demo["events"].read_bytes(), demo["events"].name, items, demo["items"].name


def load_demo(kind: str = "ecommerce", **options) -> Dataset:
    data, name, items, items_name = demo_bytes(kind)
    dataset = read_dataset(data, name, kind, items, items_name, **options)
    dataset.name = DEMOS[kind]["label"]
    return dataset


def reread(current: Dataset, mapping: dict[str, str | None] | None, min_events: int, dayfirst: bool | None) -> Dataset:
    """The same bytes read again with another column mapping or options."""
    data, name, items, items_name = current.source
    new = read_dataset(
        data, name, current.kind, items, items_name, mapping=mapping, min_events=min_events, dayfirst=dayfirst
    )
    new.name = current.name
    return new


def dataset() -> Dataset | None:
    return st.session_state.get(Keys.DATASET)


def set_dataset(value: Dataset | None) -> None:
    st.session_state[Keys.DATASET] = value


# ---------------------------------------------------------------------------------------------
# The active run: an ltsi.runs.Run with its name and a cache of derived views


@dataclass
class ActiveRun:
    """The session's model: the `ltsi.runs.Run` (model, configs, data, split, items, metrics, history,
    ablations, info), the name the sidebar shows, and a per-run cache of derived views."""

    run: Run
    name: str  # what the sidebar shows
    folder: Path | None = None  # where the run was loaded from (None: trained in this session)
    library_id: str | None = None  # its entry in the run library (ltsi.library), once saved there or opened from it
    cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    # Explanations hook the model's embedding layers: one computation at a time per model (the page
    # script and a deferred download run in different threads).
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def training(self) -> dict:
        """How the model was trained (`ltsi.runs.training_summary`: best_epoch, stopped, stop_reason,
        still_improving, advice, seconds, device, ...); older saved runs lack some keys."""
        return (self.run.info or {}).get("training") or {}

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
    return st.session_state.get(Keys.RUN)


def set_run(value: ActiveRun | None) -> None:
    st.session_state[Keys.RUN] = value
    for key in RUN_SELECTIONS:  # selections belong to the previous run
        st.session_state.pop(key, None)


def load_run_folder(path: Path | str, name: str | None = None) -> ActiveRun:
    """A run folder (`ltsi.runs.load_run`) as the active run's type."""
    from ltsi.runs import load_run

    loaded = load_run(path)
    loaded.model.eval()
    return ActiveRun(loaded, name or f"run {Path(path).name}", folder=Path(path))


def load_demo_run() -> ActiveRun:
    if not (DEMO_RUN / "config.json").exists():
        raise LTSIError(
            "The demo model is missing (data/demo_run). Train one on the Train page, or create it "
            "with `python -m dashboard.make_demo_run`."
        )
    try:
        return load_run_folder(DEMO_RUN, name="Demo model (e-commerce, pre-trained)")
    except LTSIError as error:
        raise LTSIError(
            f"The pre-trained demo model cannot be loaded: {error} If LTSI was updated, rebuild it with "
            "`python -m dashboard.make_demo_run` (or train a model on the Train page)."
        ) from error


def start_demo() -> None:
    """One click: the e-commerce demo data and the pre-trained demo model."""
    set_dataset(load_demo("ecommerce"))
    set_run(load_demo_run())

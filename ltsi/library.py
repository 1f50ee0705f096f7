"""A run library on disk: trained runs kept across sessions, with the logs they were trained on.

Where it lives: the folder named by the `LTSI_LIBRARY` environment variable (the operator's choice,
e.g. a shared disk); without it, `$XDG_DATA_HOME/ltsi/library`, and without that
`~/.local/share/ltsi/library` (a per-user data folder).

    LIBRARY/
      index.sqlite         one row per saved run (see `RunLibrary`); SQLite from the standard library
      runs/<id>/           run folders written by `ltsi.runs.save_run` (atomic, with a manifest)
      logs/<sha256>.<ext>  uploaded event logs, stored once per content (written atomically)

Several dashboard sessions (threads or processes) may use one library at once: every call opens its
own short SQLite connection (WAL journal, a busy timeout), and the steps that add or remove a stored
log hold SQLite's write lock, so a log still referenced is never removed. Names and other text from
users are only ever SQL parameters. Nothing is unpickled: runs load through `ltsi.runs.load_run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePath

from ltsi.errors import LTSIError
from ltsi.folders import fsync_dir
from ltsi.runs import Run, fingerprint, load_run, save_run

ENV = "LTSI_LIBRARY"
INDEX = "index.sqlite"
RUNS = "runs"
LOGS = "logs"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0  # how long a call waits for another session's write before it gives up
MAX_NAME_CHARS = 200  # a run's name is a label: longer text is cut
METRICS = ("NDCG@10", "HR@10")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    data_name TEXT NOT NULL,
    data_hash TEXT,
    log_file TEXT,
    fingerprint TEXT NOT NULL,
    n_users INTEGER NOT NULL,
    n_items INTEGER NOT NULL,
    n_events INTEGER NOT NULL,
    settings TEXT NOT NULL,
    ltsi_ndcg REAL,
    ltsi_hr REAL,
    baseline TEXT,
    baseline_ndcg REAL,
    baseline_hr REAL,
    folder TEXT NOT NULL
)
"""
_COLUMNS = (
    "id, name, created, data_name, data_hash, log_file, fingerprint, n_users, n_items, n_events, settings, "
    "ltsi_ndcg, ltsi_hr, baseline, baseline_ndcg, baseline_hr, folder"
)


def default_root() -> Path:
    """The library folder: $LTSI_LIBRARY, else $XDG_DATA_HOME/ltsi/library, else ~/.local/share/ltsi/library."""
    configured = os.environ.get(ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data_home).expanduser() if data_home else Path.home() / ".local" / "share"
    return base / "ltsi" / "library"


@dataclass(frozen=True)
class LibraryEntry:
    """One saved run as the index describes it."""

    id: str
    name: str
    created: str  # UTC, ISO 8601
    data_name: str  # the log's file name, or the demo's label
    data_hash: str | None  # SHA-256 of the log's bytes (None: saved without its log)
    log_file: str | None  # "logs/<sha256>.<ext>" under the library root
    fingerprint: str  # ltsi.runs.fingerprint of the run's sequences
    n_users: int
    n_items: int
    n_events: int
    settings: dict  # {"model": ModelConfig fields, "train": TrainConfig fields, "training": summary}
    ltsi_ndcg: float | None  # test NDCG@10 of LTSI
    ltsi_hr: float | None
    baseline: str | None  # the baseline with the best test NDCG@10
    baseline_ndcg: float | None
    baseline_hr: float | None
    folder: str  # "runs/<id>" under the library root


def best_scores(run: Run) -> dict:
    """LTSI's and the best baseline's test NDCG@10 and HR@10 (None where the run has no such row).

    The baselines are the rows not named LTSI or "LTSI (ablation)"; the best is the one with the
    highest NDCG@10.
    """
    scores = {"ltsi_ndcg": None, "ltsi_hr": None, "baseline": None, "baseline_ndcg": None, "baseline_hr": None}
    table = run.table("test")
    if table is None or "NDCG@10" not in table or "HR@10" not in table:
        return scores
    ours = table[table["model"] == "LTSI"]
    if len(ours):
        scores["ltsi_ndcg"], scores["ltsi_hr"] = float(ours["NDCG@10"].iat[0]), float(ours["HR@10"].iat[0])
    others = table[~table["model"].astype(str).str.startswith("LTSI")]
    if len(others):
        best = others.loc[others["NDCG@10"].idxmax()]
        scores["baseline"] = str(best["model"])
        scores["baseline_ndcg"], scores["baseline_hr"] = float(best["NDCG@10"]), float(best["HR@10"])
    return scores


def settings_summary(run: Run) -> dict:
    """What the index keeps of how a run was trained: its model and train settings and training summary."""
    training = run.info.get("training", {}) if isinstance(run.info, dict) else {}
    kept = ("best_epoch", "stop_reason", "seconds", "device")
    return {
        "model": run.model_config.to_dict(),
        "train": run.train_config.to_dict(),
        "training": {key: training[key] for key in kept if key in training},
    }


def log_extension(log_name: str) -> str:
    """The stored log's extension from its file name ("events.csv.gz" -> "csv.gz"); "log" when it has none.

    Only letters and digits are kept, so a hostile name cannot reach outside the logs folder.
    """
    suffixes = [s[1:].lower() for s in PurePath(log_name.replace("\\", "/")).suffixes]
    kept = [s for s in suffixes if re.fullmatch(r"[a-z0-9]{1,10}", s)]
    return ".".join(kept[-2:]) or "log"


def clean_name(name: str) -> str:
    """A run's name as stored: one line, trimmed, at most MAX_NAME_CHARS characters; LTSIError when empty."""
    text = " ".join(str(name).split())[:MAX_NAME_CHARS]
    if not text:
        raise LTSIError("A saved run needs a name; type at least one character.")
    return text


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all: a temporary sibling, fsynced, renamed into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


class RunLibrary:
    """The saved runs under `root` (default: `default_root()`); see the module docstring for the layout."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()

    # -- the index

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A short connection to the index (created on first use); SQLite errors become LTSIError."""
        index = self.root / INDEX
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LTSIError(
                f"The run library folder {self.root} cannot be created ({error.strerror or error}); "
                f"set {ENV} to a folder you can write to."
            ) from None
        connection = None
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE where a write follows a read)
            connection = sqlite3.connect(index, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")  # readers do not wait for a writer
            if connection.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute(_SCHEMA)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                connection.execute("COMMIT")
            yield connection
        except sqlite3.Error as error:
            raise LTSIError(
                f"The run library's index {index} cannot be used ({error}); another program may hold it "
                "for too long, or the file is damaged."
            ) from None
        finally:
            if connection is not None:
                connection.close()

    @staticmethod
    @contextlib.contextmanager
    def _write_lock(connection: sqlite3.Connection) -> Iterator[None]:
        """One write transaction: other sessions' writes wait until it ends; rolled back on any error."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if connection.in_transaction:  # SQLite may have rolled back already (e.g. a full disk)
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @staticmethod
    def _entry(row: sqlite3.Row) -> LibraryEntry:
        values = dict(row)
        try:
            values["settings"] = json.loads(values["settings"])
        except ValueError:
            values["settings"] = {}
        return LibraryEntry(**values)

    def _path(self, relative: str) -> Path:
        """A path stored in the index, under the root (an index edited to point elsewhere is refused)."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise LTSIError(f"The run library's index names {relative!r}, which is outside {self.root}.")
        return path

    # -- adding

    def add_run(
        self, run: Run, name: str, log_bytes: bytes | None = None, log_name: str = "", data_name: str = ""
    ) -> LibraryEntry:
        """Save `run` (a run folder) and, when given, the log it was trained on; index them; return the entry.

        `data_name` (default: `log_name`) is what the list shows as the run's data. The same log bytes
        stored for several runs are one file.
        """
        name = clean_name(name)
        created = datetime.now(timezone.utc)
        entry_id = f"{created:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
        folder = f"{RUNS}/{entry_id}"
        data = run.info.get("data", {}) if isinstance(run.info, dict) else {}
        data_hash = hashlib.sha256(log_bytes).hexdigest() if log_bytes is not None else None
        log_file = f"{LOGS}/{data_hash}.{log_extension(log_name)}" if data_hash else None
        row = {
            "id": entry_id,
            "name": name,
            "created": created.isoformat(timespec="seconds"),
            "data_name": " ".join(str(data_name or log_name).split())[:MAX_NAME_CHARS],
            "data_hash": data_hash,
            "log_file": log_file,
            "fingerprint": data.get("fingerprint") or fingerprint(run.seqs),
            "n_users": int(run.seqs.n_users),
            "n_items": len(run.seqs.items) - 1,  # without the padding token
            "n_events": int(run.seqs.n_events),
            "settings": json.dumps(settings_summary(run), ensure_ascii=False, default=str),
            **best_scores(run),
            "folder": folder,
        }
        with self._connect() as connection:  # the index first: an unusable library fails before the save
            save_run(run, self.root / folder)
            try:
                if log_file is not None:
                    self._store_log(log_file, log_bytes)  # outside the lock: a large log takes a while
                with self._write_lock(connection):
                    if log_file is not None and not (self.root / log_file).is_file():
                        self._store_log(log_file, log_bytes)  # removed by a delete meanwhile: written again
                    names = ", ".join(f":{key}" for key in row)
                    connection.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({names})", row)
            except BaseException:
                shutil.rmtree(self.root / folder, ignore_errors=True)  # no folder without its row
                raise
        return self.get(entry_id)

    def _store_log(self, log_file: str, data: bytes) -> None:
        path = self.root / log_file
        if path.is_file() and path.stat().st_size == len(data):
            return  # named by its content's hash, and written atomically: the same bytes are there
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        except OSError as error:
            raise LTSIError(f"The log cannot be stored in {path.parent}: {error.strerror or error}.") from None

    # -- reading

    def list_runs(self, query: str = "") -> list[LibraryEntry]:
        """The saved runs, newest first; with `query`, those whose name or data name contain it (any case)."""
        with self._connect() as connection:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY created DESC, rowid DESC").fetchall()
        entries = [self._entry(row) for row in rows]
        words = query.casefold().split()
        return [e for e in entries if all(w in f"{e.name}\n{e.data_name}".casefold() for w in words)]

    def get(self, entry_id: str) -> LibraryEntry:
        """The entry of one saved run; LTSIError when there is none with this id."""
        with self._connect() as connection:
            row = connection.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise LTSIError(f"There is no saved run with the id {entry_id!r} in the library ({self.root}).")
        return self._entry(row)

    def drop_missing(self) -> list[LibraryEntry]:
        """Remove the rows whose run folder is gone (deleted or moved by hand); return what was removed."""
        gone = [entry for entry in self.list_runs() if not self._path(entry.folder).is_dir()]
        for entry in gone:
            self._remove(entry.id)
        return gone

    def open_run(self, entry_id: str) -> Run:
        """The saved run (`ltsi.runs.load_run`). A run whose folder is gone is removed from the index and
        LTSIError says so; a damaged folder raises load_run's LTSIError and keeps its row."""
        entry = self.get(entry_id)
        folder = self._path(entry.folder)
        if not folder.is_dir():
            self._remove(entry_id)
            raise LTSIError(
                f"The saved run '{entry.name}' is gone: its folder {folder} was deleted or moved. "
                "It has been removed from the list."
            )
        return load_run(folder)

    def run_folder(self, entry_id: str) -> Path:
        """The run folder of a saved run."""
        return self._path(self.get(entry_id).folder)

    def log_path(self, entry_id: str) -> Path | None:
        """The stored log of a saved run; None when it was saved without one; LTSIError when the file is gone."""
        entry = self.get(entry_id)
        if entry.log_file is None:
            return None
        path = self._path(entry.log_file)
        if not path.is_file():
            raise LTSIError(f"The log of the saved run '{entry.name}' ({path}) is missing from the library.")
        return path

    # -- changing

    def rename(self, entry_id: str, name: str) -> LibraryEntry:
        """Give a saved run another name; returns its entry."""
        name = clean_name(name)
        with self._connect() as connection:
            changed = connection.execute("UPDATE runs SET name = ? WHERE id = ?", (name, entry_id)).rowcount
        if not changed:
            raise LTSIError(f"There is no saved run with the id {entry_id!r} in the library ({self.root}).")
        return self.get(entry_id)

    def delete(self, entry_id: str) -> None:
        """Remove a saved run: its row, its folder, and its log when no other saved run uses that log."""
        entry = self.get(entry_id)
        self._remove(entry_id)
        folder = self._path(entry.folder)
        if folder.is_dir():
            # renamed aside first, so a half-removed folder never looks like a run
            trash = folder.with_name(f".{folder.name}.deleted-{secrets.token_hex(4)}")
            try:
                folder.rename(trash)
            except OSError:
                trash = folder
            shutil.rmtree(trash, ignore_errors=True)

    def _remove(self, entry_id: str) -> None:
        """Drop the row and, under the same write lock, its log if no other row references it."""
        with self._connect() as connection, self._write_lock(connection):
            row = connection.execute("SELECT log_file FROM runs WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                return  # removed by another session meanwhile
            connection.execute("DELETE FROM runs WHERE id = ?", (entry_id,))
            log_file = row["log_file"]
            if log_file is None:
                return
            still_used = connection.execute("SELECT 1 FROM runs WHERE log_file = ? LIMIT 1", (log_file,)).fetchone()
            if still_used is None:
                with contextlib.suppress(FileNotFoundError):
                    self._path(log_file).unlink()

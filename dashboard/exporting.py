"""What the Export page hands out: recommendations as safe CSV, the run folder as zip (and back), a user's report.

No `st.*` here (nor a Streamlit import): the download buttons call these lazily, in a worker thread
of Streamlit; they are tested without a browser.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import time
import weakref
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dashboard.text import plural
from ltsi.errors import LTSIError
from ltsi.sources import MAX_EXPANDED_BYTES

if TYPE_CHECKING:
    from dashboard.state import ActiveRun

# Spreadsheet programs run a cell that starts with one of these as a formula ("CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# ... and Excel in a locale whose list separator is ';' (de, fr, ...) or ',' splits a cell there first.
_FORMULA_AFTER_SEPARATOR = re.compile(r"([;,])(?=[=+\-@\t\r])")
# Above this many user x item scores the page does not build the recommendations CSV (ltsi recommend --all does)
MAX_CSV_SCORES = 10_000_000_000
# A run folder is model weights + JSON: every member and the whole zip are capped, counted while extracting.
MAX_UNZIPPED_BYTES = MAX_EXPANDED_BYTES
TEMP_PREFIX = "ltsi-run-"  # every temporary folder of the dashboard; `sweep_stale_temp` removes old ones
_UPLOAD_PREFIX = f"{TEMP_PREFIX}upload-{os.getpid()}-"  # the pid: a live server's folders are never swept


def neutralise(value: object) -> object:
    """Prefix a text cell that a spreadsheet would run as a formula with a single quote, also where a formula
    character follows a ';' or ',' inside the cell (where Excel in another locale splits the cell)."""
    if not isinstance(value, str):
        return value
    value = _FORMULA_AFTER_SEPARATOR.sub(r"\1'", value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def safe_csv(frame: pd.DataFrame, keep: tuple[str, ...] = ()) -> bytes:
    """CSV bytes (UTF-8) of `frame` with formula-like text cells neutralised; numbers are left as numbers, and so
    are the columns named in `keep` (keys that LTSI reads back)."""
    out = frame.copy()
    out.columns = [c if str(c) in keep else neutralise(str(c)) for c in out.columns]
    for column in out.columns:
        if not (
            column in keep
            or pd.api.types.is_numeric_dtype(out[column])
            or pd.api.types.is_bool_dtype(out[column])
            or pd.api.types.is_datetime64_any_dtype(out[column])
        ):
            out[column] = out[column].map(neutralise, na_action="ignore")
    return out.to_csv(index=False).encode("utf-8")


def zip_folder(folder: Path | str) -> bytes:
    """The folder's files as an in-memory zip, paths relative to the folder. The item table (items.csv) goes in with
    formula-like text neutralised, except the item ids, which must match the model's vocabulary."""
    folder = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            arcname = path.relative_to(folder).as_posix()
            if path.name == "items.csv":
                try:  # read as ltsi.runs reads it back: numbers stay numbers, so only text is neutralised
                    table = pd.read_csv(path, dtype={"item_id": str}, keep_default_na=False)
                except (ValueError, UnicodeDecodeError):  # not a table ltsi.runs could read either: as it is
                    archive.write(path, arcname)
                else:
                    archive.writestr(arcname, safe_csv(table, keep=("item_id",)))
            else:
                archive.write(path, arcname)
    return buffer.getvalue()


def unzip_to(data: bytes, target: Path | str, limit: int | None = None) -> Path:
    """Extract a run zip into `target` safely; returns the folder that holds config.json.

    Refuses absolute paths, '..' components, links, a JSON file over MAX_JSON_BYTES, and archives whose members
    unpack to more than `limit` bytes (MAX_UNZIPPED_BYTES), each or in all, counted while extracting: the sizes
    the zip declares are not trusted. Only the files a run folder holds are extracted (`ltsi.runs.is_run_file`):
    anything else in the zip takes no disk. Raises ValueError with a plain message; what was extracted stays in
    `target` (the caller removes it, see `load_run_zip`).
    """
    import ltsi.sources as sources
    from ltsi.runs import is_run_file

    limit = MAX_UNZIPPED_BYTES if limit is None else limit
    target = Path(target)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise ValueError("This file is not a zip archive. Upload the .zip that the Export page made.") from error
    too_big = f"The zip unpacks to more than {sources.size_words(limit)}; that is not a run folder."
    with archive:
        infos = archive.infolist()
        for info in infos:
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
                raise ValueError(f"The zip contains an unsafe path ({name!r}); it was not opened.")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise ValueError(f"The zip contains a link ({name!r}); it was not opened.")
        infos = [info for info in infos if info.is_dir() or is_run_file(Path(info.filename).name)]
        if sum(info.file_size for info in infos) > limit:
            raise ValueError(too_big)  # what the zip declares already says so
        total = 0
        for info in infos:
            path = target / info.filename
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            member_limit = sources.MAX_JSON_BYTES if info.filename.lower().endswith(".json") else limit
            written = 0
            try:
                with archive.open(info) as source, open(path, "wb") as sink:
                    while chunk := source.read(1 << 20):
                        written += len(chunk)
                        total += len(chunk)
                        if written > member_limit and member_limit < limit:
                            raise ValueError(
                                f"{info.filename} in the zip is larger than {sources.size_words(member_limit)}; a run "
                                "saved by LTSI has a JSON file of a few kilobytes there."
                            )
                        if total > limit:
                            raise ValueError(too_big)
                        sink.write(chunk)
            except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError) as error:
                raise ValueError(
                    f"The zip is damaged ({info.filename}: {error}); export the run again and upload the new zip."
                ) from None
    configs = sorted(target.rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise ValueError("The zip has no config.json: it is not a run folder saved by LTSI.")
    return configs[0].parent


@contextmanager
def temp_folder(prefix: str = TEMP_PREFIX):
    """A private temporary folder, removed when the block fails in any way (it is kept when the block succeeds)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sweep_stale_temp(older_than_s: float = 86400, root: Path | str | None = None) -> list[Path]:
    """Remove folders of this app (TEMP_PREFIX) in the temp directory older than `older_than_s` seconds that no
    live server process owns: leftovers of servers that were killed. Returns what was removed. Call it once per
    server process, at start-up."""
    root = Path(tempfile.gettempdir() if root is None else root)
    now = time.time()
    removed = []
    try:
        candidates = list(root.glob(f"{TEMP_PREFIX}*"))
    except OSError:
        return removed
    for path in candidates:
        try:
            if not path.is_dir() or path.is_symlink() or now - path.stat().st_mtime < older_than_s:
                continue
        except OSError:
            continue
        owner = _owner_pid(path.name)
        if owner is not None and owner != os.getpid() and _alive(owner):
            continue  # another server still serves a run from it
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


def _owner_pid(name: str) -> int | None:
    match = re.match(rf"{re.escape(TEMP_PREFIX)}upload-(\d+)-", name)
    return int(match.group(1)) if match else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by somebody else
        return True
    return True


def all_recommendations(active: ActiveRun, k: int, exclude_seen: bool, users: list[str] | None = None) -> pd.DataFrame:
    from ltsi.recommend import recommend_all

    r = active.run
    return active.cached(
        ("recommend-all", k, exclude_seen, tuple(users) if users else None),
        lambda: recommend_all(r.model, r.seqs, k=k, items=r.items, exclude_seen=exclude_seen, users=users),
        limit=64,
    )


def recommendations_csv(active: ActiveRun, k: int, exclude_seen: bool) -> bytes:
    return safe_csv(all_recommendations(active, k, exclude_seen))


def recommendations_preview(active: ActiveRun, k: int, exclude_seen: bool, n_users: int = 3) -> pd.DataFrame:
    return all_recommendations(active, k, exclude_seen, users=list(active.run.seqs.users[:n_users]))


def export_rows(active: ActiveRun, k: int, exclude_seen: bool) -> tuple[int, int, int]:
    """(rows in all, fewest per user, most per user) of `recommendations_csv`, without scoring anybody: each user
    gets min(k, items) rows, or min(k, items not yet in the user's history) when seen items are left out."""

    def compute() -> tuple[int, int, int]:
        seqs = active.run.seqs
        n_items = len(seqs.items) - 1
        if exclude_seen:
            owner = np.repeat(np.arange(seqs.n_users, dtype=np.int64), seqs.lengths)
            # distinct (user, item) pairs by sorting: np.unique (hash-based in numpy 2.x) takes 15 s on 14M events
            pairs = np.sort(owner * len(seqs.items) + seqs.item_ids)  # (E,) already grouped by user: a fast sort
            first = np.ones(len(pairs), dtype=bool)
            first[1:] = pairs[1:] != pairs[:-1]  # (E,) the first event of each distinct pair
            seen = np.bincount(pairs[first] // len(seqs.items), minlength=seqs.n_users)
            per_user = np.minimum(k, n_items - seen)
        else:
            per_user = np.full(seqs.n_users, min(k, n_items))
        if per_user.size == 0:
            return 0, 0, 0
        return int(per_user.sum()), int(per_user.min()), int(per_user.max())

    return active.cached(("export-rows", k, exclude_seen), compute)


def export_caption(active: ActiveRun, k: int, exclude_seen: bool) -> str:
    """What the recommendations CSV really holds: users × rows, saying where a user gets fewer than k rows."""
    n_users, n_items = active.run.seqs.n_users, len(active.run.seqs.items) - 1
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
        shape = (
            f"{plural(total, 'row')} for {users}: up to {plural(most, 'row')} per user, fewer where few items "
            f"are left that the user has not had yet (at least {fewest})"
        )
    return shape


# ---------------------------------------------------------------------------------------------
# The run folder as a zip, and back


def run_zip(active: ActiveRun) -> bytes:
    """The run folder as a zip: the folder it was loaded from, or a fresh save of a session-trained run."""
    if active.folder is not None:
        return zip_folder(active.folder)
    from ltsi.runs import save_run

    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}save-") as tmp:
        return zip_folder(save_run(active.run, Path(tmp) / "run"))


def load_run_zip(data: bytes, name: str) -> ActiveRun:
    """A run folder uploaded as a zip (safetensors + JSON only), unpacked to a private temporary folder."""
    from dashboard.state import load_run_folder  # the session side (Streamlit): only when a zip is loaded

    try:
        with temp_folder(_UPLOAD_PREFIX) as tmp:  # removed on any failure, not only ValueError
            folder = unzip_to(data, tmp)
            loaded = load_run_folder(folder, name=f"Uploaded run {name}")
    except ValueError as error:  # LTSIError is a ValueError too: its message is already plain
        raise error if isinstance(error, LTSIError) else LTSIError(str(error)) from error
    weakref.finalize(loaded, shutil.rmtree, tmp, True)  # the folder lives as long as the run
    return loaded


# ---------------------------------------------------------------------------------------------
# One user's HTML report

"""Seeded synthetic e-commerce logs with planted long- and short-term structure.

Each user has a stable long-term taste (2-3 categories) and, now and then, a short burst of
interest in another category. Two planted causes make the next event predictable:

- short-term: inside a burst, the user often goes on to the *companion* of an item carted or
  bought one to three events earlier (an accessory, say), with unrelated views in between;
- long-term: back in a taste category, the user often goes on to the companion of an item
  bought long ago (a refill, the next volume); everyone buys something in the first third of
  their history, so a long-term cause is old (median about 14-23 events back).

Companions are a fixed random pairing of items inside a category. The final event of every user is
always a planted one, and `SyntheticLog.causes` records which earlier events caused it: ground
truth for explanation tests. Last-item transitions only catch causes that happen to be adjacent;
picking the right event a few steps back needs attention, and the long-term kind needs the whole
history.

`generate` returns a log in memory; `write_parquet_log` writes the same kind of log at any size
(hundreds of millions of events) as Parquet parts, a chunk of users at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ltsi.errors import LTSIError

CATEGORIES = {
    "Shoes": "sneaker",
    "Books": "novel",
    "Kitchen": "pan",
    "Garden": "planter",
    "Toys": "puzzle",
    "Music": "album",
    "Outdoor": "tent",
    "Beauty": "serum",
    "Games": "console game",
    "Office": "notebook",
    "Pets": "cat toy",
    "Tools": "drill",
    "Baby": "stroller",
    "Sports": "racket",
    "Home": "lamp",
    "Electronics": "headphones",
}
ADJECTIVES = [
    "Red",
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Travel",
    "Smart",
    "Vintage",
    "Pro",
    "Mini",
    "Bold",
    "Soft",
    "Urban",
    "Nordic",
    "Bright",
    "Quiet",
]
EVENT_TYPES = ("view", "cart", "purchase")
EVENT_CDF = np.cumsum([0.88, 0.08, 0.04])[:-1]  # outside bursts: mostly views, few carts, fewer purchases


@dataclass
class SyntheticLog:
    events: pd.DataFrame  # user_id, item_id, timestamp (UTC), event, value (price)
    items: pd.DataFrame  # item_id, title, category, companion_id
    causes: pd.DataFrame  # one row per user: target_item, target_position, cause_positions, kind


def _items(n_items: int, n_categories: int, rng: np.random.Generator) -> pd.DataFrame:
    names = list(CATEGORIES)[:n_categories]
    category = np.arange(n_items) % n_categories
    rows = []
    for i in range(n_items):
        cat = names[category[i]]
        rows.append(
            (f"P{i + 1:05d}", f"{ADJECTIVES[(i // n_categories) % len(ADJECTIVES)]} {CATEGORIES[cat]} {i + 1}", cat)
        )
    items = pd.DataFrame(rows, columns=["item_id", "title", "category"])
    companion = np.empty(n_items, dtype=np.int64)
    for c in range(n_categories):  # pair items inside each category at random: i <-> companion[i]
        members = rng.permutation(np.flatnonzero(category == c))
        companion[members] = np.roll(members, 1)
    items["companion_id"] = items["item_id"].to_numpy()[companion]
    items["price"] = np.round(rng.lognormal(3.0, 0.8, n_items), 2)
    return items


@dataclass(frozen=True)
class _Catalogue:
    """What the per-user generator needs to know about the items."""

    members: list[np.ndarray]  # item indices of each category
    cumulative: list[np.ndarray]  # unnormalised Zipf-like popularity CDF over each category's members
    companion: np.ndarray  # (n_items,) the companion's item index
    n_categories: int


def _catalogue(items: pd.DataFrame, n_categories: int) -> _Catalogue:
    category = np.arange(len(items)) % n_categories
    members = [np.flatnonzero(category == c) for c in range(n_categories)]
    return _Catalogue(
        members=members,
        cumulative=[np.cumsum(1.0 / np.arange(1, len(m) + 1) ** 0.8) for m in members],  # Zipf-like popularity
        companion=pd.Index(items["item_id"]).get_indexer(items["companion_id"]),
        n_categories=n_categories,
    )


@dataclass
class _UserHistory:
    items: np.ndarray  # (n,) item index, oldest first
    events: np.ndarray  # (n,) int8 index into EVENT_TYPES
    times: np.ndarray  # (n,) int64 epoch seconds, increasing
    cause: list[int]  # positions that caused the final event
    kind: str  # "short-term" or "long-term"


def _user_history(
    rng: np.random.Generator, catalogue: _Catalogue, mean_events: int, min_events: int, t0: int
) -> _UserHistory:
    """One user's history with its planted final event (module docstring); every draw comes from `rng`.

    Shared by `generate` (one generator for all users, in order) and `write_parquet_log` (one
    generator per user, so the log does not depend on how users are grouped into chunks).
    """
    most_events = max(20 * mean_events, min_events)
    n_categories, companion = catalogue.n_categories, catalogue.companion

    def pick(c: int) -> int:  # rng.choice(p=...) is ~50x slower than this inverse-CDF draw
        cumulative = catalogue.cumulative[c]
        return int(catalogue.members[c][np.searchsorted(cumulative, rng.random() * cumulative[-1])])

    n_events = int(np.clip(rng.lognormal(np.log(mean_events) - 0.3, 0.7), min_events, most_events))
    # at least one category is left for bursts (with 2-3 categories a taste could otherwise cover all)
    taste = rng.choice(n_categories, size=min(int(rng.integers(2, 4)), n_categories - 1), replace=False)
    taste_cdf = np.cumsum(rng.dirichlet(np.ones(len(taste)) * 2))
    others = np.setdiff1d(np.arange(n_categories), taste)
    seq_items, seq_events, cause_of_last, kind_of_last = [], [], [], ""
    bought: list[int] = []  # positions of long-term purchases, candidates for long-term causes
    first_buy = int(rng.integers(0, max(n_events // 3, 1)))  # everyone buys early: long-term causes are old
    burst_left, burst_cat, burst_anchor = 0, -1, -1
    while len(seq_items) < n_events:
        last = len(seq_items) == n_events - 1
        pos = len(seq_items)
        if burst_left == 0 and not last and rng.random() < 0.2:  # a burst of another category starts
            burst_cat = int(others[rng.integers(len(others))])
            burst_left, burst_anchor = int(rng.integers(4, 8)), -1
        if burst_left > 0 or (last and burst_anchor >= 0 and rng.random() < 0.5):
            burst_left = max(burst_left - 1, 0)
            if burst_anchor >= 0 and pos - burst_anchor >= 2 and (last or rng.random() < 0.5):
                item, event, cause, kind = int(companion[seq_items[burst_anchor]]), 2, [burst_anchor], "short-term"
                burst_anchor = -1
            elif burst_anchor < 0:  # the anchor: a carted item the user will come back to
                item, event, cause, kind = pick(burst_cat), 1, [], ""
                burst_anchor = pos
            else:  # unrelated views inside the burst
                item, event, cause, kind = pick(burst_cat), 0, [], ""
        else:
            if bought and (last or rng.random() < 0.15):
                src = bought[int(rng.integers(len(bought)))]
                item, event, cause, kind = int(companion[seq_items[src]]), 2, [src], "long-term"
            else:
                item = pick(int(taste[min(np.searchsorted(taste_cdf, rng.random()), len(taste) - 1)]))
                event = int(np.searchsorted(EVENT_CDF, rng.random()))
                if not bought and pos >= first_buy and not last:
                    event = 2  # purchase
                cause, kind = [], ""
        if last and not cause:  # the final event must be a planted one; retry this step
            if not bought:
                bought.append(max(pos - 1, 0))
            continue
        if event == 2 and not cause and burst_left == 0:
            bought.append(pos)  # a long-term purchase: its companion may follow much later
        seq_items.append(item)
        seq_events.append(event)
        cause_of_last, kind_of_last = cause, kind
    # time: sessions of a few events, minutes apart; hours to days between sessions
    gaps = np.where(rng.random(n_events) < 0.25, rng.lognormal(11.0, 1.2, n_events), rng.lognormal(4.5, 1.0, n_events))
    times = t0 + int(rng.integers(0, 30 * 86400)) + np.cumsum(gaps.astype(np.int64) + 1)
    return _UserHistory(
        items=np.asarray(seq_items, dtype=np.int64),
        events=np.asarray(seq_events, dtype=np.int8),
        times=times,
        cause=cause_of_last,
        kind=kind_of_last,
    )


def _check_arguments(n_users: int, n_items: int, n_categories: int, mean_events: int, min_events: int) -> None:
    if n_users < 1 or n_items < 2 * n_categories or not 2 <= n_categories <= len(CATEGORIES):
        raise LTSIError(
            f"Synthetic log: need n_users >= 1, 2 <= n_categories <= {len(CATEGORIES)}, n_items >= 2 * n_categories."
        )
    if mean_events < 1 or min_events < 2:
        raise LTSIError("Synthetic log: need mean_events >= 1 and min_events >= 2 (the last event needs a cause).")


def _user_id(u: int) -> str:
    return f"U{u + 1:05d}"


def _epoch_seconds(start: str) -> int:
    return pd.Timestamp(start, tz="UTC").value // 1_000_000_000


def generate(
    n_users: int = 1000,
    n_items: int = 2000,
    n_categories: int = 12,
    mean_events: int = 50,
    seed: int = 0,
    start: str = "2025-01-01",
    min_events: int = 8,
) -> SyntheticLog:
    """A synthetic log of about `n_users * mean_events` events (see module docstring).

    Events per user are drawn from a log-normal around `mean_events` and clipped to
    [`min_events`, max(20 * `mean_events`, `min_events`)]: lower `min_events` (2 at least: the final,
    planted event needs an earlier cause) for short sessions, raise it for uniformly long histories.
    """
    _check_arguments(n_users, n_items, n_categories, mean_events, min_events)
    rng = np.random.default_rng(seed)
    items = _items(n_items, n_categories, rng)
    catalogue = _catalogue(items, n_categories)
    t0 = _epoch_seconds(start)
    histories = [_user_history(rng, catalogue, mean_events, min_events, t0) for _ in range(n_users)]
    item_index = np.concatenate([h.items for h in histories])
    events = pd.DataFrame(
        {
            "user_id": np.repeat([_user_id(u) for u in range(n_users)], [len(h.items) for h in histories]).tolist(),
            "item_id": items["item_id"].to_numpy()[item_index],
            "timestamp": pd.to_datetime(np.concatenate([h.times for h in histories]), unit="s", utc=True),
            "event": pd.Categorical.from_codes(np.concatenate([h.events for h in histories]), list(EVENT_TYPES)),
            "value": items["price"].to_numpy()[item_index],
        }
    )
    causes = [
        (_user_id(u), items["item_id"].iat[h.items[-1]], len(h.items) - 1, tuple(h.cause), h.kind)
        for u, h in enumerate(histories)
    ]
    causes_frame = pd.DataFrame(
        causes, columns=["user_id", "target_item", "target_position", "cause_positions", "kind"]
    )
    return SyntheticLog(events=events, items=items.drop(columns="price"), causes=causes_frame)


def write_log(log: SyntheticLog | None, out: str | Path, overwrite: bool = False) -> list[Path]:
    """Write events, items and planted causes as CSV; returns the paths written.

    `out` ending in `.csv` names the events file (items and causes go beside it as
    `<name>_items.csv` and `<name>_causes.csv`); any other `out` is a folder that receives
    `events.csv`, `items.csv` and `causes.csv`. Existing files are refused (LTSIError) unless
    `overwrite=True`. `log=None` only checks `out` and returns the paths (nothing is written).
    """
    out = Path(out)
    if out.suffix.lower() == ".csv":
        paths = [out, out.with_name(out.stem + "_items.csv"), out.with_name(out.stem + "_causes.csv")]
    else:
        if out.exists() and not out.is_dir():
            raise LTSIError(f"Cannot write the log into {out}: it is a file; give a folder or a .csv name.")
        paths = [out / "events.csv", out / "items.csv", out / "causes.csv"]
    for path in paths:
        if path.is_dir() or (path.exists() and not path.is_file()):
            raise LTSIError(f"Cannot write {path}: something other than a file has that name.")
    existing = [str(path) for path in paths if path.exists()]
    if existing and not overwrite:
        raise LTSIError(
            f"{', '.join(existing)} already {'exists' if len(existing) == 1 else 'exist'}; choose another "
            "--out, or replace them (command line: --overwrite; Python: write_log(..., overwrite=True))."
        )
    parent = paths[0].parent.absolute()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise LTSIError(f"Cannot write the log to {out}: {parent} is a file, not a folder.")
    if log is None:
        return paths
    try:
        paths[0].parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LTSIError(f"Cannot write the log to {out}: {error.strerror or error}.") from None
    events = log.events.rename(columns={"value": "price"})
    events["timestamp"] = events["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    events.to_csv(paths[0], index=False)
    log.items[["item_id", "title", "category"]].to_csv(paths[1], index=False)
    causes = log.causes.assign(cause_positions=log.causes["cause_positions"].map(lambda c: " ".join(map(str, c))))
    causes.to_csv(paths[2], index=False)
    return paths


# ---------------------------------------------------------------------------------------------
# Logs at scale: Parquet parts written chunk by chunk

PARQUET_PARTS = "part-*.parquet"
EVENTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("timestamp", pa.timestamp("ms", tz="UTC")),  # Parquet has no seconds unit
        ("event", pa.string()),
        ("price", pa.float64()),
    ]
)
CAUSES_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("target_item", pa.string()),
        ("target_position", pa.int64()),
        ("cause_positions", pa.list_(pa.int64())),
        ("kind", pa.string()),
    ]
)


def _user_rng(seed: int, u: int) -> np.random.Generator:
    """User u's own random stream: independent of the others, and of how users are grouped into chunks."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(u,)))


def _earlier_log(out: Path, overwrite: bool) -> list[Path]:
    """Check the folder `out` can receive a Parquet log; returns the files of an earlier one there (to remove)."""
    for folder in (out, out / "events"):
        if folder.exists() and not folder.is_dir():
            raise LTSIError(f"Cannot write the Parquet log into {out}: {folder} is a file; give a folder.")
    tables = [out / "items.parquet", out / "causes.parquet"]
    earlier = sorted((out / "events").glob(PARQUET_PARTS)) + [path for path in tables if path.exists()]
    if earlier and not overwrite:
        raise LTSIError(
            f"{out} already holds a log ({earlier[0].name}, ...); choose another --out, or replace it "
            "(command line: --overwrite; Python: write_parquet_log(..., overwrite=True))."
        )
    return earlier


def _events_table(histories: list[_UserHistory], first_user: int, item_ids: pa.Array, prices: np.ndarray) -> pa.Table:
    """The events of consecutive users first_user, first_user + 1, ... as one Arrow table (EVENTS_SCHEMA)."""
    lengths = [len(h.items) for h in histories]
    user_ids = pa.array([_user_id(first_user + i) for i in range(len(histories))])
    item_index = np.concatenate([h.items for h in histories])  # (n,) over the chunk
    return pa.table(
        [
            user_ids.take(np.repeat(np.arange(len(histories)), lengths)),
            item_ids.take(item_index),
            pa.array(np.concatenate([h.times for h in histories]) * 1000, pa.timestamp("ms", tz="UTC")),
            pa.array(EVENT_TYPES).take(np.concatenate([h.events for h in histories])),
            pa.array(prices[item_index]),
        ],
        schema=EVENTS_SCHEMA,
    )


def _causes_table(histories: list[_UserHistory], first_user: int, item_ids: pa.Array) -> pa.Table:
    return pa.table(
        [
            pa.array([_user_id(first_user + i) for i in range(len(histories))]),
            item_ids.take(np.array([h.items[-1] for h in histories], dtype=np.int64)),
            pa.array([len(h.items) - 1 for h in histories], pa.int64()),
            pa.array([h.cause for h in histories], pa.list_(pa.int64())),
            pa.array([h.kind for h in histories]),
        ],
        schema=CAUSES_SCHEMA,
    )


def write_parquet_log(
    out: str | Path,
    n_events: int,
    *,
    seed: int = 0,
    chunk_events: int = 5_000_000,
    n_items: int = 50_000,
    n_categories: int = 12,
    mean_events: int = 50,
    min_events: int = 8,
    start: str = "2025-01-01",
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a synthetic log of at least `n_events` events as Parquet into the folder `out`; returns `out/events`.

    The same users as `generate` describes, but each user draws from their own random stream
    (seed, user number), so the log depends on the seed only, never on `chunk_events`. Users are
    generated until the log reaches `n_events` (it overshoots by less than one user's history) and
    written `chunk_events` at a time: `out/events/part-00000.parquet`, ... (user_id, item_id,
    timestamp, event, price; a user never spans two parts), then `out/items.parquet` (item_id, title,
    category) and `out/causes.parquet` (the planted causes, one row per user). The events have a
    folder of their own so that it reads as one table (DuckDB, pandas, pyarrow) without the other
    two. Memory follows the chunk, not the log.
    `progress(events_written, n_events)` is called after each part. An earlier log in `out` is
    refused (LTSIError) unless `overwrite=True`, which removes its parts first.
    """
    _check_arguments(1, n_items, n_categories, mean_events, min_events)
    if n_events < 1 or chunk_events < 1:
        raise LTSIError("Synthetic log: need n_events >= 1 and chunk_events >= 1.")
    out = Path(out)
    for path in _earlier_log(out, overwrite):
        path.unlink()
    events_folder = out / "events"
    events_folder.mkdir(parents=True, exist_ok=True)
    items = _items(n_items, n_categories, np.random.default_rng(seed))
    catalogue = _catalogue(items, n_categories)
    item_ids, prices = pa.array(items["item_id"]), items["price"].to_numpy()
    t0 = _epoch_seconds(start)
    written, user, part = 0, 0, 0
    with pq.ParquetWriter(out / "causes.parquet", CAUSES_SCHEMA) as causes:
        while written < n_events:
            first_user, histories, in_chunk = user, [], 0
            while in_chunk < chunk_events and written + in_chunk < n_events:
                histories.append(_user_history(_user_rng(seed, user), catalogue, mean_events, min_events, t0))
                in_chunk += len(histories[-1].items)
                user += 1
            events = _events_table(histories, first_user, item_ids, prices)
            pq.write_table(events, events_folder / f"part-{part:05d}.parquet")
            causes.write_table(_causes_table(histories, first_user, item_ids))
            written, part = written + in_chunk, part + 1
            if progress is not None:
                progress(written, n_events)
    item_table = pa.Table.from_pandas(items[["item_id", "title", "category"]], preserve_index=False)
    pq.write_table(item_table, out / "items.parquet")
    return events_folder

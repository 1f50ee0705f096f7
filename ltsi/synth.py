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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

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
    if n_users < 1 or n_items < 2 * n_categories or not 2 <= n_categories <= len(CATEGORIES):
        raise LTSIError(
            f"Synthetic log: need n_users >= 1, 2 <= n_categories <= {len(CATEGORIES)}, n_items >= 2 * n_categories."
        )
    if mean_events < 1 or min_events < 2:
        raise LTSIError("Synthetic log: need mean_events >= 1 and min_events >= 2 (the last event needs a cause).")
    most_events = max(20 * mean_events, min_events)
    rng = np.random.default_rng(seed)
    items = _items(n_items, n_categories, rng)
    category = np.arange(n_items) % n_categories
    companion = pd.Index(items["item_id"]).get_indexer(items["companion_id"])
    members = [np.flatnonzero(category == c) for c in range(n_categories)]
    # Zipf-like popularity inside each category
    cumulative = [np.cumsum(1.0 / np.arange(1, len(m) + 1) ** 0.8) for m in members]

    def pick(c: int) -> int:  # rng.choice(p=...) is ~50x slower than this inverse-CDF draw
        return int(members[c][np.searchsorted(cumulative[c], rng.random() * cumulative[c][-1])])

    t0 = pd.Timestamp(start, tz="UTC").value // 1_000_000_000
    rows_user, rows_item, rows_time, rows_event, causes = [], [], [], [], []
    for u in range(n_users):
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
                    item, event, cause, kind = (
                        int(companion[seq_items[burst_anchor]]),
                        "purchase",
                        [burst_anchor],
                        "short-term",
                    )
                    burst_anchor = -1
                elif burst_anchor < 0:  # the anchor: a carted item the user will come back to
                    item, event, cause, kind = pick(burst_cat), "cart", [], ""
                    burst_anchor = pos
                else:  # unrelated views inside the burst
                    item, event, cause, kind = pick(burst_cat), "view", [], ""
            else:
                if bought and (last or rng.random() < 0.15):
                    src = bought[int(rng.integers(len(bought)))]
                    item, event, cause, kind = int(companion[seq_items[src]]), "purchase", [src], "long-term"
                else:
                    item = pick(int(taste[min(np.searchsorted(taste_cdf, rng.random()), len(taste) - 1)]))
                    event = EVENT_TYPES[int(np.searchsorted(EVENT_CDF, rng.random()))]
                    if not bought and pos >= first_buy and not last:
                        event = "purchase"
                    cause, kind = [], ""
            if last and not cause:  # the final event must be a planted one; retry this step
                if not bought:
                    bought.append(max(pos - 1, 0))
                continue
            if event == "purchase" and not cause and burst_left == 0:
                bought.append(pos)  # a long-term purchase: its companion may follow much later
            seq_items.append(item)
            seq_events.append(event)
            cause_of_last, kind_of_last = cause, kind
        # time: sessions of a few events, minutes apart; hours to days between sessions
        gaps = np.where(
            rng.random(n_events) < 0.25, rng.lognormal(11.0, 1.2, n_events), rng.lognormal(4.5, 1.0, n_events)
        )
        times = t0 + int(rng.integers(0, 30 * 86400)) + np.cumsum(gaps.astype(np.int64) + 1)
        rows_user.extend([f"U{u + 1:05d}"] * n_events)
        rows_item.extend(seq_items)
        rows_time.append(times)
        rows_event.extend(seq_events)
        causes.append(
            (f"U{u + 1:05d}", items["item_id"].iat[seq_items[-1]], n_events - 1, tuple(cause_of_last), kind_of_last)
        )

    item_index = np.asarray(rows_item)
    events = pd.DataFrame(
        {
            "user_id": rows_user,
            "item_id": items["item_id"].to_numpy()[item_index],
            "timestamp": pd.to_datetime(np.concatenate(rows_time), unit="s", utc=True),
            "event": pd.Categorical(rows_event, categories=list(EVENT_TYPES)),
            "value": items["price"].to_numpy()[item_index],
        }
    )
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

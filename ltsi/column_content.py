"""What a column's values look like: times, IDs, a few event words or rating-like numbers (cheap, sample-based),
and the rating scale of a value column."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ltsi.column_names import KNOWN_NAMES, RATING_NAMES, norm_name
from ltsi.times import DATE_RE, EPOCH_HIGH_S, EPOCH_LOW_S, UNIT_PER_SECOND, UNIT_WORDS

# Words of event-type columns (normalised, see `norm_name`): one of them among a text column's 20 most
# common values marks the column as event types (`profile`'s 'event_vocab').
EVENT_VOCABULARY = {
    "view",
    "views",
    "pv",
    "click",
    "clicks",
    "cart",
    "addtocart",
    "addtobasket",
    "basket",
    "buy",
    "purchase",
    "purchased",
    "order",
    "transaction",
    "checkout",
    "fav",
    "favorite",
    "favourite",
    "like",
    "dislike",
    "share",
    "play",
    "listen",
    "skip",
    "rate",
    "review",
    "search",
    "impression",
    "wishlist",
    "removefromcart",
    "download",
    "comment",
    "watch",
    "visit",
    "open",
    "save",
    "bookmark",
    "subscribe",
}


def profile(series: pd.Series, n: int = 2000) -> dict:
    """What a column looks like, from its first non-empty values (cheap, sample-based)."""
    s = series.head(50 * n).dropna().head(n)  # never copy a whole 5M-row column for this
    p = {
        "time_kind": None,
        "time_words": "",
        "idlike": False,
        "eventish": False,
        "event_vocab": False,
        "valueish": False,
        "top": [],
    }
    if len(s) == 0:
        return p
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        p.update(time_kind="datetime", time_words="dates")
        return p
    if pd.api.types.is_bool_dtype(s.dtype):
        return p
    if pd.api.types.is_numeric_dtype(s.dtype):
        nums = s.astype("float64").to_numpy()
    else:
        text = s.astype("str").str.strip()
        nums = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if np.isnan(nums).mean() > 0.05:  # a text column
            iso = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True).notna().mean()
            dmy = text.str.match(DATE_RE.pattern).mean()
            if max(iso, dmy) >= 0.9:
                p.update(time_kind="date_text", time_words="dates written as text")
                return p
            counts = text.value_counts()
            p["top"] = [str(v) for v in counts.index[:6]]
            letters = text.str.fullmatch(r"[A-Za-z][A-Za-z _\-]*").mean() >= 0.99
            few = len(counts) <= 20 and len(text) >= 3 * len(counts)
            vocab = any(norm_name(v) in EVENT_VOCABULARY for v in counts.index[:20])
            p["eventish"] = bool(letters and len(counts) <= 20 and (few or vocab))
            p["event_vocab"] = bool(vocab)
            p["idlike"] = bool(text.str.len().mean() <= 64)
            return p
    nums = nums[~np.isnan(nums)]
    if len(nums) == 0:
        return p
    integer = bool(np.all(np.floor(nums) == nums))
    for unit, per_s in UNIT_PER_SECOND.items():
        share = np.mean((nums >= EPOCH_LOW_S * per_s) & (nums < EPOCH_HIGH_S * per_s))
        if share >= 0.9:
            p.update(time_kind="epoch", time_words=f"numbers that look like epoch {UNIT_WORDS[unit]}")
            return p
    p["idlike"] = integer
    # Ratings-like: fractions (3.5, 12.99), or a few small whole numbers such as 1-5 or 0-10.
    # A constant column (Yoochoose's category '0') is not a rating.
    distinct = len(np.unique(nums))
    p["valueish"] = (not integer) or (2 <= distinct <= 11 and nums.min() >= 0 and nums.max() <= 10)
    return p


def rating_scale(values: np.ndarray, column: str | None) -> tuple[float, float] | None:
    """(lowest, highest) rating when the value column holds ratings, else None.

    Ratings are a few steps of a small scale: at most 11 distinct values, whole or half numbers
    from 0 to 10 (1-5 stars, 0.5-5 in halves, 1-10). A column named like a price, count or
    duration is never a rating, whatever its numbers; a generic or unknown name is judged by content.
    """
    if column is None:
        return None
    name = norm_name(column)
    if name in set(KNOWN_NAMES["value"]) - RATING_NAMES:
        return None
    present = np.asarray(values, dtype="float64")
    present = present[np.isfinite(present)]
    if len(present) == 0:
        return None
    distinct = np.unique(present)
    halves = bool(np.all(np.floor(distinct * 2) == distinct * 2))
    if not (2 <= len(distinct) <= 11 and halves and distinct[0] >= 0 and distinct[-1] <= 10):
        return None
    return float(distinct[0]), float(distinct[-1])

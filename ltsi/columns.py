"""Column roles: which source column is the user, item, timestamp, event, value and item category,
by name or by content."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ltsi.errors import one_line_error
from ltsi.times import DATE_RE, EPOCH_HIGH_S, EPOCH_LOW_S, UNIT_PER_SECOND, UNIT_WORDS

ROLES = ("user", "item", "timestamp", "event", "value", "category")


def norm_name(name: Any) -> str:
    """Case- and separator-insensitive form of a column name: 'user_id', 'UserId' -> 'userid'."""
    return re.sub(r"[\W_]+", "", str(name).lower())


# Known column names, normalised, in order of preference within each role.
KNOWN_NAMES: dict[str, list[str]] = {
    "user": [
        "userid",
        "user",
        "visitorid",
        "visitor",
        "customerid",
        "customer",
        "reviewerid",
        "reviewer",
        "clientid",
        "client",
        "memberid",
        "member",
        "accountid",
        "account",
        "username",
        "userlogin",
        "uid",
        "viewerid",
        "listenerid",
        "buyerid",
        "personid",
        "profileid",
        "sessionid",
        "session",
        "visitid",
        "cookieid",
    ],
    "item": [
        "itemid",
        "item",
        "movieid",
        "movie",
        "productid",
        "product",
        "asin",
        "sku",
        "articleid",
        "article",
        "contentid",
        "videoid",
        "video",
        "bookid",
        "isbn",
        "businessid",
        "recipeid",
        "courseid",
        "newsid",
        "postid",
        "offerid",
        "iid",
        "trackid",
        "track",
        "song",
        "songid",
        "trackname",
        "songname",
        "musicid",
        "artistid",
        "artist",
        "artistname",
    ],
    "timestamp": [
        "timestamp",
        "ts",
        "eventtime",
        "eventtimestamp",
        "datetime",
        "time",
        "unixreviewtime",
        "unixtime",
        "epoch",
        "listenedat",
        "playedat",
        "createdat",
        "created",
        "occurredat",
        "timestampms",
        "timestamputc",
        "eventdate",
        "clicktime",
        "viewtime",
        "ratingtime",
        "reviewtime",
        "date",
        "day",
    ],
    "event": [
        "eventtype",
        "event",
        "behaviortype",
        "behaviourtype",
        "behavior",
        "behaviour",
        "action",
        "actiontype",
        "interaction",
        "interactiontype",
        "eventname",
        "activity",
        "type",
    ],
    "value": [
        "rating",
        "ratings",
        "score",
        "overall",
        "stars",
        "value",
        "price",
        "amount",
        "revenue",
        "dwell",
        "dwelltime",
        "duration",
        "playcount",
        "plays",
        "count",
        "quantity",
        "qty",
        "weight",
        "reward",
    ],
    # The item's category in an event log (e.g. e-commerce 'category_code'); by name only, never by content.
    "category": [
        "categorycode",
        "categoryname",
        "category",
        "categories",
        "maincategory",
        "maincat",
        "genres",
        "genre",
        "department",
        "categoryid",
    ],
}
# Value columns whose name says they are ratings (a 'price' or 'quantity' column is not, whatever its numbers).
RATING_NAMES = {"rating", "ratings", "score", "overall", "stars"}
# Names that are known but belong to none of the roles: they help header detection and are
# never picked by content (a 'country' column is not an event type).
OTHER_NAMES = {
    "category",
    "categoryid",
    "categories",
    "categoryname",
    "categorycode",
    "genre",
    "genres",
    "title",
    "name",
    "transactionid",
    "orderid",
    "year",
    "description",
    "brand",
    "country",
    "city",
    "device",
    "platform",
    "helpful",
    "reviewtext",
    "summary",
    "url",
    "reviewername",
    "maincat",
    "department",
    "id",
    "label",
    "movietitle",
    "itemname",
    "productname",
    "tags",
}
ITEM_ID_NAMES = KNOWN_NAMES["item"][:22] + ["id"] + KNOWN_NAMES["item"][22:]
TITLE_NAMES = [
    "title",
    "name",
    "movietitle",
    "itemname",
    "itemtitle",
    "productname",
    "producttitle",
    "trackname",
    "songname",
    "artistname",
    "label",
]
CATEGORY_NAMES = [
    "category",
    "categoryname",
    "categories",
    "genres",
    "genre",
    "categoryid",
    "categorycode",
    "maincat",
    "department",
    "section",
    "class",
    "type",
]
ALL_KNOWN = set().union(*KNOWN_NAMES.values()) | OTHER_NAMES | set(TITLE_NAMES) | set(CATEGORY_NAMES)
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
GENERIC_RE = re.compile(r"^column_\d+$")  # the names a file without a header row gets


@dataclass
class ColumnMapping:
    """Which source column became which canonical column, and why (in words)."""

    user: str
    item: str
    timestamp: str | None  # None only when explicitly asked for: then file order is time order
    event: str | None = None
    value: str | None = None
    category: str | None = None  # the item's category, when the event log has a column for it
    reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "user": self.user,
            "item": self.item,
            "timestamp": self.timestamp,
            "event": self.event,
            "value": self.value,
            "category": self.category,
            "reasons": dict(self.reasons),
        }

    def columns(self) -> dict[str, str]:
        """Role -> source column, for the roles that were mapped (usable as `mapping=`)."""
        return {r: getattr(self, r) for r in ROLES if getattr(self, r) is not None}


def detect_columns(frame: pd.DataFrame, overrides: dict[str, str] | None = None) -> ColumnMapping:
    """Pick the user, item, timestamp, event, value and category columns: explicit > name > content."""
    mapping, notes = detect_columns_with_notes(frame, overrides)
    return mapping


def detect_columns_with_notes(
    frame: pd.DataFrame, overrides: dict[str, str | None] | None
) -> tuple[ColumnMapping, list[str]]:
    """`detect_columns`, plus notes for the report (columns not used, a mostly empty column skipped)."""
    columns = [str(c) for c in frame.columns]
    chosen: dict[str, str | None] = {}
    reasons: dict[str, str] = {}
    notes: list[str] = []

    for role, col in _normalise_overrides(overrides).items():
        if col is None or str(col).strip() == "":
            if role in ("user", "item"):
                raise one_line_error(f"The {role} column cannot be left out; name the column to use.")
            chosen[role] = None
            reasons[role] = (
                "left out explicitly"
                if role != "timestamp"
                else ("left out explicitly: file order is used as time order")
            )
            continue
        real = _resolve_column(str(col), columns, role)
        if real in [c for c in chosen.values() if c]:
            other = next(r for r, c in chosen.items() if c == real)
            raise one_line_error(
                f"Column '{real}' was given for both {other} and {role}; give a different column for each."
            )
        chosen[role] = real
        reasons[role] = "given explicitly"

    # By name.
    for role in ROLES:
        if role in chosen:
            continue
        taken = {c for c in chosen.values() if c}
        ranked = sorted(
            (KNOWN_NAMES[role].index(norm_name(c)), i, c)
            for i, c in enumerate(columns)
            if c not in taken and norm_name(c) in KNOWN_NAMES[role]
        )
        if not ranked:
            continue
        pick = ranked[0][2]
        if role in ("user", "item", "category") and len(ranked) > 1:
            pick = _skip_mostly_empty(frame, [c for _, _, c in ranked], role, notes)
        chosen[role] = pick
        reasons.setdefault(role, f"header '{pick}' is a known {role} column name")
        if pick != ranked[0][2]:
            reasons[role] = f"header '{pick}' is a known {role} column name; '{ranked[0][2]}' was mostly empty"

    # By content, for the roles still open.
    taken = {c for c in chosen.values() if c}
    free = [
        c
        for c in columns
        if c not in taken and norm_name(c) not in OTHER_NAMES and norm_name(c) not in ALL_KNOWN - OTHER_NAMES
    ]
    profiles = {c: profile(frame[c]) for c in free}

    if "timestamp" not in chosen:
        order = {"datetime": 0, "date_text": 1, "epoch": 2}
        cands = [(order[p["time_kind"]], i, c) for i, c in enumerate(free) if (p := profiles[c])["time_kind"] in order]
        if cands:
            c = min(cands)[2]
            chosen["timestamp"] = c
            reasons["timestamp"] = f"chosen by content: '{c}' holds {profiles[c]['time_words']}; override if wrong"
            free.remove(c)

    if "event" not in chosen:
        for c in free:
            p = profiles[c]
            if p["eventish"] and (GENERIC_RE.match(c) or p["event_vocab"]):
                chosen["event"] = c
                reasons["event"] = (
                    f"chosen by content: '{c}' has a few distinct words ({', '.join(p['top'][:4])}); override if wrong"
                )
                free.remove(c)
                break

    idlike = [c for c in free if profiles[c]["idlike"]]
    for role in ("user", "item"):
        if role not in chosen and idlike:
            c = idlike.pop(0)
            chosen[role] = c
            free.remove(c)
            reasons[role] = (
                f"chosen by position/content: '{c}' is the first remaining ID-like column; override if wrong"
            )

    if "value" not in chosen:
        for c in free:
            p = profiles[c]
            if GENERIC_RE.match(c) and p["valueish"]:
                chosen["value"] = c
                free.remove(c)
                reasons["value"] = (
                    f"chosen by position/content: '{c}' holds small numbers like ratings; override if wrong"
                )
                break

    available = ", ".join(columns)
    if not chosen.get("user"):
        raise one_line_error(
            f"No user column was found (columns: {available}). Name the column that identifies "
            "the user (--user-col, or the user field of the mapping)."
        )
    if not chosen.get("item"):
        raise one_line_error(
            f"No item column was found (columns: {available}). Name the column that identifies "
            "the item (--item-col, or the item field of the mapping)."
        )
    if "timestamp" not in chosen:
        raise one_line_error(
            f"No time column was found (columns: {available}). Name the column with the time "
            "of each event (--time-col, or the timestamp field of the mapping)."
        )
    used = {c for c in chosen.values() if c}
    unused = [c for c in columns if c not in used]
    if unused:
        notes.append(f"Columns not used: {', '.join(unused)}.")
    mapping = ColumnMapping(
        user=chosen["user"],
        item=chosen["item"],
        timestamp=chosen["timestamp"],
        event=chosen.get("event"),
        value=chosen.get("value"),
        category=chosen.get("category"),
        reasons=reasons,
    )
    return mapping, notes


_ROLE_ALIASES = {
    "user": "user",
    "userid": "user",
    "item": "item",
    "itemid": "item",
    "timestamp": "timestamp",
    "time": "timestamp",
    "ts": "timestamp",
    "event": "event",
    "eventtype": "event",
    "value": "value",
    "category": "category",
    "itemcategory": "category",
}


def _normalise_overrides(overrides: dict[str, Any] | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, col in (overrides or {}).items():
        role = _ROLE_ALIASES.get(norm_name(key))
        if role is None:
            raise one_line_error(f"Unknown mapping field '{key}'; use user, item, timestamp, event, value or category.")
        out[role] = col
    return out


def _resolve_column(col: str, columns: list[str], role: str) -> str:
    if col in columns:
        return col
    loose = [c for c in columns if norm_name(c) == norm_name(col) or c.strip() == col.strip()]
    if len(loose) == 1:
        return loose[0]
    raise one_line_error(
        f"Column '{col}' (given for {role}) is not in the file. Available columns: {', '.join(columns)}."
    )


def _skip_mostly_empty(frame: pd.DataFrame, ranked: list[str], role: str, notes: list[str]) -> str:
    """Prefer the best-named column unless it is mostly empty (e.g. Last.fm track ids)."""
    shares = {c: float(frame[c].isna().mean()) if len(frame) else 0.0 for c in ranked}
    for c in ranked:
        if shares[c] <= 0.5:
            if c != ranked[0]:
                notes.append(
                    f"The {role} column '{ranked[0]}' is empty in {shares[ranked[0]]:.0%} of rows; "
                    f"'{c}' was used instead."
                )
            return c
    return min(ranked, key=lambda c: (shares[c], ranked.index(c)))


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

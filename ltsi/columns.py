"""Column roles: which source column is the user, item, timestamp, event, value and item category,
given explicitly, by name (`ltsi.column_names`) or by content (`ltsi.column_content`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ltsi.column_content import profile
from ltsi.column_names import ALL_KNOWN, GENERIC_RE, KNOWN_NAMES, OTHER_NAMES, norm_name
from ltsi.errors import LTSIError, one_line_error

ROLES = ("user", "item", "timestamp", "event", "value", "category")


class ColumnError(LTSIError):
    """The column of one role (user, item or timestamp) is missing or unusable.

    The message says what is wrong in words that hold wherever it is shown; how to choose another column
    differs there (a command-line option, a form), so the caller adds it from `role`. `columns` (the file's
    columns) and `chosen` (role -> column mapped so far) let a form offer the choice.
    """

    def __init__(self, message: str, role: str, columns: Sequence[str], chosen: dict[str, str | None]):
        super().__init__(" ".join(message.split()))  # one line, even when a column name holds a line break
        self.role = role
        self.columns = [str(c) for c in columns]
        self.chosen = dict(chosen)


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
            raise ColumnError(
                f"Column '{real}' was given for both {other} and {role}; give a different column for each.",
                role,
                columns,
                chosen,
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
        raise ColumnError(
            f"No user column was found (columns: {available}). Name the column that identifies the user.",
            "user",
            columns,
            chosen,
        )
    if not chosen.get("item"):
        raise ColumnError(
            f"No item column was found (columns: {available}). Name the column that identifies the item.",
            "item",
            columns,
            chosen,
        )
    if "timestamp" not in chosen:
        raise ColumnError(
            f"No time column was found (columns: {available}). Name the column with the time of each event.",
            "timestamp",
            columns,
            chosen,
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

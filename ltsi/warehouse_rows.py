"""The kept rows of a large-log scan as integer arrays, and the Sequences built from them.

The engine sorts the kept rows by (user, time, file order) and sends plain integer codes in Arrow
batches; Python drops exact duplicates and users below the minimum number of events, then numbers users,
items and event types as ltsi.sequences.build_sequences does."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from ltsi.errors import one_line_error
from ltsi.event_log import REASON_DUPLICATE, plain_cell, reason_few_events
from ltsi.readers import MAX_EXAMPLES
from ltsi.sequences import PAD_TOKEN, Sequences, Vocabulary, gap_buckets
from ltsi.warehouse_report import Tally
from ltsi.warehouse_sql import sql_text

FETCH_ROWS = 1_000_000  # rows per Arrow batch when the sorted events come back
GAP_CHUNK = 5_000_000  # events per gap-bucket step (keeps the float temporaries small)


@dataclass
class Rows:
    """The kept rows sorted by (user, time, file order), as codes, and the text id of each code."""

    users: np.ndarray  # (E,) int32 user code, codes in user-id order
    items: np.ndarray  # (E,) int32 item code, codes in item-id order
    events: np.ndarray  # (E,) int16 event-type code, 1-based in name order
    ns: np.ndarray  # (E,) int64 nanoseconds since 1970
    values: np.ndarray | None  # (E,) float64, when there is a value column
    user_names: np.ndarray  # (U0,) object: user id of each code
    item_names: np.ndarray  # (I0,) object: item id of each code
    event_names: list[str]  # event type of codes 1.. (code 0 is padding)


def fetch_rows(con: duckdb.DuckDBPyConnection, tally: Tally, with_values: bool) -> Rows:
    """Dense codes for users and items (one pass), then the kept rows ordered by (user, time, file order)."""
    con.execute(
        """CREATE TEMP TABLE __keys AS SELECT __user, __item FROM classified WHERE __reason IS NULL
        GROUP BY GROUPING SETS ((__user), (__item))"""
    )
    con.execute(
        "CREATE TEMP TABLE __users AS SELECT __user, (row_number() OVER (ORDER BY __user) - 1)::INTEGER AS __u "
        "FROM __keys WHERE __user IS NOT NULL"
    )
    con.execute(
        "CREATE TEMP TABLE __items AS SELECT __item, (row_number() OVER (ORDER BY __item) - 1)::INTEGER AS __i "
        "FROM __keys WHERE __item IS NOT NULL"
    )
    con.execute("DROP TABLE __keys")
    names = tally.kept_types
    con.execute(
        "CREATE TEMP TABLE __events AS SELECT * FROM (VALUES "
        + ", ".join(f"({sql_text(name)}, {code + 1})" for code, name in enumerate(names))
        + ") t(__event, __e)"
    )
    user_names = con.execute("SELECT __user FROM __users ORDER BY __u").fetchnumpy()["__user"]
    item_names = con.execute("SELECT __item FROM __items ORDER BY __i").fetchnumpy()["__item"]

    n = tally.candidates
    users, items = np.empty(n, np.int32), np.empty(n, np.int32)  # (E,) each
    events, ns = np.empty(n, np.int16), np.empty(n, np.int64)  # (E,) each
    values = np.empty(n, np.float64) if with_values else None  # (E,)
    value_sql = ", c.__value" if with_values else ""
    reader = con.sql(
        f"""SELECT u.__u, i.__i, e.__e::SMALLINT, c.__ns{value_sql}
        FROM classified c JOIN __users u USING (__user) JOIN __items i USING (__item) JOIN __events e USING (__event)
        WHERE c.__reason IS NULL
        ORDER BY u.__u, c.__ns, c.__order, i.__i, e.__e"""
    ).to_arrow_reader(batch_size=FETCH_ROWS)
    at = 0
    for batch in reader:
        m = batch.num_rows
        users[at : at + m] = batch.column(0).to_numpy()
        items[at : at + m] = batch.column(1).to_numpy()
        events[at : at + m] = batch.column(2).to_numpy()
        ns[at : at + m] = batch.column(3).to_numpy()
        if values is not None:
            values[at : at + m] = batch.column(4).to_numpy(zero_copy_only=False)
        at += m
    if at != n:
        raise one_line_error(f"The source changed while it was read ({at:,} rows instead of {n:,}); read it again.")
    return Rows(users, items, events, ns, values, user_names, item_names, names)


def _row_example(rows: Rows, k: int) -> dict:
    """A dropped row in canonical columns (no file line: it was dropped after sorting)."""
    return {
        "user_id": str(rows.user_names[rows.users[k]]),
        "item_id": str(rows.item_names[rows.items[k]]),
        "timestamp": pd.Timestamp(int(rows.ns[k]), tz="UTC").isoformat(),
        "event": rows.event_names[rows.events[k] - 1],
        "value": None if rows.values is None else plain_cell(rows.values[k]),
    }


def drop_in_memory(rows: Rows, min_events: int) -> tuple[dict[str, int], dict[str, list[dict]]]:
    """Exact duplicates, then users below `min_events`; compacts `rows` in place of the arrays."""
    n = len(rows.users)
    keep = np.ones(n, dtype=bool)  # (E,)
    counts: dict[str, int] = {}
    examples: dict[str, list[dict]] = {}

    def drop(reason: str, hit: np.ndarray) -> None:
        if len(hit):
            keep[hit] = False
            counts[reason] = len(hit)
            examples[reason] = [_row_example(rows, int(k)) for k in hit[:MAX_EXAMPLES]]

    # Exact duplicates share user and time, so only rows in a (user, time) tie can be one (as in load_events).
    same = (rows.users[1:] == rows.users[:-1]) & (rows.ns[1:] == rows.ns[:-1])  # (E-1,)
    tie = np.zeros(n, dtype=bool)  # (E,)
    tie[1:] |= same
    tie[:-1] |= same
    cand = np.flatnonzero(tie)
    del same, tie
    if len(cand):
        key = pd.DataFrame(
            {
                "u": rows.users[cand],
                "t": rows.ns[cand],
                "i": rows.items[cand],
                "e": rows.events[cand],
                "v": np.nan if rows.values is None else rows.values[cand],
            }
        )
        drop(REASON_DUPLICATE, cand[key.duplicated(keep="first").to_numpy()])
    if min_events > 1:
        per_user = np.bincount(rows.users[keep], minlength=len(rows.user_names))  # (U0,)
        drop(reason_few_events(min_events), np.flatnonzero(keep & (per_user[rows.users] < min_events)))
    if not keep.all():
        for name in ("users", "items", "events", "ns", "values"):  # one array at a time: a small peak
            array = getattr(rows, name)
            if array is not None:
                setattr(rows, name, array[keep])
    return counts, examples


def _gap_ids(seconds: np.ndarray, first: np.ndarray) -> np.ndarray:
    """ltsi.sequences.gap_buckets in steps, each with the event before it, so temporaries stay small."""
    out = np.empty(len(seconds), dtype=np.int64)  # (E,)
    for start in range(0, len(seconds), GAP_CHUNK):
        stop = min(start + GAP_CHUNK, len(seconds))
        lead = 1 if start else 0  # the previous event gives the first gap of the step
        out[start:stop] = gap_buckets(seconds[start - lead : stop], first[start - lead : stop])[lead:]
    return out


def sequences_from_rows(rows: Rows) -> Sequences:
    """Sequences numbered as build_sequences numbers them: users by id, items by popularity then id,
    event types by name (only those that occur)."""
    per_user = np.bincount(rows.users, minlength=len(rows.user_names))  # (U0,)
    present = np.flatnonzero(per_user)  # (U,) users left after the in-memory drops
    offsets = np.concatenate([[0], np.cumsum(per_user[present])]).astype(np.int64)  # (U + 1,)

    item_counts = np.bincount(rows.items, minlength=len(rows.item_names))  # (I0,)
    seen = np.flatnonzero(item_counts)  # codes are in id order, so the code breaks ties by id
    order = seen[np.lexsort((seen, -item_counts[seen]))]  # (I,) most frequent first
    item_id = np.zeros(len(rows.item_names), dtype=np.int64)  # (I0,) code -> vocabulary index
    item_id[order] = np.arange(1, len(order) + 1)

    event_counts = np.bincount(rows.events, minlength=len(rows.event_names) + 1)  # (T0 + 1,)
    used = np.flatnonzero(event_counts[1:]) + 1  # (T,) codes that occur
    event_id = np.zeros(len(event_counts), dtype=np.int64)
    event_id[used] = np.arange(1, len(used) + 1)

    seconds = np.floor_divide(rows.ns, 10**9)  # (E,) as build_sequences stores times
    first = np.zeros(len(seconds), dtype=bool)  # (E,) each user's first event
    first[offsets[:-1]] = True
    return Sequences(
        users=tuple(str(u) for u in rows.user_names[present]),
        items=Vocabulary((PAD_TOKEN, *(str(x) for x in rows.item_names[order]))),
        event_types=Vocabulary((PAD_TOKEN, *(rows.event_names[c - 1] for c in used))),
        offsets=offsets,
        item_ids=item_id[rows.items],
        event_ids=event_id[rows.events],
        gap_ids=_gap_ids(seconds, first),
        timestamps=seconds,
    )


def items_table(con: duckdb.DuckDBPyConnection, seqs: Sequences) -> pd.DataFrame:
    """item_id, title (the id), category: each item's most named category, as ltsi.items.items_from_events."""
    named = con.execute(
        "SELECT __item AS item_id, __category AS category, count(*) AS n FROM classified "
        "WHERE __reason IS NULL AND __category IS NOT NULL GROUP BY ALL"
    ).df()
    named = named.sort_values(["item_id", "n", "category"], ascending=[True, False, True], kind="stable")
    top = named.drop_duplicates("item_id", keep="first").set_index("item_id")["category"]
    every = pd.Index(seqs.items.tokens[1:], name="item_id")
    category = top.reindex(every).fillna("unknown").to_numpy()
    table = pd.DataFrame({"item_id": every, "title": every, "category": category})
    return table.astype("str").reset_index(drop=True)

"""Side by side: two runs (metrics, users and items they share, top-K lists) or two users (top-K overlap and the
drivers both users' recommendations share). Pure pandas over `ltsi.runs.Run` and `ltsi.explain` tables.

Conventions: "A" is the first of the pair (the active run, the first user), "B" the second. A rank change is
told from A to B: `change = rank_a - rank_b`, so a positive change means B ranks the item nearer the top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ltsi.items import item_label

if TYPE_CHECKING:
    from ltsi.runs import Run

BOTH, ONLY_A, ONLY_B = "both", "only A", "only B"
DRIVER_KINDS = ("item", "category", "event type")  # what `shared_drivers` aggregates the attribution by


# ---------------------------------------------------------------------------------------------
# Two runs


def same_data(run_a: Run, run_b: Run) -> bool:
    """Whether both runs were trained on exactly the same sequences (same data fingerprint)."""
    from ltsi.runs import fingerprint

    return fingerprint(run_a.seqs) == fingerprint(run_b.seqs)


def common_users(run_a: Run, run_b: Run) -> list[str]:
    """The user ids both runs know, in run A's order."""
    theirs = set(run_b.seqs.users)
    return [user for user in run_a.seqs.users if user in theirs]


def common_items(run_a: Run, run_b: Run) -> set[str]:
    """The item ids both runs' catalogues hold (without the padding token)."""
    ours = set(run_a.seqs.items.tokens[1:])
    return ours.intersection(run_b.seqs.items.tokens[1:])


def metrics_side_by_side(run_a: Run, run_b: Run, metrics: list[str] | None = None) -> pd.DataFrame:
    """Both runs' test metrics per model: `model`, then for each metric `<m> (A)`, `<m> (B)`, `<m> change` (B - A).

    One row per model of either run (A's models first, in its order); a model or metric that only one run has
    gets NaN on the other side. `metrics`: the metric columns to keep, in this order (default: every metric of
    either run). Runs without stored test metrics give an empty table.
    """
    tables = [run.table("test") for run in (run_a, run_b)]
    tables = [t if t is not None else pd.DataFrame(columns=["model"]) for t in tables]
    a, b = (t.drop_duplicates("model").set_index("model") for t in tables)
    if metrics is None:
        metrics = list(dict.fromkeys([*a.columns, *b.columns]))
    models = list(dict.fromkeys([*a.index, *b.index]))
    out = pd.DataFrame({"model": models})
    for metric in metrics:
        value_a = a[metric].reindex(models).astype(float) if metric in a else pd.Series(np.nan, index=models)
        value_b = b[metric].reindex(models).astype(float) if metric in b else pd.Series(np.nan, index=models)
        out[f"{metric} (A)"] = value_a.to_numpy()
        out[f"{metric} (B)"] = value_b.to_numpy()
        out[f"{metric} change"] = (value_b - value_a).to_numpy()
    return out


def within_items(recommendations: pd.DataFrame, items: set[str]) -> pd.DataFrame:
    """A top-K table kept to `items` (the items both runs know), ranked again 1..n in its order."""
    kept = recommendations[recommendations["item_id"].astype(str).isin(items)].copy()
    kept["rank"] = np.arange(1, len(kept) + 1)
    return kept.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Two top-K lists


def _ranked_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """item_id and rank of a top-K table (rank = list order when the table has none); first of repeated ids."""
    ranks = frame["rank"].astype(float) if "rank" in frame else pd.Series(np.arange(1, len(frame) + 1.0))
    table = pd.DataFrame({"item_id": frame["item_id"].astype(str).to_numpy(), "rank": ranks.to_numpy()})
    return table.drop_duplicates("item_id")


def topk_diff(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Two top-K lists (each with `item_id` and `rank`) item by item: item_id, rank_a, rank_b, change, where.

    `change` = rank_a - rank_b for items in both lists (positive: B ranks it nearer the top), NaN otherwise;
    `where` is "both", "only A" or "only B". Rows: A's items in A's order, then B's other items in B's order.
    A `title` column comes along when either list has one.
    """
    ranked_a, ranked_b = _ranked_ids(a), _ranked_ids(b)
    diff = ranked_a.merge(ranked_b, on="item_id", how="outer", suffixes=("_a", "_b"), sort=False)
    in_a, in_b = diff["rank_a"].notna(), diff["rank_b"].notna()
    diff["change"] = diff["rank_a"] - diff["rank_b"]
    diff["where"] = np.select([in_a & in_b, in_a], [BOTH, ONLY_A], ONLY_B)
    # A's order first, then B's (sort keys: A's rank, else after every A rank by B's rank)
    order = diff["rank_a"].fillna(np.inf).to_numpy(), diff["rank_b"].to_numpy()
    diff = diff.iloc[np.lexsort((order[1], order[0]))].reset_index(drop=True)
    titles = [f[["item_id", "title"]].assign(item_id=f["item_id"].astype(str)) for f in (a, b) if "title" in f]
    if titles:
        title = pd.concat(titles).drop_duplicates("item_id").set_index("item_id")["title"]
        diff["title"] = diff["item_id"].map(title)
    return diff[["item_id", "rank_a", "rank_b", "change", "where", *(["title"] if titles else [])]]


def change_words(diff: pd.DataFrame, a: str = "A", b: str = "B") -> pd.Series:
    """Each `topk_diff` row in plain words, told from A to B: 'only in A', 'only in B', 'same rank',
    'up 2 in B' (B ranks it 2 places nearer the top), 'down 3 in B'. `a`, `b`: what to call the two lists."""

    def words(row) -> str:
        if row["where"] == ONLY_A:
            return f"only in {a}"
        if row["where"] == ONLY_B:
            return f"only in {b}"
        change = int(row["change"])
        if change == 0:
            return "same rank"
        return f"{'up' if change > 0 else 'down'} {abs(change)} in {b}"

    return pd.Series([words(row) for _, row in diff.iterrows()], index=diff.index, dtype=object)


def overlap_counts(diff: pd.DataFrame) -> dict[str, int]:
    """How many items of a `topk_diff` are in both lists, only in A, only in B, and in both at another rank."""
    both = diff["where"] == BOTH
    return {
        "both": int(both.sum()),
        "only A": int((diff["where"] == ONLY_A).sum()),
        "only B": int((diff["where"] == ONLY_B).sum()),
        "moved": int((both & (diff["change"] != 0)).sum()),
    }


# ---------------------------------------------------------------------------------------------
# What drives two users' recommendations


def _driver_sums(rows: pd.DataFrame, items: pd.DataFrame | None) -> dict[str, pd.Series]:
    """Per kind (item, category, event type): the user's attribution summed per driver, as a share of the
    user's total absolute attribution (so two users' numbers compare although their scores differ)."""
    rows = rows.assign(item_id=rows["item_id"].astype(str))
    total = float(rows["attribution"].abs().sum())
    scale = 1.0 / total if total > 0 else np.nan
    if "category" not in rows and items is not None and "category" in items:
        category = items.assign(item_id=items["item_id"].astype(str)).drop_duplicates("item_id")
        rows = rows.assign(category=rows["item_id"].map(category.set_index("item_id")["category"]))
    keys = {"item": "item_id", "category": "category", "event type": "event"}
    sums = {}
    for kind, column in keys.items():
        if column not in rows:
            continue
        known = rows[rows[column].notna() & (rows[column].astype(str) != "")]
        sums[kind] = known.groupby(known[column].astype(str), sort=False)["attribution"].sum() * scale
    return sums


def _titles(rows_a: pd.DataFrame, rows_b: pd.DataFrame, items: pd.DataFrame | None) -> pd.Series:
    """item_id -> title from the rows or the item table (empty when neither has titles)."""
    frames = [f for f in (rows_a, rows_b, items) if f is not None and "title" in f]
    if not frames:
        return pd.Series(dtype=object)
    pairs = pd.concat([f[["item_id", "title"]].assign(item_id=f["item_id"].astype(str)) for f in frames])
    return pairs.drop_duplicates("item_id").set_index("item_id")["title"]


def shared_drivers(
    rows_a: pd.DataFrame, rows_b: pd.DataFrame, items: pd.DataFrame | None = None, k: int = 5
) -> pd.DataFrame:
    """The items, categories and event types that push up both users' recommendations.

    `rows_a`, `rows_b`: per-event attribution rows of each user (`Explanation.for_target` of one or more of
    their top recommendations: item_id, event, attribution, optionally category). Per user and kind, the
    attribution is summed per driver and divided by the user's total absolute attribution (`share_*`: 0.3 =
    30% of everything that moved that user's scores). A shared driver pushes up both users (share > 0 for
    each); per kind the `k` with the largest smaller share come first. `items`: an item table for the
    categories (when the rows have none) and the items' titles.

    Columns: kind ("item", "category", "event type"), driver (the id or name), label (title and id for items),
    share_a, share_b.
    """
    columns = ["kind", "driver", "label", "share_a", "share_b"]
    sums_a, sums_b = _driver_sums(rows_a, items), _driver_sums(rows_b, items)
    titles = _titles(rows_a, rows_b, items)
    parts = []
    for kind in DRIVER_KINDS:
        if kind not in sums_a or kind not in sums_b:
            continue
        pair = pd.concat([sums_a[kind].rename("share_a"), sums_b[kind].rename("share_b")], axis=1, join="inner")
        pair = pair[(pair["share_a"] > 0) & (pair["share_b"] > 0)]
        weakest = np.minimum(pair["share_a"], pair["share_b"])  # shared as far as the weaker side goes
        pair = pair.iloc[np.argsort(-weakest.to_numpy(), kind="stable")].head(k)
        drivers = pair.index.astype(str)
        labels = [item_label(d, titles.get(d)) for d in drivers] if kind == "item" else list(drivers)
        parts.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "driver": drivers,
                    "label": labels,
                    "share_a": pair["share_a"].to_numpy(),
                    "share_b": pair["share_b"].to_numpy(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)

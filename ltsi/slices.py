"""Where the model does well or poorly: test metrics by slice of users.

A slice is a group of tested users (those of `run.split.test`), named by a plain label, as a
`pd.Series` indexed by user_id. `tested_user_slices` cuts them by one built-in property of their
held-out (test) event; `custom_slice` filters them by the held-out event's value of any column the
run keeps. `heldout_ranks` gives every held-out item's rank under each model (full ranking, as
`ltsi.evaluate`; those the run's test evaluation kept, else ranked once now), so `slice_metrics`
only averages and bootstraps those ranks: any number of slicings is cheap. What drives a slice's
recommendations: `ltsi.slice_drivers`.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable, Collection, Sequence

import numpy as np
import pandas as pd
import torch

from ltsi.baselines import training_popularity
from ltsi.batches import history_batch
from ltsi.errors import LTSIError
from ltsi.evaluate import as_scorer, metrics_from_ranks, target_ranks
from ltsi.recommend import category_column, item_info
from ltsi.runs import Run
from ltsi.scorers import run_scorers
from ltsi.sequences import Sequences
from ltsi.splits import EvalCases, Split


class SliceBy(enum.Enum):
    """Built-in ways to cut the tested users; each value is the choice's name in plain words."""

    HISTORY_LENGTH = "how many events they had"
    RECENCY = "time since their previous event"
    POPULARITY = "how popular the next item is"
    CATEGORY = "category of the next item"
    EVENT_TYPE = "kind of the next event"


# Bins of the built-in slicings: (label, upper bound inclusive); the last bin is open-ended.
HISTORY_BINS = ((5, "1-5 events"), (10, "6-10 events"), (20, "11-20 events"), (50, "21-50 events"))
HISTORY_OPEN = "more than 50 events"
HOUR, DAY = 3600, 86400
RECENCY_BINS = (
    (600, "under 10 minutes"),
    (HOUR, "10 minutes to 1 hour"),
    (DAY, "1 hour to 1 day"),
    (7 * DAY, "1 to 7 days"),
)
RECENCY_OPEN = "more than 7 days"
HEAD_SHARE = 0.2  # head = the most popular items that together make the first 20% of training events
TAIL_SHARE = 0.2  # tail = the least popular items that together make the last 20% of them
HEAD = "head: most popular items (first 20% of events)"
TORSO = "torso: the middle 60% of events"
TAIL = "tail: least popular items (last 20% of events)"
UNSEEN = "never in training"
TOP_CATEGORIES = 8  # categories shown by name; the rest are "other"
OTHER = "other"
NO_CATEGORY = "(no category)"
IN_FILTER, OUT_OF_FILTER = "matches the filter", "all other tested users"

# The event log columns a run keeps (its sequences); every other column of the original log is gone.
EVENT_COLUMNS = ("item_id", "event", "timestamp")


# ---------------------------------------------------------------------------------------------
# Slices


def _test_cases(run: Run) -> EvalCases:
    cases = run.split.test
    if len(cases) == 0:
        raise LTSIError("No user of this run has a held-out test event, so there is nothing to slice.")
    return cases


def _tested_index(run: Run, at: np.ndarray | None = None) -> pd.Index:
    """The user ids of the test cases (at positions `at`; default: all), named user_id."""
    users = _test_cases(run).users if at is None else _test_cases(run).users[at]
    return pd.Index([run.seqs.users[int(u)] for u in users], name="user_id")


def _case_positions(run: Run, users: Sequence[str]) -> np.ndarray:
    """(K,) each user's position in the test cases (which list users in user order); unknown or untested: an error."""
    cases = _test_cases(run)
    wanted = np.array([run.seqs.user_index(user) for user in users], dtype=np.int64)  # (K,)
    at = np.minimum(np.searchsorted(cases.users, wanted), len(cases) - 1)  # (K,)
    untested = np.flatnonzero(cases.users[at] != wanted)
    if len(untested):
        raise LTSIError(f"User {users[int(untested[0])]!r} has no held-out test event, so it is in no slice.")
    return at


def _heldout_flat(run: Run) -> np.ndarray:
    """(C,) flat event index of each tested user's held-out event."""
    cases = _test_cases(run)
    return run.seqs.offsets[cases.users] + cases.ends


def binned(values: np.ndarray, bins: Sequence[tuple[float, str]], open_label: str) -> list[str]:
    """Label of each value: the first bin whose upper bound (inclusive) it does not exceed."""
    bounds = np.array([bound for bound, _ in bins], dtype=np.float64)
    labels = [label for _, label in bins] + [open_label]
    return [labels[i] for i in np.searchsorted(bounds, values, side="left")]


def _ordered(values: Sequence[str], order: Sequence[str], index: pd.Index, name: str) -> pd.Series:
    """An ordered categorical Series over `index` with only the labels that occur, in `order`."""
    present = set(values)
    categories = [label for label in order if label in present]
    return pd.Series(pd.Categorical(values, categories=categories, ordered=True), index=index, name=name)


def popularity_tiers(seqs: Sequences, split: Split) -> np.ndarray:
    """(N,) label of each item index by its training popularity: head, torso, tail or never in training.

    Items are ranked by training events (ties: lower index first); an item is head while the events of
    the items ranked before it are under 20% of all training events, tail once those are at least 80%,
    else torso. So head items make (about) the first 20% of events, tail items the last 20%.
    """
    counts = training_popularity(seqs, split)  # (N,) padding 0
    order = np.lexsort((np.arange(len(counts)), -counts))  # most popular first
    before = np.concatenate([[0.0], np.cumsum(counts[order])[:-1]]) / max(counts.sum(), 1.0)  # share ranked above
    tiers = np.where(before < HEAD_SHARE, HEAD, np.where(before >= 1 - TAIL_SHARE, TAIL, TORSO)).astype(object)
    out = np.empty(len(counts), dtype=object)
    out[order] = tiers
    out[counts == 0] = UNSEEN
    return out


def item_categories(run: Run, indices: np.ndarray) -> np.ndarray | None:
    """The category of each item index in `indices` ((no category) when blank, or not in the item table);
    None when the run has no item categories. Only those items' rows of the table are read."""
    if category_column(run.items) is None:
        return None
    unique, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)  # (V,), (K,)
    ids = run.seqs.items.decode(unique)
    info = item_info(run.items, only=ids)
    named = info["main_category"].astype(str).replace("", NO_CATEGORY).reindex(ids).fillna(NO_CATEGORY)
    return named.to_numpy(dtype=object)[inverse.reshape(-1)]  # (K,)


def _top_or_other(values: pd.Series, n: int = TOP_CATEGORIES) -> tuple[list[str], list[str]]:
    """(labels with all but the n most frequent replaced by OTHER, their order: by frequency, OTHER last)."""
    sizes = values.value_counts()
    ranked = sorted(sizes.index, key=lambda name: (-sizes[name], name))
    kept = ranked[:n] if len(ranked) > n + 1 else ranked  # one leftover category is shown by name, not as "other"
    labels = [v if v in kept else OTHER for v in values]
    return labels, [*kept, OTHER]


def available_slicings(run: Run) -> list[SliceBy]:
    """The built-in slicings offered for this run: those that may cut its tested users into two groups or more
    (`may_split_tested_users`; by category only with an item table that has one)."""
    return [by for by in SliceBy if may_split_tested_users(run, by)]


CATEGORY_PROBE = 1000  # tested users whose next item's category is read first (two categories there: enough)


def _spans_bins(values: np.ndarray, bins: Sequence[tuple[float, str]]) -> bool:
    """Whether `values` fall in two or more of the bins (`_binned`'s: upper bounds, the last bin open-ended)."""
    bounds = np.array([bound for bound, _ in bins], dtype=np.float64)
    low, high = np.searchsorted(bounds, [values.min(), values.max()], side="left")
    return bool(low != high)


def _varies(values: np.ndarray) -> bool:
    return bool(len(values) and (values != values[0]).any())


def _categories_vary(run: Run, targets: np.ndarray) -> bool:
    """Whether the items `targets` have two categories or more (a missing one counts as "(no category)")."""
    probe = item_categories(run, targets[:CATEGORY_PROBE])  # (P,); None without categories
    if probe is None:
        return False
    return _varies(probe) or (len(targets) > CATEGORY_PROBE and _varies(item_categories(run, targets)))


def may_split_tested_users(run: Run, by: SliceBy) -> bool:
    """False when the built-in slicing `by` puts every tested user in one group (a single group compares
    nothing), or there is no tested user; else True.

    Exact for every slicing but the popularity tiers, which are always offered: finding them costs a pass over
    the training events (0.3 s at a million users), too much for each visit of the Model view; the view says
    so when they give one group. The rest costs a few vector steps over the held-out events (about 10 ms at a
    million tested users); categories are read for the first 1,000 tested users, for all only if those share one.
    """
    cases, seqs = run.split.test, run.seqs
    if len(cases) == 0:
        return False
    if by is SliceBy.POPULARITY:
        return True
    if by is SliceBy.CATEGORY:
        return _categories_vary(run, cases.targets)
    flat = _heldout_flat(run)  # (C,) the held-out events
    if by is SliceBy.HISTORY_LENGTH:
        return _spans_bins(cases.ends, HISTORY_BINS)
    if by is SliceBy.RECENCY:
        return _spans_bins(seqs.timestamps[flat] - seqs.timestamps[flat - 1], RECENCY_BINS)  # (C,) seconds away
    if by is SliceBy.EVENT_TYPE:
        return _varies(seqs.event_ids[flat])
    raise LTSIError(f"Unknown slicing {by!r}.")


def tested_user_slices(run: Run, by: SliceBy, among: Sequence[str] | None = None) -> pd.Series:
    """Each tested user's slice, an ordered categorical indexed by user_id (only labels that occur); with
    `among`, only those tested users (e.g. the sample `heldout_ranks` ranked on a big log), in that order.

    Every slicing describes the held-out (test) event, i.e. the situation the test metrics measure:
    HISTORY_LENGTH: how many events came before it ("1-5 events" ... "more than 50 events");
    RECENCY: the time between it and the user's previous event, i.e. how long the user had been away;
    POPULARITY: its item's tier by training popularity (`popularity_tiers`: head, torso, tail, never in training);
    CATEGORY: its item's category (the item table's category, the first genre of several), the
    8 most frequent among tested users by name, the rest "other";
    EVENT_TYPE: its event type.
    """
    seqs, cases = run.seqs, _test_cases(run)
    at = np.arange(len(cases)) if among is None else _case_positions(run, among)  # (C,) positions in the cases
    index, flat = _tested_index(run, at), _heldout_flat(run)[at]
    ends, targets = cases.ends[at], cases.targets[at]  # (C,) each
    name = by.value
    if by is SliceBy.HISTORY_LENGTH:
        labels = binned(ends, HISTORY_BINS, HISTORY_OPEN)
        return _ordered(labels, [label for _, label in HISTORY_BINS] + [HISTORY_OPEN], index, name)
    if by is SliceBy.RECENCY:
        away = seqs.timestamps[flat] - seqs.timestamps[flat - 1]  # (C,) seconds; ends >= 1, so flat - 1 is the user's
        labels = binned(away, RECENCY_BINS, RECENCY_OPEN)
        return _ordered(labels, [label for _, label in RECENCY_BINS] + [RECENCY_OPEN], index, name)
    if by is SliceBy.POPULARITY:
        labels = list(popularity_tiers(seqs, run.split)[targets])
        return _ordered(labels, [HEAD, TORSO, TAIL, UNSEEN], index, name)
    if by is SliceBy.CATEGORY:
        categories = item_categories(run, targets)  # (C,)
        if categories is None:
            raise LTSIError("This run has no item table with a category column, so users cannot be cut by category.")
        labels, order = _top_or_other(pd.Series(categories))
        return _ordered(labels, order, index, name)
    if by is SliceBy.EVENT_TYPE:
        labels = seqs.event_types.decode(seqs.event_ids[flat])
        return _ordered(labels, list(seqs.event_types.tokens[1:]), index, name)
    raise LTSIError(f"Unknown slicing {by!r}.")


# ---------------------------------------------------------------------------------------------
# Custom filters


def filter_columns(run: Run) -> list[str]:
    """Columns a custom filter can use: the event log's item_id, event, timestamp (all a run keeps of
    the log), then every column of the item table except item_id (an event column's name wins a clash)."""
    extra = [] if run.items is None else [str(c) for c in run.items.columns if str(c) not in EVENT_COLUMNS]
    return [*EVENT_COLUMNS, *extra]


def heldout_values(run: Run, column: str) -> pd.Series:
    """The held-out event's value of `column` for each tested user (indexed by user_id).

    item_id and event are text, timestamp a UTC datetime; an item table column is the held-out
    item's value (missing where the table does not list that item).
    """
    seqs, index, flat = run.seqs, _tested_index(run), _heldout_flat(run)
    if column == "item_id":
        return pd.Series(seqs.items.decode(seqs.item_ids[flat]), index=index, name=column)
    if column == "event":
        return pd.Series(seqs.event_types.decode(seqs.event_ids[flat]), index=index, name=column)
    if column == "timestamp":
        return pd.Series(pd.to_datetime(seqs.timestamps[flat], unit="s", utc=True), index=index, name=column)
    if run.items is None or column not in run.items.columns:
        raise LTSIError(f"There is no column {column!r} to filter on; the run keeps {', '.join(filter_columns(run))}.")
    listed = run.items.drop_duplicates("item_id")
    table = listed.set_index(listed["item_id"].astype(str))
    values = table[column].reindex(seqs.items.decode(seqs.item_ids[flat]))
    return pd.Series(values.to_numpy(), index=index, name=column)


def custom_slice(run: Run, column: str, values: Collection | None = None, *, between: tuple | None = None) -> pd.Series:
    """True for each tested user (indexed by user_id) whose held-out event's `column` is one of `values`,
    or lies in `between` = (low, high), both ends included; give exactly one of them.

    `column` is one of `filter_columns(run)`: item_id, event or timestamp of the held-out event (a run
    keeps no other column of the event log), or a column of the item table, read for the held-out
    item. Values are compared as text (so 3 matches "3"); a range compares numbers, or times for
    timestamp (Timestamps, ISO text or dates; naive ones are UTC, and a date as the high end counts its
    whole day).
    """
    if (values is None) == (between is None):
        raise LTSIError("A custom filter needs either a set of values or a range (low, high), not both.")
    found = heldout_values(run, column)
    if values is not None:
        wanted = {str(v) for v in values}
        return found.astype(str).isin(wanted).rename(column)
    low, high = between
    if column == "timestamp":
        if isinstance(high, datetime.date) and not isinstance(high, datetime.datetime):
            high = pd.Timestamp(high) + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")  # a date: its whole day
        low, high = (
            pd.Timestamp(v).tz_localize("UTC") if pd.Timestamp(v).tzinfo is None else pd.Timestamp(v)
            for v in (low, high)
        )
        return ((found >= low) & (found <= high)).rename(column)
    numbers = pd.to_numeric(found, errors="coerce")
    if numbers.notna().sum() == 0:
        raise LTSIError(f"Column {column!r} holds no numbers, so it cannot be filtered by a range; pick values.")
    return ((numbers >= float(low)) & (numbers <= float(high))).fillna(False).astype(bool).rename(column)


def filter_as_slices(mask: pd.Series) -> pd.Series:
    """A custom filter's True/False per user as two slices: "matches the filter" and "all other tested users"."""
    labels = np.where(mask.to_numpy(dtype=bool), IN_FILTER, OUT_OF_FILTER)
    return _ordered(list(labels), [IN_FILTER, OUT_OF_FILTER], mask.index, str(mask.name or "filter"))


# ---------------------------------------------------------------------------------------------
# Metrics by slice


@torch.no_grad()
def heldout_ranks(run: Run, batch_size: int = 512, max_users: int | None = -1) -> pd.DataFrame:
    """Rank of each tested user's held-out item (rows: user_id) by each model of `run_scorers` (columns:
    LTSI, its ablations, the baselines), full ranking as `ltsi.evaluate` (inf: never ranked).

    A run that kept its test evaluation's ranks (`Run.test_ranks`) gives those, the very ranks behind its
    metrics table, for a seeded sample of at most `max_users` of the users it evaluated (-1, the default:
    `ltsi.insights.SAMPLE_USERS`; None: all); `frame.attrs["saved"]` is True then. Otherwise every model scores
    the whole catalogue for each user now, so a big log is ranked on a seeded sample of at most `max_users`
    tested users (-1: `ltsi.insights.scored_users` of the catalogue, 20,000 for a catalogue of up to 5,000 items);
    the transitions baseline counts only the successors of the ranked histories' last items (exact for them).
    `frame.attrs["of_users"]`: how many users are tested in all.
    """
    from ltsi.insights import SAMPLE_USERS, sample_index, scored_users

    seqs, cases = run.seqs, _test_cases(run)
    if run.test_ranks is not None:
        rows = sample_index(len(run.test_ranks), SAMPLE_USERS if max_users == -1 else max_users)  # (C',)
        picked = run.test_ranks.index.to_numpy()[rows]  # (C',) positions in the test cases
        values = run.test_ranks.to_numpy(np.float64)[rows]  # (C', M)
        frame = pd.DataFrame(values, columns=run.test_ranks.columns, index=_tested_index(run, picked))
        frame.attrs.update(of_users=len(cases), saved=True)
        return frame
    if max_users == -1:
        max_users = scored_users(len(seqs.items) - 1)
    picked = sample_index(len(cases), max_users)  # (C',) positions in the test cases
    users, ends, targets = cases.users[picked], cases.ends[picked], cases.targets[picked]
    columns = {}
    last_items = seqs.item_ids[seqs.offsets[users] + ends - 1]  # (C',) each ranked history's last item
    for name, scorer in run_scorers(run, last_items).items():
        score = as_scorer(scorer)
        ranks = []
        for start in range(0, len(picked), batch_size):
            part = slice(start, start + batch_size)
            batch = history_batch(seqs, users[part], ends[part], run.model_config.max_len)
            scores = score(batch).cpu()  # (b, N)
            ranks.append(target_ranks(scores, torch.from_numpy(targets[part])).numpy())  # (b,)
        columns[name] = np.concatenate(ranks).astype(np.float64)
    frame = pd.DataFrame(columns, index=_tested_index(run, picked))
    frame.attrs.update(of_users=len(cases), saved=False)
    return frame


def slice_metrics(
    run: Run | None,
    slices: pd.Series,
    k: int = 10,
    n_boot: int = 200,
    seed: int = 0,
    ranks: pd.DataFrame | None = None,
    models: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (slice, model): slice, model, n_users, HR@k and NDCG@k, each with the low and high
    ends of its 95% percentile-bootstrap interval ("HR@10 low", "HR@10 high", ...).

    `slices`: a label per user_id (e.g. `tested_user_slices`; a True/False filter counts as
    `filter_as_slices`); users without a label, or not tested, are left out. `ranks`: a cached
    `heldout_ranks(run)` (computed here when None; `run` is only read then). `models`: which columns
    of it (default: all).
    The bootstrap resamples a slice's users with replacement `n_boot` times, the same draws for every
    model (seeded by `seed` and the slice's position), so the intervals are repeatable and paired.
    """
    if slices.dtype == bool:
        slices = filter_as_slices(slices)
    if ranks is None:
        if run is None:
            raise LTSIError("Give the run, or its held-out ranks, to compute metrics by group.")
        ranks = heldout_ranks(run)
    ranks = ranks[list(models)] if models is not None else ranks
    labels = slices.reindex(ranks.index)
    order = (
        list(labels.cat.categories)
        if isinstance(labels.dtype, pd.CategoricalDtype)
        else sorted(labels.dropna().unique(), key=str)
    )
    hr, ndcg = f"HR@{k}", f"NDCG@{k}"
    rows = []
    for position, label in enumerate(order):
        members = (labels == label).to_numpy()
        if not members.any():
            continue
        per_user = metrics_from_ranks(torch.from_numpy(ranks.to_numpy()[members].T.copy()), ks=(k,))  # (M, n) each
        values = {name: per_user[name].double().numpy() for name in (hr, ndcg)}  # (M, n)
        bounds = {name: _bootstrap(v, n_boot, np.random.default_rng([seed, position])) for name, v in values.items()}
        for m, model in enumerate(ranks.columns):
            row = {"slice": label, "model": model, "n_users": int(members.sum())}
            for name in (hr, ndcg):
                row[name] = float(values[name][m].mean())
                row[f"{name} low"], row[f"{name} high"] = bounds[name][m]
            rows.append(row)
    columns = ["slice", "model", "n_users", hr, f"{hr} low", f"{hr} high", ndcg, f"{ndcg} low", f"{ndcg} high"]
    return pd.DataFrame(rows, columns=columns)


def _bootstrap(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(M, 2) 2.5% and 97.5% percentiles of the mean over `n_boot` resamples of the columns of (M, n) `values`."""
    n = values.shape[1]
    if n_boot < 1:
        mean = values.mean(1)
        return np.stack([mean, mean], 1)
    means = np.empty((values.shape[0], n_boot))
    for b in range(n_boot):  # one resample at a time: (M, n) memory, whatever n_boot is
        means[:, b] = values[:, rng.integers(0, n, n)].mean(1)
    return np.percentile(means, [2.5, 97.5], axis=1).T


def slice_verdicts(metrics: pd.DataFrame, model: str = "LTSI", metric: str = "NDCG@10") -> pd.DataFrame:
    """Per slice, `model` against the best other model of `metrics` (a `slice_metrics` frame).

    Columns: slice, n_users, value (the model's), rival (the best other model), rival_value,
    difference (value - rival_value), wins (difference > 0), clear (the two 95% intervals do not
    overlap: a difference unlikely to be chance).
    """
    rows = []
    for label, part in metrics.groupby("slice", sort=False, observed=True):
        ours = part[part["model"] == model]
        others = part[part["model"] != model]
        if ours.empty or others.empty:
            continue
        ours, rival = ours.iloc[0], others.loc[others[metric].idxmax()]
        apart = ours[f"{metric} low"] > rival[f"{metric} high"] or ours[f"{metric} high"] < rival[f"{metric} low"]
        rows.append(
            {
                "slice": label,
                "n_users": int(ours["n_users"]),
                "value": float(ours[metric]),
                "rival": rival["model"],
                "rival_value": float(rival[metric]),
                "difference": float(ours[metric] - rival[metric]),
                "wins": bool(ours[metric] > rival[metric]),
                "clear": bool(apart),
            }
        )
    return pd.DataFrame(
        rows, columns=["slice", "n_users", "value", "rival", "rival_value", "difference", "wins", "clear"]
    )


def verdict_sentence(
    overall: pd.DataFrame, by_slice: pd.DataFrame, model: str = "LTSI", quote: Callable[[object], str] = str
) -> str:
    """One plain sentence: where `model` wins or loses against the best other model, e.g. "LTSI beats the
    best other model overall (0.210 vs 0.150), but loses on: tail (most popular 0.080 vs 0.020)".

    `overall` (one row: all tested users) and `by_slice` are `slice_verdicts` frames; `quote` wraps each
    slice label and model name from the data (e.g. Markdown escaping). A slice whose two intervals
    overlap is marked "may be chance".
    """
    if overall.empty:
        return f"There is no other model to compare {model} with."
    first = overall.iloc[0]
    wins = bool(first["wins"])
    lead = (
        f"{model} {'beats' if wins else 'trails'} the best other model overall "
        f"({first['value']:.3f} vs {first['rival_value']:.3f} for {quote(first['rival'])})"
    )
    contrary = by_slice[by_slice["wins"] != wins]
    if contrary.empty:
        return f"{lead}, and {'wins' if wins else 'loses'} on every slice."
    named = [
        f"{quote(row['slice'])} ({row['value']:.3f} vs {row['rival_value']:.3f} for {quote(row['rival'])}"
        f"{'' if row['clear'] else ', may be chance'})"
        for _, row in contrary.iterrows()
    ]
    return f"{lead}, but {'loses' if wins else 'wins'} on: {'; '.join(named)}."

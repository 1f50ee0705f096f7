"""Sequences, splits and batches on hand-made logs whose every number is worked out by hand."""

import numpy as np
import pandas as pd
import pytest
import torch

from ltsi.batches import NextItemDataset, history_batch
from ltsi.errors import LTSIError
from ltsi.histories import custom_history
from ltsi.sequences import FIRST_EVENT_BUCKET, PADDING_IDX, Vocabulary, build_sequences, gap_buckets
from ltsi.splits import leave_one_out, time_split

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def log(rows):
    """rows: (user, item, seconds after T0[, event])."""
    return pd.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "timestamp": [T0 + pd.Timedelta(seconds=r[2]) for r in rows],
            "event": [r[3] if len(r) > 3 else "view" for r in rows],
        }
    )


@pytest.fixture
def small():
    # user a: 5 events, b: 3 events (with a timestamp tie), c: 2 events (too short to evaluate)
    rows = [
        ("b", "y", 20),
        ("a", "x", 30),
        ("a", "y", 10),
        ("b", "z", 20),
        ("a", "z", 40, "cart"),
        ("c", "x", 5),
        ("a", "x", 50),
        ("b", "x", 0),
        ("a", "w", 60, "purchase"),
        ("c", "y", 7),
    ]
    return build_sequences(log(rows))


def items_of(seqs, u):
    return seqs.items.decode(seqs.item_ids[seqs.offsets[u] : seqs.offsets[u + 1]])


def test_vocabulary_numbers_items_by_popularity_and_pads_with_zero(small):
    # counts: x 4, y 3, z 2, w 1 -> ids 1..4 in that order
    assert small.items.tokens == ("<pad>", "x", "y", "z", "w")
    assert small.event_types.tokens == ("<pad>", "cart", "purchase", "view")
    assert small.users == ("a", "b", "c")
    assert list(small.offsets) == [0, 5, 8, 10]


def test_events_sorted_by_time_and_ties_keep_row_order(small):
    assert items_of(small, 0) == ["y", "x", "z", "x", "w"]
    # b's y (row 0) and z (row 3) share t=20: row order keeps y before z
    assert items_of(small, 1) == ["x", "y", "z"]
    swapped = build_sequences(log([("b", "z", 20), ("b", "y", 20), ("b", "x", 0)]))
    assert items_of(swapped, 0) == ["x", "z", "y"]


def test_gap_buckets_log2_seconds_first_event_marked(small):
    # a: t = 10, 30, 40, 50, 60 -> first, 20 s, 10 s, 10 s, 10 s
    expected = [
        FIRST_EVENT_BUCKET,
        2 + int(np.log2(21)),
        2 + int(np.log2(11)),
        2 + int(np.log2(11)),
        2 + int(np.log2(11)),
    ]
    assert list(small.gap_ids[:5]) == expected
    assert list(small.gap_ids[5:8]) == [FIRST_EVENT_BUCKET, 6, 2]  # b: first, 20 s, the tie (0 s -> 2)
    assert gap_buckets(np.array([0, 10**12]), np.array([True, False]))[1] == 33  # capped


def test_vocabulary_rejects_unknown_and_padding():
    vocab = Vocabulary.from_values(["x", "y"])
    assert list(vocab.encode(["y", "x"])) == [2, 1]
    with pytest.raises(LTSIError, match="Unknown item 'q'"):
        vocab.encode(["q"], "item")
    with pytest.raises(LTSIError, match="Unknown item"):
        vocab.encode(["<pad>"], "item")


def test_leave_one_out_last_is_test_one_before_is_valid(small):
    split = leave_one_out(small)
    assert split.protocol == "leave-one-out"
    assert list(split.train_ends) == [3, 1, 2]  # c (2 events) trains only
    assert list(split.valid.users) == [0, 1] and list(split.valid.ends) == [3, 1]
    assert small.items.decode(split.valid.targets) == ["x", "y"]  # a's 4th event, b's 2nd
    assert list(split.test.ends) == [4, 2]
    assert small.items.decode(split.test.targets) == ["w", "z"]


def test_time_split_after_cutoff_is_test(small):
    split = time_split(small, T0 + pd.Timedelta(seconds=45))
    # a: 3 events before the cut (10, 30, 40) -> valid = its 3rd, test = its 4th (t=50)
    # b, c: every event before the cut -> not tested
    assert list(split.test.users) == [0] and list(split.test.ends) == [3]
    assert small.items.decode(split.test.targets) == ["x"]
    assert list(split.valid.users) == [0, 1] and list(split.valid.ends) == [2, 2]
    assert list(split.train_ends) == [2, 2, 2]
    with pytest.raises(LTSIError, match="No user has events both before and after"):
        time_split(small, "2030-01-01")


def test_history_batch_left_pads_and_truncates(small):
    batch = history_batch(small, np.array([0, 1, 2]), np.array([4, 1, 2]), max_len=3)
    ids = small.items._index
    assert batch.items.tolist() == [
        [ids["x"], ids["z"], ids["x"]],  # a's events 1..3 (the oldest is cut off)
        [0, 0, ids["x"]],  # b's first event, left-padded
        [0, ids["x"], ids["y"]],
    ]
    assert batch.mask.tolist() == [[True] * 3, [False, False, True], [False, True, True]]
    assert (batch.events[~batch.mask] == PADDING_IDX).all() and (batch.gaps[~batch.mask] == PADDING_IDX).all()
    assert batch.events[0].tolist() == [3, 1, 3]  # view, cart, view
    assert batch.items.dtype == torch.int64


def test_custom_history_what_if(small):
    batch = custom_history(small, ["w", "y"], max_len=4)
    assert batch.items.tolist() == [[0, 0, 4, 2]]
    assert batch.gaps[0, 2] == FIRST_EVENT_BUCKET
    assert batch.events[0, 2:].tolist() == [3, 3]  # the most common event type: view
    with pytest.raises(LTSIError, match="history is empty"):
        custom_history(small, [], max_len=4)
    with pytest.raises(LTSIError, match="Unknown item 'nope'"):
        custom_history(small, ["nope"], max_len=4)


def test_next_item_dataset_windows_cover_every_target_once():
    # one user with 8 training events (items 1..8 by position, each seen once)
    rows = [("u", f"i{k}", k) for k in range(8)]
    seqs = build_sequences(log(rows))
    ds = NextItemDataset(seqs, np.array([8]), max_len=3)
    # windows cut from the end: targets [5, 8), [2, 5), [-1, 2) -> ends 8, 5, 2
    assert list(ds.ends) == [8, 5, 2] and len(ds) == 3
    assert ds.n_targets == 3 + 3 + 1
    inputs, targets = ds.batch(np.arange(3))
    position = {tok: int(tok[1:]) for tok in seqs.items.tokens[1:]}

    def pos(row):
        return [position[seqs.items.tokens[i]] if i else -1 for i in row]

    assert [pos(r) for r in inputs.items.tolist()] == [[4, 5, 6], [1, 2, 3], [-1, -1, 0]]
    assert [pos(r) for r in targets.tolist()] == [[5, 6, 7], [2, 3, 4], [-1, -1, 1]]
    hit = sorted(p for r in targets.tolist() for p in pos(r) if p >= 0)
    assert hit == list(range(1, 8))  # every event but the first is a target exactly once
    single_items, single_targets = ds[2]
    assert single_items.items.tolist() == inputs.items[2].tolist() and single_targets.tolist() == targets[2].tolist()


def test_next_item_dataset_skips_users_without_a_target(small):
    ds = NextItemDataset(small, leave_one_out(small).train_ends, max_len=10)
    assert list(ds.users) == [0, 2]  # b has 1 training event: nothing to predict
    with pytest.raises(LTSIError):
        NextItemDataset(small, np.array([3, 1, 2]), max_len=0)


def test_build_sequences_errors():
    with pytest.raises(LTSIError, match="no 'item_id' column"):
        build_sequences(pd.DataFrame({"user_id": ["a"], "timestamp": [T0]}))
    with pytest.raises(LTSIError, match="empty"):
        build_sequences(log([]).astype({"user_id": str, "item_id": str}))

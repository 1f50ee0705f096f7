"""Top-K recommendations for a user, a what-if history and every user."""

import numpy as np
import pytest
import torch

from ltsi.batches import history_batch
from ltsi.errors import LTSIError
from ltsi.recommend import recommend, recommend_all, recommend_history
from ltsi.runs import Run
from ltsi.splits import leave_one_out
from ltsi.train_config import TrainConfig


@pytest.fixture(scope="module")
def setup(tiny_log, tiny_seqs, tiny_model):
    return tiny_log, tiny_seqs[0], tiny_model


def test_user_top_k_matches_the_model_scores(setup):
    log, seqs, model = setup
    top = recommend(model, seqs, "U00003", k=5, items=log.items)
    assert list(top["rank"]) == [1, 2, 3, 4, 5]
    assert {"item_id", "score", "probability", "title", "category"} <= set(top.columns)
    u = seqs.user_index("U00003")
    with torch.no_grad():  # the whole history, held-out events included
        scores = model.last_scores(history_batch(seqs, np.array([u]), seqs.lengths[[u]], 10))[0]
    best = scores.topk(5).indices.tolist()
    assert list(top["item_id"]) == seqs.items.decode(best)
    assert np.allclose(top["score"], scores[best].numpy(), atol=1e-6)
    assert np.allclose(top["probability"], torch.softmax(scores, -1)[best].numpy(), atol=1e-6)
    assert (np.diff(top["score"]) <= 0).all()
    titles = log.items.set_index("item_id")["title"]
    assert list(top["title"]) == [titles[i] for i in top["item_id"]]


def test_exclude_seen_drops_every_history_item(setup):
    log, seqs, model = setup
    u = seqs.user_index("U00003")
    seen = set(seqs.items.decode(seqs.item_ids[seqs.offsets[u] : seqs.offsets[u + 1]]))
    top = recommend(model, seqs, "U00003", k=50, exclude_seen=True)
    assert not seen & set(top["item_id"])
    assert len(top) == min(50, len(seqs.items) - 1 - len(seen))


def test_run_object_supplies_sequences_and_items(setup):
    log, seqs, model = setup
    run = Run(model, model.config, TrainConfig(), seqs, leave_one_out(seqs), log.items, [], None)
    assert (
        recommend(run, user_id="U00001", k=3)["item_id"].tolist()
        == recommend(model, seqs, "U00001", k=3)["item_id"].tolist()
    )
    assert "title" in recommend(run, user_id="U00001", k=3)


def test_what_if_history_equals_the_users_own_history(setup):
    log, seqs, model = setup
    u = seqs.user_index("U00002")
    events = seqs.user_events(u)
    times = list(events["timestamp"])
    what_if = recommend_history(
        model, seqs, list(events["item_id"]), events=list(events["event"]), timestamps=times, k=5
    )
    assert list(what_if["item_id"]) == list(recommend(model, seqs, "U00002", k=5)["item_id"])
    fewer = recommend_history(model, seqs, list(events["item_id"])[:-3], k=5, exclude_seen=True)
    assert not set(fewer["item_id"]) & set(events["item_id"][:-3])
    with pytest.raises(LTSIError, match="history is empty"):
        recommend_history(model, seqs, [], k=5)


def test_recommend_all_batches_agree_with_single_users(setup):
    log, seqs, model = setup
    every = recommend_all(model, seqs, k=4, batch_size=7, items=log.items)
    assert len(every) == 4 * seqs.n_users and list(every.columns[:3]) == ["user_id", "rank", "item_id"]
    for user in ("U00001", "U00017", "U00030"):
        mine = every[every["user_id"] == user]
        assert list(mine["item_id"]) == list(recommend(model, seqs, user, k=4)["item_id"])
    some = recommend_all(model, seqs, users=["U00005"], k=2, exclude_seen=True)
    assert list(some["user_id"]) == ["U00005"] * 2


def test_errors_are_plain(setup):
    log, seqs, model = setup
    with pytest.raises(LTSIError, match="Unknown user 'nobody'"):
        recommend(model, seqs, "nobody")
    with pytest.raises(LTSIError, match="k must be at least 1"):
        recommend(model, seqs, "U00001", k=0)
    with pytest.raises(LTSIError, match="Unknown item 'P99999'"):
        recommend_history(model, seqs, ["P99999"])
    with pytest.raises(LTSIError, match="needs the sequences"):
        recommend(model, None, "U00001")


def test_top_k_table_ranks_excludes_and_names_items(tiny_seqs):
    from ltsi.items import item_label
    from ltsi.recommend import top_k_table
    from ltsi.sequences import PADDING_IDX

    seqs, _ = tiny_seqs
    n = len(seqs.items)
    scores = torch.full((2, n), -1.0)
    scores[:, PADDING_IDX] = -float("inf")
    scores[0, [5, 9, 2]] = torch.tensor([3.0, 2.0, 1.0])  # row 0: items 5 > 9 > 2 > the rest
    scores[1, [7, 4]] = torch.tensor([1.0, 0.5])
    excluded = torch.zeros(2, n, dtype=torch.bool)
    excluded[1, 7] = True  # row 1 has seen item 7
    table = top_k_table(scores, 2, seqs, excluded)
    assert list(table["rank"]) == [1, 2, 1, 2]
    assert list(table["item_id"][:3]) == seqs.items.decode([5, 9, 4])
    assert np.allclose(table["score"][:2], [3.0, 2.0])
    expected = torch.softmax(scores[0], -1)[[5, 9]].numpy()  # over the whole catalogue, exclusions or not
    assert np.allclose(table["probability"][:2], expected, atol=1e-6)
    assert item_label("P1", "Red pan") == "Red pan (P1)" and item_label("P1", None) == "P1"
    assert item_label("P1", float("nan")) == "P1"


def test_seen_mask_marks_each_history_items(tiny_seqs):
    from ltsi.histories import edit_history, new_history
    from ltsi.seen_items import seen_mask

    seqs, _ = tiny_seqs
    first = edit_history(seqs, 0, 5)
    made = new_history(seqs, seqs.items.decode([3, 4, 3]))
    mask = seen_mask([first, made], len(seqs.items))
    assert mask.shape == (2, len(seqs.items))
    assert set(torch.nonzero(mask[0]).flatten().tolist()) == set(seqs.item_ids[seqs.offsets[0] : seqs.offsets[0] + 5])
    assert set(torch.nonzero(mask[1]).flatten().tolist()) == {3, 4} and (made.positions == -1).all()


def test_the_two_seen_masks_agree(tiny_seqs):
    from ltsi.histories import edit_history
    from ltsi.seen_items import history_mask, seen_mask

    seqs, _ = tiny_seqs
    users, ends = np.array([0, 3, 7]), np.array([4, 1, 12])
    by_case = history_mask(seqs, users, ends, len(seqs.items))
    by_history = seen_mask([edit_history(seqs, int(u), int(e)) for u, e in zip(users, ends)], len(seqs.items))
    assert torch.equal(by_case, by_history) and by_case.sum(1).tolist() == [
        len(set(seqs.item_ids[seqs.offsets[u] : seqs.offsets[u] + e])) for u, e in zip(users, ends)
    ]

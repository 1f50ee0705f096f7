"""Top-K recommendations for a user, a what-if history and every user."""

import numpy as np
import pytest
import torch

from ltsi.errors import LTSIError
from ltsi.model import LTSI, ModelConfig
from ltsi.recommend import recommend, recommend_all, recommend_history
from ltsi.runs import Run
from ltsi.sequences import build_sequences, history_batch, leave_one_out
from ltsi.synth import generate
from ltsi.train import TrainConfig


@pytest.fixture(scope="module")
def setup():
    log = generate(n_users=30, n_items=60, n_categories=3, mean_events=12, seed=2)
    seqs = build_sequences(log.events)
    torch.manual_seed(0)
    model = LTSI(ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types), dim=8, max_len=10)).eval()
    return log, seqs, model


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
    assert recommend(run, user_id="U00001", k=3)["item_id"].tolist() == \
        recommend(model, seqs, "U00001", k=3)["item_id"].tolist()
    assert "title" in recommend(run, user_id="U00001", k=3)


def test_what_if_history_equals_the_users_own_history(setup):
    log, seqs, model = setup
    u = seqs.user_index("U00002")
    events = seqs.user_events(u)
    times = list(events["timestamp"])
    what_if = recommend_history(model, seqs, list(events["item_id"]), events=list(events["event"]),
                                timestamps=times, k=5)
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

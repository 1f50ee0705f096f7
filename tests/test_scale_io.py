"""Logs and recommendations at scale: the chunked Parquet log writer and the streamed top-K export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltsi.errors import LTSIError
from ltsi.recommend import recommend_all, recommend_all_to_parquet
from ltsi.synth import generate, write_parquet_log

SMALL = {"n_items": 120, "n_categories": 4, "mean_events": 20}  # the most events one user can have: 20 * 20


def _read_log(folder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(events, causes) of a Parquet log written by write_parquet_log into `folder`."""
    return pd.read_parquet(folder / "events"), pd.read_parquet(folder / "causes.parquet")


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parquet_log")
    write_parquet_log(folder, 3000, seed=7, chunk_events=100_000, **SMALL)
    return folder


def test_same_seed_gives_the_same_log_whatever_the_chunk_size(tmp_path, log_folder):
    parts = []
    progress = lambda done, asked: parts.append((done, asked))  # noqa: E731
    written = write_parquet_log(tmp_path, 3000, seed=7, chunk_events=250, progress=progress, **SMALL)
    assert written == tmp_path / "events"
    assert len(list(written.glob("part-*.parquet"))) == len(parts) >= 10  # one part per chunk of about 250 events
    events, causes = _read_log(tmp_path)
    whole_events, whole_causes = _read_log(log_folder)
    assert len(list((log_folder / "events").glob("part-*.parquet"))) == 1
    pd.testing.assert_frame_equal(events, whole_events)
    pd.testing.assert_frame_equal(causes, whole_causes)
    # progress: events written so far, out of the events asked for; the last call has them all
    assert [n for _, n in parts] == [3000] * len(parts) and parts[-1][0] == len(events)
    assert all(a < b for (a, _), (b, _) in zip(parts, parts[1:], strict=False))

    write_parquet_log(tmp_path / "other", 3000, seed=8, **SMALL)
    other, _ = _read_log(tmp_path / "other")
    assert not other["item_id"].head(500).equals(events["item_id"].head(500))


def test_log_has_the_events_asked_for_and_its_planted_causes_hold(log_folder):
    events, causes = _read_log(log_folder)
    # users are added until the log reaches 3000 events: it overshoots by less than one (the last) user
    last_user = events["user_id"].iat[-1]
    assert 3000 <= len(events) < 3000 + (events["user_id"] == last_user).sum()
    assert list(events.columns) == ["user_id", "item_id", "timestamp", "event", "price"]
    assert set(events["event"]) == {"view", "cart", "purchase"}
    assert events.groupby("user_id", sort=False)["timestamp"].apply(lambda t: t.is_monotonic_increasing).all()

    items = pd.read_parquet(log_folder / "items.parquet")
    assert list(items.columns) == ["item_id", "title", "category"] and len(items) == SMALL["n_items"]
    assert set(events["item_id"]) <= set(items["item_id"])
    companion = generate(n_users=1, seed=7, **SMALL).items.set_index("item_id")["companion_id"]  # same catalogue
    assert list(causes["user_id"]) == list(events["user_id"].unique())
    for row in causes.itertuples():
        history = events[events["user_id"] == row.user_id]
        assert row.target_position == len(history) - 1 and history["item_id"].iat[-1] == row.target_item
        (cause,) = row.cause_positions
        assert 0 <= cause < row.target_position
        assert companion[history["item_id"].iat[cause]] == row.target_item  # the planted cause
    assert set(causes["kind"]) == {"short-term", "long-term"}


def test_an_earlier_log_is_refused_unless_overwrite_which_leaves_no_stale_parts(tmp_path):
    write_parquet_log(tmp_path, 2000, seed=1, chunk_events=200, **SMALL)
    with pytest.raises(LTSIError, match="already holds a log.*--overwrite"):
        write_parquet_log(tmp_path, 500, seed=1, **SMALL)
    write_parquet_log(tmp_path, 500, seed=1, overwrite=True, **SMALL)
    assert [p.name for p in (tmp_path / "events").iterdir()] == ["part-00000.parquet"]
    events, causes = _read_log(tmp_path)
    assert 500 <= len(events) < 2000 and len(causes) == events["user_id"].nunique()


def test_bad_log_arguments_are_an_ltsi_error(tmp_path):
    with pytest.raises(LTSIError, match="n_events >= 1"):
        write_parquet_log(tmp_path, 0, **SMALL)
    (tmp_path / "file").write_text("x")
    with pytest.raises(LTSIError, match="is a file"):
        write_parquet_log(tmp_path / "file", 100, **SMALL)


# ---------------------------------------------------------------------------------------------
# Streamed recommendations

COLUMNS = ["user_id", "rank", "item_id", "score"]


@pytest.mark.parametrize(
    ("exclude_seen", "chunk_users", "k"),
    [(False, 7, 10), (True, 7, 10), (True, None, 10), (True, 33, 500)],  # 7 and 33 do not divide the 80 users
)
def test_streamed_top_k_equals_recommend_all(tmp_path, tiny_model, tiny_seqs, exclude_seen, chunk_users, k):
    seqs, _ = tiny_seqs
    out = tmp_path / "recs.parquet"
    calls = []
    rows = recommend_all_to_parquet(
        tiny_model,
        out,
        k=k,
        exclude_seen=exclude_seen,
        chunk_users=chunk_users,
        device="cpu",
        progress=lambda done, total: calls.append((done, total)),
        seqs=seqs,
    )
    streamed = pd.read_parquet(out)
    expected = recommend_all(tiny_model, seqs, k=k, exclude_seen=exclude_seen)[COLUMNS]
    assert rows == len(streamed) == len(expected)
    pd.testing.assert_frame_equal(streamed, expected, check_exact=False, rtol=1e-6)
    if k > len(seqs.items):  # more than the catalogue: each user gets every item they have not seen (no padding)
        distinct_seen = [len(np.unique(seqs.item_ids[a:b])) for a, b in zip(seqs.offsets[:-1], seqs.offsets[1:])]
        per_user = streamed.groupby("user_id", sort=False).size()
        assert list(per_user) == [len(seqs.items) - 1 - n for n in distinct_seen]
    if chunk_users == 7:
        assert calls == [(min(n, 80), 80) for n in range(7, 87, 7)]
    assert not out.with_name("recs.parquet.partial").exists()


def test_streamed_top_k_of_a_run(tmp_path, tiny_fitted_run):
    out = tmp_path / "recs.parquet"
    rows = recommend_all_to_parquet(tiny_fitted_run, out, k=3, device="auto")
    expected = recommend_all(tiny_fitted_run, k=3)[COLUMNS]
    assert rows == 3 * tiny_fitted_run.seqs.n_users
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected, check_exact=False, rtol=1e-6)
    assert next(tiny_fitted_run.model.parameters()).device.type == "cpu"  # a GPU gets a copy, the run keeps its own


def test_streamed_top_k_refuses_bad_arguments_and_writes_nothing(tmp_path, tiny_model, tiny_seqs):
    seqs, _ = tiny_seqs
    with pytest.raises(LTSIError, match="k must be at least 1"):
        recommend_all_to_parquet(tiny_model, tmp_path / "recs.parquet", k=0, seqs=seqs)
    with pytest.raises(LTSIError, match="is a folder"):
        recommend_all_to_parquet(tiny_model, tmp_path, seqs=seqs)
    with pytest.raises(LTSIError, match="does not exist"):
        recommend_all_to_parquet(tiny_model, tmp_path / "missing" / "recs.parquet", seqs=seqs)
    with pytest.raises(LTSIError, match="chunk_users must be at least 1"):
        recommend_all_to_parquet(tiny_model, tmp_path / "recs.parquet", chunk_users=0, seqs=seqs)
    assert list(tmp_path.iterdir()) == []

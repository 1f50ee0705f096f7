"""ltsi.warehouse.scan: the same sequences and report as the in-memory path, from folders, globs and queries."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ltsi.errors import LTSIError
from ltsi.event_log import (
    REASON_BAD_TIME,
    REASON_DUPLICATE,
    REASON_NO_ITEM,
    REASON_NO_TIME,
    REASON_NO_USER,
    REASON_TIME_RANGE,
    reason_few_events,
)
from ltsi.events import load_events
from ltsi.filters import EventFilter, apply_filters, reason_after, reason_before, reason_event_type
from ltsi.sequences import Sequences, build_sequences
from ltsi.synth import generate
from ltsi.warehouse import needs_scan, reason_not_sampled, scan


@pytest.fixture(scope="module")
def log_events() -> pd.DataFrame:
    """About 900 events of 60 users, with ties in time broken by file order."""
    return generate(n_users=60, n_items=90, n_categories=4, mean_events=15, seed=3).events


@pytest.fixture(scope="module")
def parquet_log(tmp_path_factory, log_events):
    """The log as one Parquet file and as a hive-partitioned folder of three parts (by event type)."""
    root = tmp_path_factory.mktemp("warehouse")
    log_events.to_parquet(root / "all.parquet", index=False)
    for kind, part in log_events.groupby("event", observed=True):
        folder = root / "folder" / f"kind={kind}"
        folder.mkdir(parents=True)
        part.to_parquet(folder / "part.parquet", index=False)
    return root


def per_user(seqs: Sequences) -> dict[str, tuple[list[str], list[int], list[str]]]:
    """Each user's item ids, times and event types, in order: independent of any numbering."""
    out = {}
    for u, user in enumerate(seqs.users):
        s = slice(seqs.offsets[u], seqs.offsets[u + 1])
        out[user] = (
            seqs.items.decode(seqs.item_ids[s]),
            seqs.timestamps[s].tolist(),
            seqs.event_types.decode(seqs.event_ids[s]),
        )
    return out


def same_sequences(a: Sequences, b: Sequences) -> None:
    assert per_user(a) == per_user(b)
    assert np.array_equal(a.gap_ids, b.gap_ids)
    assert a.items.tokens == b.items.tokens  # scan numbers items as build_sequences does (popularity, then id)


def test_folder_scan_gives_the_in_memory_sequences(parquet_log):
    log = load_events(str(parquet_log / "all.parquet"), min_events=3)
    expected = build_sequences(log.events)
    result = scan(str(parquet_log / "folder"), min_events=3)
    same_sequences(result.seqs, expected)
    assert result.report.rows_read == log.report.rows_read
    assert result.report.rows_kept == log.report.rows_kept == result.seqs.n_events
    assert result.report.dropped == log.report.dropped
    assert result.report.event_counts == log.report.event_counts
    assert (result.report.time_min, result.report.time_max) == (log.report.time_min, log.report.time_max)


def test_glob_and_csv_folder_read_like_the_file(parquet_log, log_events, tmp_path):
    expected = build_sequences(load_events(str(parquet_log / "all.parquet")).events)
    same_sequences(scan(str(parquet_log / "folder" / "*" / "*.parquet")).seqs, expected)
    # Two CSV files with a header row, written with ISO times: the second file continues the first.
    half = len(log_events) // 2
    frame = log_events.assign(timestamp=log_events["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame.iloc[:half].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[half:].to_csv(tmp_path / "b.csv", index=False)
    result = scan(str(tmp_path))
    same_sequences(result.seqs, expected)
    assert (result.report.file_format, result.report.delimiter, result.report.has_header) == ("csv", ",", True)


def dirty_frame() -> pd.DataFrame:
    """Rows with one problem each (the row numbers of the file are 1-based)."""
    rows = [
        ("u1", "a", "2020-01-01T00:00:00Z", "view"),  # 1 kept
        ("u1", "b", "2020-01-02T00:00:00Z", "view"),  # 2 kept
        ("u1", "b", "2020-01-02T00:00:00Z", "view"),  # 3 exact duplicate of row 2
        (None, "c", "2020-01-03T00:00:00Z", "view"),  # 4 no user
        ("u2", None, "2020-01-03T00:00:00Z", "view"),  # 5 no item
        ("u2", "c", None, "view"),  # 6 no time
        ("u2", "c", "not a date", "view"),  # 7 unreadable time
        ("u2", "c", "1850-06-01T00:00:00Z", "view"),  # 8 before 1900
        ("u3", "a", "2020-01-05T00:00:00Z", "buy"),  # 9 u3 has one event: below min_events=2
        ("u2", "a", "2020-01-04T00:00:00Z", "buy"),  # 10 kept
        ("u2", "c", "2020-01-06T00:00:00Z", "view"),  # 11 kept
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event"])


def test_report_counts_each_reason_as_load_events(tmp_path):
    path = tmp_path / "dirty.parquet"
    dirty_frame().to_parquet(path, index=False)
    report = scan(str(path), min_events=2).report
    assert report.dropped == {
        REASON_NO_USER: 1,
        REASON_NO_ITEM: 1,
        REASON_NO_TIME: 1,
        REASON_BAD_TIME: 1,
        REASON_TIME_RANGE: 1,
        REASON_DUPLICATE: 1,
        reason_few_events(2): 1,
    }
    assert (report.rows_read, report.rows_kept, report.n_users, report.n_items) == (11, 4, 2, 3)
    assert report.examples[REASON_BAD_TIME] == [
        {"row": 7, "user_id": "u2", "item_id": "c", "timestamp": "not a date", "event": "view"}
    ]
    assert report.examples[REASON_NO_USER][0]["row"] == 4
    assert report.examples[REASON_DUPLICATE][0]["item_id"] == "b"
    assert report.examples[reason_few_events(2)][0]["user_id"] == "u3"
    assert report.dropped == load_events(str(path), min_events=2).report.dropped  # the same meaning


def test_sql_source_reads_the_files_as_events(parquet_log):
    log = load_events(str(parquet_log / "all.parquet"))
    no_views = log.events[log.events["event"] != "view"]
    result = scan(str(parquet_log / "folder"), sql="SELECT * FROM events WHERE event <> 'view'")
    assert result.report.file_format == "query over parquet files"
    assert result.seqs.n_events == len(no_views) > 0
    assert set(result.seqs.event_types.tokens[1:]) == {"cart", "purchase"}
    assert result.seqs.users == tuple(sorted(no_views["user_id"].unique()))


def test_filters_are_counted_as_apply_filters_counts_them(parquet_log):
    log = load_events(str(parquet_log / "all.parquet"))
    days = sorted(log.events["timestamp"].dt.date.unique())
    start, end = days[5], days[-6]
    filters = EventFilter(start=start, end=end, event_types=("cart", "view"))
    expected = apply_filters(log, filters)
    result = scan(str(parquet_log / "folder"), filters=filters)
    reasons = [reason_before(start), reason_after(end), reason_event_type(["purchase"])]
    assert all(expected.report.dropped[r] > 0 for r in reasons)
    assert {r: result.report.dropped[r] for r in reasons} == {r: expected.report.dropped[r] for r in reasons}
    same_sequences(result.seqs, build_sequences(expected.events))
    assert result.report.filter_note.startswith(f"Filters removed {sum(expected.report.dropped.values()):,} events")
    with pytest.raises(LTSIError, match="no event type 'click'"):
        scan(str(parquet_log / "folder"), filters=EventFilter(event_types=("click",)))


def test_user_sample_is_the_same_every_time(parquet_log, log_events):
    folder = str(parquet_log / "folder")
    first = scan(folder, sample_users=20)
    again = scan(folder, sample_users=20)
    smaller = scan(folder, sample_users=10)
    other_seed = scan(folder, sample_users=20, seed=1)
    assert first.seqs.n_users == 20 and first.seqs.users == again.seqs.users
    assert set(smaller.seqs.users) < set(first.seqs.users)  # a smaller sample is part of a larger one
    assert other_seed.seqs.users != first.seqs.users
    in_sample = log_events["user_id"].isin(first.seqs.users)
    assert first.report.dropped == {reason_not_sampled(20): int((~in_sample).sum())}
    assert first.seqs.n_events == int(in_sample.sum())
    assert per_user(first.seqs) == {u: v for u, v in per_user(scan(folder).seqs).items() if u in first.seqs.users}


def test_unusable_sources_are_explained(tmp_path):
    assert needs_scan(str(tmp_path)) and needs_scan(str(tmp_path / "*.csv"))
    assert not needs_scan(str(tmp_path / "events.csv"))
    with pytest.raises(LTSIError, match="No file matches"):
        scan(str(tmp_path / "*.parquet"))
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(LTSIError, match="has no Parquet or CSV files"):
        scan(str(tmp_path))
    pd.DataFrame({"user_id": ["u1"], "item_id": ["a"], "timestamp": [dt.datetime(2020, 1, 1)]}).to_parquet(
        tmp_path / "one.parquet", index=False
    )
    with pytest.raises(LTSIError, match="No usable rows"):
        scan(str(tmp_path / "one.parquet"), min_events=2)

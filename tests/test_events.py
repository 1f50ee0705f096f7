"""ltsi.events: formats, delimiters, header styles, timestamp units, drop reasons, errors."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ltsi.columns import ColumnMapping, detect_columns
from ltsi.errors import LTSIError
from ltsi.event_log import (
    REASON_BAD_TIME,
    REASON_DUPLICATE,
    REASON_NO_ITEM,
    REASON_NO_TIME,
    REASON_NO_USER,
    REASON_TIME_RANGE,
    EventLog,
    ValidationReport,
    reason_few_events,
)
from ltsi.events import load_events
from ltsi.items import load_items, looks_like_item_table
from ltsi.readers import REASON_BAD_JSON, REASON_MALFORMED, ReadInfo, read_table
from ltsi.times import UNIT_RELATIVE

ROOT = Path(__file__).resolve().parents[1]
ML100K = ROOT / "data" / "ml-100k"

SIMPLE = b"user,item,timestamp\nu1,i1,1600000000\nu1,i2,1600000060\nu2,i1,1600000120\n"
T0 = pd.Timestamp("2020-09-13 12:26:40", tz="UTC")  # 1600000000 s


def load(data: bytes | str, **kw):
    return load_events(data.encode() if isinstance(data, str) else data, **kw)


def triples(log: EventLog) -> list[tuple[str, str]]:
    return list(zip(log.events["user_id"], log.events["item_id"]))


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Canonical table


def test_canonical_columns_and_dtypes():
    log = load(SIMPLE)
    ev = log.events
    assert list(ev.columns) == ["user_id", "item_id", "timestamp", "event", "value"]
    assert pd.api.types.is_string_dtype(ev["user_id"]) and pd.api.types.is_string_dtype(ev["item_id"])
    assert str(ev["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(ev["event"].dtype, pd.CategoricalDtype)
    assert list(ev["event"]) == ["interaction"] * 3
    assert ev["value"].dtype == np.float64 and ev["value"].isna().all()
    assert ev["timestamp"].iloc[0] == T0
    assert isinstance(log.report, ValidationReport) and isinstance(log.report.mapping, ColumnMapping)


def test_sorted_by_user_then_time_stable_on_ties():
    data = (
        "user,item,timestamp\n"
        "b,x1,1600000100\n"
        "a,y3,1600000200\n"
        "a,y1,1600000100\n"  # tie with the next row: file order must be kept
        "a,y2,1600000100\n"
        "b,x0,1600000000\n"
        "a,y0,1600000000\n"
    )
    log = load(data)
    assert triples(log) == [("a", "y0"), ("a", "y1"), ("a", "y2"), ("a", "y3"), ("b", "x0"), ("b", "x1")]
    assert log.events.index.equals(pd.RangeIndex(6))


# --------------------------------------------------------------------------------------------
# Exact numbers on a hand-made file with every drop reason

MESSY = (
    "user,item,timestamp,rating\n"  # line 1
    "u1,i1,1600000000,5\n"  # 2 kept
    "u1,i2,1600000000,4\n"  # 3 kept (tie with line 2, stays after it)
    ",i3,1600000001,3\n"  # 4 missing user
    "u2,,1600000002,3\n"  # 5 missing item
    "u2,i4,,3\n"  # 6 missing time
    "u2,i5,notatime,3\n"  # 7 unreadable time
    "u2,i6,5,3\n"  # 8 out of range (1970 in seconds)
    "u1,i1,1600000000,5\n"  # 9 duplicate of line 2
    "u3,i7,1600000003,abc\n"  # 10 kept, value blanked
    "u3,i8,1599999999\n"  # 11 malformed (3 fields)
    "u0,i9,1600000005,1\n"  # 12 kept
    "u1,i0,1599999000,2\n"  # 13 kept, earliest of u1
    "u1,i1,1600000000,4\n"  # 14 kept: differs from line 2 in value only
)


def test_messy_counts_examples_and_kept_values():
    log = load(MESSY)
    r = log.report
    assert r.rows_read == 13
    assert r.rows_kept == 6
    assert r.dropped == {
        REASON_MALFORMED: 1,
        REASON_NO_USER: 1,
        REASON_NO_ITEM: 1,
        REASON_NO_TIME: 1,
        REASON_BAD_TIME: 1,
        REASON_TIME_RANGE: 1,
        REASON_DUPLICATE: 1,
    }
    assert r.rows_read == r.rows_kept + sum(r.dropped.values())
    rows = {reason: [e["row"] for e in ex] for reason, ex in r.examples.items()}
    assert rows == {
        REASON_MALFORMED: [11],
        REASON_NO_USER: [4],
        REASON_NO_ITEM: [5],
        REASON_NO_TIME: [6],
        REASON_BAD_TIME: [7],
        REASON_TIME_RANGE: [8],
        REASON_DUPLICATE: [9],
    }
    assert r.examples[REASON_BAD_TIME][0]["timestamp"] == "notatime"
    assert r.examples[REASON_MALFORMED][0]["text"] == "u3,i8,1599999999"
    assert triples(log) == [("u0", "i9"), ("u1", "i0"), ("u1", "i1"), ("u1", "i2"), ("u1", "i1"), ("u3", "i7")]
    values = log.events["value"].tolist()
    assert values[:5] == [1.0, 2.0, 5.0, 4.0, 4.0] and np.isnan(values[5])
    assert any("1 values in 'rating' could not be read as numbers" in n for n in r.notes)
    assert r.n_users == 3 and r.n_items == 5
    assert r.timestamp_unit == "s"
    assert r.time_min == pd.Timestamp(1599999000, unit="s", tz="UTC")
    assert r.time_max == pd.Timestamp(1600000005, unit="s", tz="UTC")


def test_min_events_drops_small_users():
    log = load(MESSY, min_events=2)
    assert log.report.dropped[reason_few_events(2)] == 2  # u0 and u3 have one event each
    assert set(log.events["user_id"]) == {"u1"}
    assert log.report.rows_kept == 4


def test_line_numbers_survive_blank_and_bad_lines():
    data = "user,item,timestamp\nu1,i1,1600000000\n\nu1,i2\n\nu1,,1600000001\n"
    r = load(data).report
    assert r.examples[REASON_MALFORMED][0]["row"] == 4
    assert r.examples[REASON_NO_ITEM][0]["row"] == 6
    assert r.rows_read == 3 and r.rows_kept == 1
    assert "2 empty lines were skipped." in r.notes


def test_examples_capped_at_five():
    lines = ["user,item,timestamp"] + [f"u{i},,1600000000" for i in range(12)]
    lines.append("u1,i1,1600000000")
    r = load("\n".join(lines)).report
    assert r.dropped[REASON_NO_ITEM] == 12
    assert [e["row"] for e in r.examples[REASON_NO_ITEM]] == [2, 3, 4, 5, 6]


def test_event_column_and_blank_events():
    data = (
        "user,item,timestamp,event_type\nu1,i1,1600000000,view\nu1,i2,1600000001,\n"
        "u1,i3,1600000002,purchase\nu2,i1,1600000003,view\n"
    )
    log = load(data)
    assert log.report.event_counts == {"view": 2, "purchase": 1, "unknown": 1}
    assert set(log.events["event"].cat.categories) == {"view", "purchase", "unknown"}
    assert any("no event type" in n for n in log.report.notes)


def test_whitespace_around_ids_is_removed():
    log = load("user,item,timestamp\n u1 ,i1 ,1600000000\nu1,  ,1600000001\n")
    assert triples(log) == [("u1", "i1")]
    assert log.report.dropped == {REASON_NO_ITEM: 1}


def test_decimal_comma_values():
    log = load("user;item;rating;timestamp\nu1;i1;4,5;1600000000\nu1;i2;3;1600000001\n")
    assert log.events["value"].tolist() == [4.5, 3.0]


# --------------------------------------------------------------------------------------------
# Formats and delimiters


@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiters(delim):
    data = SIMPLE.decode().replace(",", delim)
    log = load(data)
    assert log.report.delimiter == delim
    assert triples(log) == [("u1", "i1"), ("u1", "i2"), ("u2", "i1")]


def test_quoted_fields_with_delimiters_inside():
    data = 'user,item,timestamp\n"u,1","item ""a""",1600000000\n"u,1",b,1600000001\n'
    log = load(data)
    assert triples(log) == [("u,1", 'item "a"'), ("u,1", "b")]


def test_tsv_from_path_and_crlf(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_bytes(b"user_id\titem_id\ttimestamp\r\nu1\ti1\t1600000000\r\nu2\ti2\t1600000001\r\n")
    log = load_events(path)
    assert log.report.file_format == "tsv" and log.report.delimiter == "\t"
    assert triples(log) == [("u1", "i1"), ("u2", "i2")]
    assert log.report.source == str(path)
    assert load_events(str(path)).events.equals(log.events)


def test_bytes_path_and_filelike_give_the_same_table(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(SIMPLE)
    a = load_events(SIMPLE).events
    assert load_events(path).events.equals(a)
    assert load_events(io.BytesIO(SIMPLE), name="a.csv").events.equals(a)


def test_dataframe_input():
    frame = pd.DataFrame(
        {"userId": [1, 1, 2], "movieId": [10, 11, 10], "timestamp": [1600000000, 1600000001, 1600000002]}
    )
    log = load_events(frame)
    assert triples(log) == [("1", "10"), ("1", "11"), ("2", "10")]
    assert log.report.file_format == "dataframe"


def test_parquet_round_trip_with_native_datetimes():
    times = pd.to_datetime(["2020-01-01 10:00", "2020-01-01 11:00", "2020-01-02 00:00"]).tz_localize("Europe/Paris")
    table = pa.table(
        {"user_id": [1, 1, 2], "product_id": ["a", "b", "a"], "event_time": pa.array(times), "price": [1.5, 2.0, None]}
    )
    log = load(parquet_bytes(table))
    r = log.report
    assert r.file_format == "parquet" and r.delimiter is None
    assert r.timestamp_unit == "datetime (stored as dates)"
    assert log.events["timestamp"].iloc[0] == pd.Timestamp("2020-01-01 09:00", tz="UTC")
    assert triples(log) == [("1", "a"), ("1", "b"), ("2", "a")]
    assert log.events["value"].tolist()[:2] == [1.5, 2.0]


def test_parquet_epoch_ms_and_float_ids_with_gaps():
    table = pa.table(
        {"visitorid": [1.0, None, 2.0], "itemid": [5, 6, 7], "timestamp": [1433221332117, 1433221332118, 1433221332119]}
    )
    log = load(parquet_bytes(table))
    assert triples(log) == [("1", "5"), ("2", "7")]
    assert log.report.timestamp_unit == "ms"
    assert log.report.dropped == {REASON_NO_USER: 1}


def test_parquet_naive_datetimes_taken_as_utc():
    table = pa.table({"user": ["a"], "item": ["b"], "ts": pa.array([pd.Timestamp("2021-05-01 12:00")])})
    log = load(parquet_bytes(table))
    assert log.events["timestamp"].iloc[0] == pd.Timestamp("2021-05-01 12:00", tz="UTC")
    assert any("taken as UTC" in n for n in log.report.notes)


def test_json_lines_and_json_array():
    rows = [
        {"reviewerID": "A1", "asin": "B1", "overall": 5.0, "unixReviewTime": 1388534400},
        {"reviewerID": "A2", "asin": "B1", "overall": 3.0, "unixReviewTime": 1388620800},
    ]
    jsonl = "\n".join(json.dumps(r) for r in rows) + "\n"
    log = load(jsonl)
    assert log.report.file_format == "jsonl"
    assert triples(log) == [("A1", "B1"), ("A2", "B1")]
    assert log.events["value"].tolist() == [5.0, 3.0]
    log2 = load(json.dumps(rows))
    assert log2.report.file_format == "json" and triples(log2) == triples(log)


def test_json_lines_with_broken_lines_are_counted():
    good = json.dumps({"user": "u", "item": "i", "ts": 1600000000})
    data = f"{good}\n{{broken\n{good.replace('1600000000', '1600000001')}\n"
    r = load(data).report
    assert r.dropped == {REASON_BAD_JSON: 1} and r.rows_kept == 2
    assert r.examples[REASON_BAD_JSON][0]["row"] == 2


def test_gzip_bz2_xz_by_magic_bytes_not_extension():
    for pack, label in ((gzip.compress, "gzip"), (bz2.compress, "bz2"), (lzma.compress, "xz")):
        log = load_events(pack(SIMPLE), name="events.csv")  # misleading name on purpose
        assert log.report.file_format == f"csv ({label})"
        assert log.report.rows_kept == 3


def test_zip_picks_the_ratings_file_and_says_so():
    dat = "1::1193::5::978300760\n1::661::3::978302109\n".encode()
    archive = zipped(
        {"ml-1m/README": b"readme text " * 100, "ml-1m/movies.dat": b"1::Toy::A\n", "ml-1m/ratings.dat": dat}
    )
    log = load(archive)
    assert log.report.file_format == "movielens-dat (zip: ml-1m/ratings.dat)"
    assert log.report.rows_kept == 2
    assert any("holds 3 files" in n for n in log.report.notes)


def test_gzip_inside_zip_and_parquet_inside_gzip():
    log = load(zipped({"events.csv.gz": gzip.compress(SIMPLE)}))
    assert log.report.file_format == "csv (zip: events.csv.gz, gzip)"
    table = pa.table({"user": ["a", "b"], "item": ["x", "y"], "ts": [1600000000, 1600000001]})
    assert load(gzip.compress(parquet_bytes(table))).report.file_format == "parquet (gzip)"


def test_utf8_bom_header_is_recognised():
    log = load(b"\xef\xbb\xbfuserId,movieId,rating,timestamp\n1,2,3.5,1600000000\n")
    assert log.report.encoding == "utf-8 with BOM"
    assert log.report.mapping.user == "userId"


def test_latin1_fallback_is_reported():
    data = "user,item,timestamp\nJosé,Misérables,1600000000\n".encode("latin-1")
    log = load(data)
    assert log.report.encoding == "latin-1"
    assert triples(log) == [("José", "Misérables")]
    assert any("not valid UTF-8" in n and "latin-1" in n for n in log.report.notes)


def test_cp1252_when_windows_quotes_occur():
    data = "user,item,timestamp\nu1,Don\u2019t Stop,1600000000\n".encode("cp1252")
    log = load(data)
    assert log.report.encoding == "cp1252"
    assert log.events["item_id"].iloc[0] == "Don\u2019t Stop"


CYRILLIC = [
    ("Иван Петров", "Война и мир"),
    ("Мария Иванова", "Мастер и Маргарита"),
    ("Иван Петров", "Преступление и наказание"),
]
CHINESE = [("张伟", "红楼梦"), ("李娜", "西游记"), ("张伟", "三国演义")]


def csv_of(pairs: list[tuple[str, str]]) -> str:
    return "user,item,timestamp\n" + "".join(f"{u},{i},{1600000000 + 60 * k}\n" for k, (u, i) in enumerate(pairs))


@pytest.mark.parametrize(
    "pairs, encoding, label, script",
    [
        (CYRILLIC, "cp1251", "cp1251", "Cyrillic"),
        (CHINESE, "gbk", "gb18030", "Chinese"),  # GB18030 is the superset of GBK that Python decodes
    ],
)
def test_legacy_non_western_encoding_is_recognised(pairs, encoding, label, script):
    log = load(csv_of(pairs).encode(encoding))
    assert triples(log) == sorted(pairs, key=lambda p: p[0])  # sorted by user, then time
    assert log.report.encoding == label
    assert any("not valid UTF-8" in n and f"{label} ({script})" in n for n in log.report.notes)
    assert f"(csv, {label}, delimiter ',', header row)" in log.report.to_text()


def test_cyrillic_items_among_ascii_columns():
    rows = "".join(f"customer_{k},Книга {k % 4},{1600000000 + k},SKU-{k:05d}-AB\n" for k in range(40))
    log = load(("user,item,timestamp,sku\n" + rows).encode("cp1251"))
    assert log.report.encoding == "cp1251"
    assert set(log.events["item_id"]) == {f"Книга {k}" for k in range(4)}


def test_utf16_excel_unicode_text():
    data = "user\titem\ttimestamp\nu1\ti1\t1600000000\n".encode("utf-16")
    log = load(data)
    assert log.report.encoding == "utf-16" and triples(log) == [("u1", "i1")]


def test_unpaired_quote_does_not_swallow_lines():
    data = 'user,item,timestamp\nu1,"Weird Al" Yankovic,1600000000\nu2,"x,1600000001\nu3,y,1600000002\n'
    log = load(data)
    assert log.report.rows_kept == 3
    assert log.events["item_id"].tolist() == ['"Weird Al" Yankovic', '"x', "y"]
    assert any("Quote marks do not pair up" in n for n in log.report.notes)


def test_quoted_line_breaks_are_kept():
    log = load('user,item,timestamp\nu1,"two\nlines",1600000000\nu2,b,1600000001\n')
    assert log.events["item_id"].tolist() == ["two\nlines", "b"]
    assert not any("Quote" in n for n in log.report.notes)


def test_whitespace_only_line_is_blank_not_malformed():
    r = load("user,item,timestamp\nu1,a,1600000000\n   \nu1,b,1600000001\n").report
    assert not r.dropped and r.rows_kept == 2
    assert "1 empty line was skipped." in r.notes


def test_dat_malformed_line_example_shows_the_original_text():
    r = load("1::10::5::978300760\n1::11\n2::10::3::978300761\n").report
    assert r.dropped == {REASON_MALFORMED: 1}
    assert r.examples[REASON_MALFORMED][0] == {"row": 2, "text": "1::11", "fields": 2, "expected": 4}


def test_json_line_that_is_not_an_object():
    good = json.dumps({"user": "u", "item": "i", "ts": 1600000000})
    r = load(f"{good}\n8\n").report
    assert r.dropped == {REASON_BAD_JSON: 1} and r.rows_kept == 1


def test_read_table_info():
    frame, info = read_table(b"1::10::5::978300760\n1::11\n")
    assert info["file_format"] == "movielens-dat" and info["delimiter"] == "::"
    assert info["has_header"] is False and info["malformed"] == 1
    assert list(frame.columns) == ["column_1", "column_2", "column_3", "column_4"]
    assert frame.iloc[0].tolist() == ["1", "10", "5", "978300760"]  # text, converted later
    assert info["lines"].tolist() == [1]


def test_read_table_reports_what_it_found_in_a_read_info():
    frame, info = read_table(gzip.compress(b"user;item;ts\nu1;i1;1600000000\nu2\n"), name="log.txt")
    assert isinstance(info, ReadInfo) and info.source == "log.txt"
    assert (info.format, info.compression, info.file_format) == ("csv", ["gzip"], "csv (gzip)")
    assert (info.encoding, info.delimiter, info.has_header) == ("utf-8", ";", True)
    assert (info.rows_read, info.malformed, info.malformed_reason) == (2, 1, REASON_MALFORMED)
    assert info.lines.tolist() == [2] and len(frame) == 1
    assert info["file_format"] == info.file_format  # still readable like the old info dict
    with pytest.raises(KeyError):
        info["nope"]


def test_reading_modules_do_not_import_events():
    """The stage's modules form a chain, no cycle:
    sources, times -> column_names -> column_content -> columns -> readers -> events."""
    import ast

    for module in ("sources", "times", "column_names", "column_content", "columns", "readers"):
        tree = ast.parse((ROOT / "ltsi" / f"{module}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "ltsi.events" not in imported, module


def test_trailing_delimiter_on_every_line():
    log = load("user,item,timestamp,\nu1,i1,1600000000,\nu2,i2,1600000001,\n")
    assert log.report.rows_kept == 2 and not log.report.dropped


# --------------------------------------------------------------------------------------------
# Timestamps


@pytest.mark.parametrize("unit,scale", [("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)])
def test_epoch_unit_inference(unit, scale):
    data = f"user,item,timestamp\nu1,i1,{1600000000 * scale}\nu1,i2,{1600000060 * scale}\n"
    log = load(data)
    assert log.report.timestamp_unit == unit
    assert log.events["timestamp"].iloc[0] == T0
    assert log.events["timestamp"].iloc[1] == T0 + pd.Timedelta(seconds=60)


def test_epoch_ms_never_read_as_seconds():
    log = load("user,item,timestamp\nu1,i1,1433221332117\n")
    assert log.events["timestamp"].iloc[0].year == 2015


def test_nanoseconds_keep_full_precision():
    log = load("user,item,timestamp\nu1,i1,1600000000123456789\n")
    assert log.events["timestamp"].iloc[0].value == 1600000000123456789


def test_fractional_seconds():
    log = load("user,item,timestamp\nu1,i1,1600000000.5\nu1,i2,x\n")
    assert log.events["timestamp"].iloc[0] == T0 + pd.Timedelta(milliseconds=500)
    assert log.report.dropped == {REASON_BAD_TIME: 1}


def test_relative_clock_small_numbers():
    log = load("session,item,time\ns1,a,0\ns1,b,12.5\ns2,a,3600\n")
    assert log.report.timestamp_unit == UNIT_RELATIVE
    assert log.events["timestamp"].iloc[1] == pd.Timestamp(12.5, unit="s", tz="UTC")
    assert any("arbitrary start" in n for n in log.report.notes)


def test_values_outside_the_unit_range_are_dropped():
    data = "user,item,timestamp\n" + "".join(f"u,i{i},{1600000000000 + i}\n" for i in range(5))
    data += "u,j,1600000000\nu,k,-5\n"  # seconds among milliseconds, and a negative
    r = load(data).report
    assert r.timestamp_unit == "ms"
    assert r.dropped == {REASON_TIME_RANGE: 2}


def test_iso_with_zones_converted_to_utc():
    data = "user,item,time\nu,a,2014-04-07T10:51:09.277Z\nu,b,2014-04-07T12:51:09+02:00\nu,c,2014-04-07 11:00:00\n"
    log = load(data)
    ts = dict(zip(log.events["item_id"], log.events["timestamp"]))
    assert ts["a"] == pd.Timestamp("2014-04-07 10:51:09.277", tz="UTC")
    assert ts["b"] == pd.Timestamp("2014-04-07 10:51:09", tz="UTC")
    assert list(log.events["item_id"]) == ["b", "a", "c"]
    assert log.report.timestamp_unit == "datetime (ISO strings)"
    assert any("Some times had no time zone" in n for n in log.report.notes)


def test_dayfirst_inferred_from_a_day_above_12():
    log = load("user,item,date\nu,a,02/01/2024 10:00\nu,b,13/01/2024 09:00\n")
    assert log.report.timestamp_unit == "datetime (day-first strings)"
    assert log.events["timestamp"].iloc[0] == pd.Timestamp("2024-01-02 10:00", tz="UTC")
    assert any("day-first" in n and "13/01/2024" in n for n in log.report.notes)


def test_monthfirst_inferred_from_a_second_number_above_12():
    log = load("user,item,date\nu,a,02/01/2024\nu,b,01/13/2024\n")
    assert log.report.timestamp_unit == "datetime (month-first strings)"
    ts = dict(zip(log.events["item_id"], log.events["timestamp"]))
    assert ts == {"a": pd.Timestamp("2024-02-01", tz="UTC"), "b": pd.Timestamp("2024-01-13", tz="UTC")}


def test_ambiguous_dates_are_month_first_and_said_so_unless_overridden():
    data = "user,item,date\nu,a,02/01/2026\nu,b,03/01/2026\n"
    log = load(data)
    assert log.events["timestamp"].iloc[0] == pd.Timestamp("2026-02-01", tz="UTC")
    assert any("could be day-first or month-first" in n for n in log.report.notes)
    log = load(data, dayfirst=True)
    assert log.events["timestamp"].iloc[0] == pd.Timestamp("2026-01-02", tz="UTC")
    assert log.report.timestamp_unit == "datetime (day-first strings)"
    assert any("as requested" in n for n in log.report.notes)


def test_dotted_dates_are_day_first():
    log = load("user,item,date\nu,a,02.01.2026\n")
    assert log.events["timestamp"].iloc[0] == pd.Timestamp("2026-01-02", tz="UTC")


def test_compact_yyyymmdd_dates():
    log = load("user,item,date\nu,a,20200131\nu,b,20200201\n")
    assert log.events["timestamp"].iloc[0] == pd.Timestamp("2020-01-31", tz="UTC")
    assert "YYYYMMDD" in log.report.timestamp_unit


def test_text_dates_out_of_range_and_garbage():
    r = load("user,item,date\nu,a,2020-01-01\nu,b,1850-01-01\nu,c,soon\nu,d,224-01-02\nu,e,9999-12-31\n").report
    assert r.dropped == {REASON_TIME_RANGE: 3, REASON_BAD_TIME: 1}


def test_year_first_text_is_never_read_day_first():
    log = load("user,item,date\nu,a,25/12/2014\nu,b,2014/01/02 10:00\nu,c,Apr 7 2014\n")
    ts = dict(zip(log.events["item_id"], log.events["timestamp"]))
    assert ts["b"] == pd.Timestamp("2014-01-02 10:00", tz="UTC")
    assert ts["a"] == pd.Timestamp("2014-12-25", tz="UTC")
    assert ts["c"] == pd.Timestamp("2014-04-07", tz="UTC")


# --------------------------------------------------------------------------------------------
# Real-world header styles (built inline)

HEADER_STYLES = {
    "movielens-100k-csv": (
        "user_id,item_id,rating,timestamp\n196,242,3,881250949\n186,302,3,891717742\n",
        {},
        dict(user="user_id", item="item_id", timestamp="timestamp", value="rating"),
        True,
        "s",
    ),
    "movielens-latest-csv": (
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n",
        {},
        dict(user="userId", item="movieId", timestamp="timestamp", value="rating"),
        True,
        "s",
    ),
    "movielens-1m-dat": (
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n",
        {},
        dict(user="column_1", item="column_2", timestamp="column_4", value="column_3"),
        False,
        "s",
    ),
    "movielens-100k-u.data": (
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n",
        {},
        dict(user="column_1", item="column_2", timestamp="column_4", value="column_3"),
        False,
        "s",
    ),
    "retailrocket": (
        "timestamp,visitorid,event,itemid,transactionid\n1433221332117,257597,view,355908,\n"
        "1433224214164,992329,view,248676,\n1433221955914,483717,transaction,253185,4000\n",
        {},
        dict(user="visitorid", item="itemid", timestamp="timestamp", event="event"),
        True,
        "ms",
    ),
    "taobao-no-header": (
        "1,2268318,2520377,pv,1511544070\n1,2333346,2520771,pv,1511561733\n"
        "1,2576651,149192,pv,1511572885\n100,4365585,2520377,buy,1511596146\n",
        {},
        dict(user="column_1", item="column_2", timestamp="column_5", event="column_4"),
        False,
        "s",
    ),
    "amazon-reviews": (
        "reviewerID,asin,overall,unixReviewTime\nA2SUAM1J3GNN3B,0000013714,5.0,1393545600\n"
        "A14VAT5EAX3D9S,0000013714,4.0,1363392000\n",
        {},
        dict(user="reviewerID", item="asin", timestamp="unixReviewTime", value="overall"),
        True,
        "s",
    ),
    "yoochoose-clicks": (
        "session,timestamp,item,category\n1,2014-04-07T10:51:09.277Z,214536502,0\n"
        "1,2014-04-07T10:54:09.868Z,214536500,0\n2,2014-04-07T13:56:37.614Z,214662742,S\n",
        {},
        dict(user="session", item="item", timestamp="timestamp"),
        True,
        "datetime (ISO strings)",
    ),
    "yoochoose-clicks-no-header": (
        "1,2014-04-07T10:51:09.277Z,214536502,0\n1,2014-04-07T10:54:09.868Z,214536500,0\n"
        "2,2014-04-07T13:56:37.614Z,214662742,S\n",
        {},
        dict(user="column_1", item="column_3", timestamp="column_2"),
        False,
        "datetime (ISO strings)",
    ),
    "lastfm-listens": (
        "userid\ttimestamp\tartist_id\tartist_name\ttrack_id\ttrack_name\n"
        "user_000001\t2009-05-04T23:08:57Z\tf1b1cf71-bd35-4e99-8624-24a6e15f133a\tDeep Dish\t\t"
        "Fuck Me Im Famous (Pacha Ibiza)-09-28-2007\n"
        "user_000001\t2009-05-04T13:54:10Z\ta7f7df4a-77d8-4f12-8acd-5c60c93f4de8\t坂本龍一\t\t"
        "Composition 0919 (Live_2009_4_15)\n"
        "user_000002\t2009-05-04T13:52:04Z\ta7f7df4a-77d8-4f12-8acd-5c60c93f4de8\t坂本龍一\t"
        "f7c1f8f8-b935-45ed-8fc8-7def69d92a10\tMc2 (Live_2009_4_15)\n",
        {},
        dict(user="userid", item="track_name", timestamp="timestamp"),
        True,
        "datetime (ISO strings)",
    ),
    "spanish-explicit": (
        "usuario,producto,fecha\nana,libro,2024-03-01 10:00\nluis,lapiz,2024-03-02 11:30\n",
        {"user": "usuario", "item": "producto", "timestamp": "fecha"},
        dict(user="usuario", item="producto", timestamp="fecha"),
        True,
        "datetime (ISO strings)",
    ),
    "chinese-explicit": (
        "用户,商品,时间,行为\n张三,苹果,1700000000,浏览\n李四,香蕉,1700000100,购买\n",
        {"user": "用户", "item": "商品", "timestamp": "时间", "event": "行为"},
        dict(user="用户", item="商品", timestamp="时间", event="行为"),
        True,
        "s",
    ),
}


@pytest.mark.parametrize("style", list(HEADER_STYLES))
def test_real_world_header_styles(style):
    text, mapping, expected, has_header, unit = HEADER_STYLES[style]
    log = load(text, mapping=mapping or None)
    r = log.report
    got = {role: getattr(r.mapping, role) for role in ("user", "item", "timestamp", "event", "value")}
    want = {"event": None, "value": None, **expected}
    assert got == want
    assert r.has_header is has_header
    assert r.timestamp_unit == unit
    assert not r.dropped
    assert r.rows_kept == len(text.strip().splitlines()) - int(has_header)
    assert set(r.mapping.reasons) >= {k for k, v in want.items() if v}


def test_reasons_say_why_in_words():
    r = load(HEADER_STYLES["taobao-no-header"][0]).report
    assert r.mapping.reasons["user"].startswith("chosen by position/content")
    assert "override if wrong" in r.mapping.reasons["timestamp"]
    assert "pv" in r.mapping.reasons["event"]
    assert any("Columns not used: column_3" in n for n in r.notes)
    r = load(HEADER_STYLES["movielens-latest-csv"][0]).report
    assert r.mapping.reasons["item"] == "header 'movieId' is a known item column name"


def test_lastfm_falls_back_from_empty_track_ids():
    r = load(HEADER_STYLES["lastfm-listens"][0]).report
    assert any("'track_id' is empty in 67% of rows; 'track_name' was used" in n for n in r.notes)


def test_foreign_headers_without_mapping_are_detected_by_content():
    log = load("usuario,producto,fecha\nana,libro,2024-03-01\nluis,lapiz,2024-03-02\n")
    m = log.report.mapping
    assert (m.user, m.item, m.timestamp) == ("usuario", "producto", "fecha")
    assert "override if wrong" in m.reasons["user"]


def test_detect_columns_on_a_raw_frame_with_override():
    frame, info = read_table(b"a,b,c,d\nx,y,1600000000,3\n")
    assert info["has_header"] is True and list(frame.columns) == ["a", "b", "c", "d"]
    m = detect_columns(frame, {"user": "b", "item": "a"})
    assert (m.user, m.item, m.timestamp) == ("b", "a", "c")
    assert m.reasons["user"] == "given explicitly"


def test_mapping_is_case_and_separator_insensitive():
    log = load("User ID,Item-Id,TS\nu,i,1600000000\n", mapping={"user": "user_id"})
    assert log.report.mapping.user == "User ID"


def test_value_and_event_can_be_left_out():
    text = HEADER_STYLES["retailrocket"][0]
    m = load(text, mapping={"event": ""}).report.mapping
    assert m.event is None and m.reasons["event"] == "left out explicitly"


def test_file_order_when_time_is_left_out_explicitly():
    log = load("user,item\nu,b\nu,a\n", mapping={"timestamp": None})
    assert triples(log) == [("u", "b"), ("u", "a")]
    assert log.report.timestamp_unit.startswith("file order")


# --------------------------------------------------------------------------------------------
# Unrecoverable input: at least 20 malformed inputs, each with its message

XLSX = zipped({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
PARQUET_CUT = parquet_bytes(pa.table({"user": ["a"], "item": ["b"], "ts": [1]}))[:40]

BAD_INPUTS = {
    "empty file": (b"", {}, "is empty (0 bytes)"),
    "only blank space": (b"  \n\n \n", {}, "empty (only blank space)"),
    "only a header": (b"user_id,item_id,timestamp\n", {}, "only a header row"),
    "nul bytes": (b"user,item\x00\x00\x01\x02garbage", {}, "binary file"),
    "png image": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, {}, "a PNG image"),
    "jpeg image": (b"\xff\xd8\xff\xe0" + b"\x00" * 50, {}, "a JPEG image"),
    "pdf": (b"%PDF-1.7\n...", {}, "a PDF document"),
    "excel xlsx": (XLSX, {}, "save it as CSV"),
    "excel xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 50, {}, "Excel workbook"),
    "html page": (b"<!DOCTYPE html><html><body>Not found</body></html>", {}, "web page"),
    "one column": (b"user item time\nu1 i1 1600000000\n", {}, "Only one column was found"),
    "no user column": (b"item,timestamp\ni1,1600000000\n", {}, "No user column was found"),
    "no item column": (b"user,timestamp,rating\nu1,1600000000,1.5\n", {}, "No item column was found"),
    "no time column": (b"user,item\nu1,i1\n", {}, "No time column was found"),
    "all times unreadable": (
        b"user,item,timestamp\nu,i,soon\nu,j,later\n",
        {},
        "mostly because 'timestamp could not be read as a date or time'",
    ),
    "all lines malformed": (b"user,item,timestamp\nu,i\nv,j\n", {}, "wrong number of fields"),
    "all users too small": (SIMPLE, {"min_events": 5}, "Lower the minimum number of events"),
    "too many rows": (SIMPLE, {"max_rows": 2}, "more than the limit of 2"),
    "unknown mapping column": (
        SIMPLE,
        {"mapping": {"user": "usuario"}},
        "Column 'usuario' (given for user) is not in the file. Available columns: user, item, timestamp",
    ),
    "unknown mapping field": (SIMPLE, {"mapping": {"who": "user"}}, "Unknown mapping field 'who'"),
    "same column twice": (SIMPLE, {"mapping": {"user": "user", "item": "user"}}, "given for both user and item"),
    "damaged parquet": (PARQUET_CUT, {}, "looks like Parquet but could not be read"),
    "damaged gzip": (gzip.compress(SIMPLE)[:30], {}, "damaged or cut short"),
    "empty zip": (zipped({}), {}, "is empty"),
    "zip with only a folder": (zipped({"data/": b""}), {}, "is empty"),
    "broken json array": (b'[{"user": 1,', {}, "could not be read as a list of records"),
    "min_events zero": (SIMPLE, {"min_events": 0}, "must be 1 or more"),
    "user left out": (SIMPLE, {"mapping": {"user": ""}}, "cannot be left out"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_unrecoverable_input_raises_one_plain_error(case):
    data, kwargs, message = BAD_INPUTS[case]
    with pytest.raises(LTSIError) as info:
        load_events(data, name="events.csv", **kwargs)
    text = str(info.value)
    assert message in text
    assert "Traceback" not in text and "\n" not in text


def test_missing_path_and_folder(tmp_path):
    with pytest.raises(LTSIError, match="File not found"):
        load_events(tmp_path / "nope.csv")
    with pytest.raises(LTSIError, match="is a folder"):
        load_events(tmp_path)


def test_lterror_is_a_valueerror():
    assert issubclass(LTSIError, ValueError)


# --------------------------------------------------------------------------------------------
# EventLog contract


def test_eventlog_checks_columns_and_dtypes():
    good = load(SIMPLE)
    with pytest.raises(LTSIError, match="'timestamp'"):
        EventLog(good.events.assign(timestamp=good.events["timestamp"].dt.tz_localize(None)), good.report)
    with pytest.raises(LTSIError, match="'value'"):
        EventLog(good.events.drop(columns="value"), good.report)
    with pytest.raises(LTSIError, match="'event'"):
        EventLog(good.events.assign(event=good.events["event"].astype("str")), good.report)
    with pytest.raises(LTSIError, match="'title'"):
        EventLog(good.events, good.report, items=pd.DataFrame({"item_id": ["a"]}))


def test_report_to_dict_is_json_and_text_is_readable():
    r = load(MESSY).report
    d = json.loads(json.dumps(r.to_dict()))
    assert d["rows_read"] == 13 and d["dropped"][REASON_NO_USER] == 1
    assert d["time_min"].startswith("2020-09-13T12:10:00")
    assert d["mapping"]["user"] == "user"
    text = r.to_text()
    assert "13 read, 6 kept, 7 dropped" in text and REASON_DUPLICATE in text


# --------------------------------------------------------------------------------------------
# Item table


def test_load_items_with_genres():
    items = load_items(
        b"item_id,title,year,genres\n1,Toy Story,1995,Animation|Children's\n"
        b"2,GoldenEye,1995,Action\n2,dup,1995,Drama\n3,,1995,\n"
    )
    assert list(items.columns) == ["item_id", "title", "category", "main_category"]
    assert items["category"].tolist() == ["Animation | Children's", "Action", "unknown"]  # every genre kept
    assert items["main_category"].tolist() == ["Animation", "Action", "unknown"]
    assert items["title"].tolist() == ["Toy Story", "GoldenEye", "3"]  # missing title -> id


def test_load_items_movielens_1m_dat_latin1():
    data = "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Misérables, Les (1995)::Drama\n"
    items = load_items(data.encode("latin-1"))
    assert items["item_id"].tolist() == ["1", "2"]
    assert items["title"].iloc[1] == "Misérables, Les (1995)"
    assert items["category"].tolist() == ["Animation | Children's | Comedy", "Drama"]


def test_load_items_movielens_100k_u_item_style():
    data = (
        "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)"
        "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
        "2|GoldenEye (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?GoldenEye%20(1995)"
        "|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n"
    )
    items = load_items(data.encode("latin-1"))
    assert items["title"].tolist() == ["Toy Story (1995)", "GoldenEye (1995)"]
    assert items["category"].tolist() == ["unknown", "unknown"]  # genre flags: not a category


def test_load_items_names_and_categories():
    items = load_items(b"product_id,name,category\np1,Red shoe,shoes\np2,Blue hat,hats\n")
    assert items.to_dict("list") == {
        "item_id": ["p1", "p2"],
        "title": ["Red shoe", "Blue hat"],
        "category": ["shoes", "hats"],
    }


def test_load_items_without_id_column():
    with pytest.raises(LTSIError, match="no item id column"):
        load_items(b"title,genres\nToy Story,Comedy\n")


def test_looks_like_item_table():
    frame, _ = read_table(ML100K / "movies.csv")
    assert looks_like_item_table(frame)
    frame, _ = read_table(SIMPLE)
    assert not looks_like_item_table(frame)


def test_events_with_items_report_coverage():
    log = load(SIMPLE, items=b"item_id,title\ni1,One\n")
    assert list(log.items.columns) == ["item_id", "title", "category"]
    assert any("1 of the 2 items in the events have a title" in n for n in log.report.notes)


# --------------------------------------------------------------------------------------------
# The shipped MovieLens 100K


def test_shipped_ml100k():
    log = load_events(ML100K / "ratings.csv", items=ML100K / "movies.csv")
    r = log.report
    assert (r.rows_read, r.rows_kept, r.n_users, r.n_items) == (100_000, 100_000, 943, 1_682)
    assert r.timestamp_unit == "s" and not r.dropped
    assert r.time_min == pd.Timestamp("1997-09-20 03:05:10", tz="UTC")
    assert r.time_max == pd.Timestamp("1998-04-22 23:10:38", tz="UTC")
    assert len(log.items) == 1_682 and log.items["title"].iloc[0] == "Toy Story"
    ev = log.events
    key = pd.DataFrame({"u": ev["user_id"], "t": ev["timestamp"]})
    assert key.equals(key.sort_values(["u", "t"], kind="stable").reset_index(drop=True))


def test_the_report_keeps_the_source_columns_so_an_upload_is_read_once():
    log = load("User,Item,When,Extra\nu1,i1,1600000000,x\nu2,i2,1600000001,y\n")
    assert log.report.columns == ["User", "Item", "When", "Extra"]
    assert log.report.mapping.user == "User" and list(log.events.columns)[:3] == ["user_id", "item_id", "timestamp"]


def test_a_json_line_nested_too_deeply_is_a_counted_bad_line():
    deep = "[" * 100_000 + "]" * 100_000
    text = '{"user": "u1", "item": "i1", "timestamp": 1600000000}\n' + deep + "\n"
    text += '{"user": "u2", "item": "i2", "timestamp": 1600000001}\n'
    log = load(text)
    assert log.report.rows_kept == 2 and log.report.rows_read == 3 and sum(log.report.dropped.values()) == 1


def test_parquet_with_binary_columns():
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    def parquet(users) -> bytes:
        table = pa.table(
            {"user": pa.array(users, pa.binary()), "item": ["i1", "i2"], "timestamp": [1600000000, 1600000001]}
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return buffer.getvalue()

    log = load_events(parquet([b"u1", b"u2"]), name="events.parquet")  # text stored as bytes: read as text
    assert sorted(log.events["user_id"]) == ["u1", "u2"]
    with pytest.raises(LTSIError, match="Parquet column 'user' holds binary values that are not text"):
        load_events(parquet([b"\xff\xfe", b"\x00\x81"]), name="events.parquet")

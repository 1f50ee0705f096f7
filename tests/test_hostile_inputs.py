"""Hostile inputs: decompression bombs (event logs and run zips), oversized JSON, CSV injection, stale temp folders.

Every input is generated here; bombs are made small by expanding to tens of MB under a cap of 1 MB, plus one
realistic multi-GB bomb refused in a child process whose time and peak memory are measured.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import ltsi.sources as sources
from dashboard import exporting
from ltsi.errors import LTSIError
from ltsi.events import load_events

CSV = b"user_id,item_id,timestamp\n" + b"".join(
    b"u%d,i%d,%d\n" % (u, (u * 7 + k) % 13, 1_600_000_000 + 60 * (u * 10 + k)) for u in range(6) for k in range(6)
)
ZEROS = bytes(20 << 20)  # 20 MB that compress to a few KB
TEXT = b"a" * (20 << 20)  # the same as text: zeros are refused as binary on the first chunk, text by the cap
CAP = 1 << 20


def zipped(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# 1. Bounded decompression of event logs

BOMBS = {
    "gzip": lambda: gzip.compress(TEXT, compresslevel=1),
    "nested gzip": lambda: gzip.compress(gzip.compress(TEXT, compresslevel=1)),
    "bz2": lambda: bz2.compress(TEXT),
    "xz": lambda: lzma.compress(TEXT, preset=0),
    "zip": lambda: zipped({"events.csv": TEXT}),
    "zip in gzip": lambda: gzip.compress(zipped({"events.csv": TEXT})),
}


@pytest.mark.parametrize("kind", list(BOMBS))
def test_bombs_are_refused_once_the_expanded_cap_is_passed(kind):
    bomb = BOMBS[kind]()
    assert len(bomb) < len(TEXT) // 100  # small on disk
    with pytest.raises(LTSIError, match=r"bomb\.bin expands to more than 1 MB: it looks like a decompression bomb"):
        sources.unwrap_archives(bomb, "bomb.bin", [], max_expanded=CAP)


def test_the_module_cap_is_the_one_setting_load_events_uses(monkeypatch):
    monkeypatch.setattr(sources, "MAX_EXPANDED_BYTES", CAP)
    with pytest.raises(LTSIError, match="decompression bomb, or a log too big for the dashboard"):
        load_events(gzip.compress(TEXT, compresslevel=1), name="log.csv.gz")
    assert len(load_events(gzip.compress(CSV), name="log.csv.gz").events) == 36  # small files still load


def test_a_zip_member_is_counted_not_its_declared_size(monkeypatch):
    """A zip whose header under-states the member size is still stopped by the count of what comes out."""
    data = bytearray(zipped({"events.csv": TEXT}))
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # local header and central directory: size fields say 10 bytes
        at = data.find(header)
        size_at = at + (22 if header == b"PK\x03\x04" else 24)
        data[size_at : size_at + 4] = (10).to_bytes(4, "little")
    with pytest.raises(LTSIError, match="damaged|decompression bomb"):
        sources.unwrap_archives(bytes(data), "lying.zip", [], max_expanded=CAP)


def test_nesting_deeper_than_the_limit_is_refused_and_three_levels_load():
    three = zipped({"a.zip": zipped({"events.csv.gz": gzip.compress(CSV)})})
    log = load_events(three, name="three.zip")
    assert len(log.events) == 36
    assert log.report.file_format == "csv (zip: a.zip, zip: events.csv.gz, gzip)"
    four = gzip.compress(three)
    with pytest.raises(LTSIError, match="nested more than 3 deep"):
        load_events(four, name="four.gz")
    with pytest.raises(LTSIError, match="nested more than 1 deep"):
        sources.unwrap_archives(gzip.compress(gzip.compress(CSV)), "x.gz", [], max_nesting=1)


@pytest.mark.parametrize("pack", [gzip.compress, bz2.compress, lzma.compress, lambda d: zipped({"e.csv": d})])
def test_large_files_past_the_hold_size_expand_twice_and_load_the_same(monkeypatch, pack):
    monkeypatch.setattr(sources, "_CHUNK", 64)
    monkeypatch.setattr(sources, "_HOLD_BYTES", 100)  # count first, then expand again for real
    data, done = sources.unwrap_archives(pack(CSV), "log", [])
    assert data == CSV and len(done) == 1


def test_damaged_archives_still_say_damaged():
    for packed in (gzip.compress(CSV)[:40], bz2.compress(CSV)[:40], lzma.compress(CSV)[:40]):
        with pytest.raises(LTSIError, match="damaged or cut short"):
            sources.unwrap_archives(packed, "cut.gz", [])


def _load_in_a_child(path: Path) -> dict:
    """load_events(path) in a fresh process: its message, seconds and peak memory."""
    code = (
        "import json, time\n"
        "from ltsi.events import load_events\n"
        "from ltsi.errors import LTSIError\n"
        "start = time.perf_counter()\n"
        "try:\n"
        f"    load_events({str(path)!r}); message = None\n"
        "except LTSIError as error:\n"
        "    message = str(error)\n"
        # VmHWM: this process image's peak; ru_maxrss would carry the forking pytest process's size across exec
        "peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM')][0].split()[1]\n"
        "print(json.dumps({'seconds': time.perf_counter() - start, 'message': message, 'peak_kb': int(peak)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{path.name} ({path.stat().st_size:,} bytes): {result}")
    return result


@pytest.mark.parametrize("content", [b"\0", b"a"])
def test_a_multi_gigabyte_nested_gzip_bomb_is_refused_fast_and_in_little_memory(tmp_path, content):
    """~5 GB as 80 gzip members of 64 MB each (multi-member gzip, as `cat a.gz b.gz` makes), gzipped once more: a
    few KB on disk. Of zeros, it is refused as binary on its first expanded MB; of text, at the 2 GB cap, counted
    exactly. Loaded in a child process with the default settings; time and peak memory are measured."""
    member = gzip.compress(content * (64 << 20), compresslevel=9)
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(member * 80, compresslevel=9))
    assert path.stat().st_size < 1 << 20
    result = _load_in_a_child(path)
    expected = "looks like a binary file" if content == b"\0" else "expands to more than 2 GB"
    assert result["message"] and expected in result["message"]
    assert result["peak_kb"] < 1 << 20  # < 1 GB peak RSS
    # The text bomb takes the time of inflating 2 GB: 4.8 s measured on the shared 2-core dev machine when quiet,
    # 8.5 s under load (the audit measured 42 s and 5.6 GB RSS before). The bound is loose so that a busy CI machine
    # does not fail it; the memory bound is the strict one.
    assert result["seconds"] < (5 if content == b"\0" else 30)


# ---------------------------------------------------------------------------------------------
# 2. Run zips: capped while extracting, cleaned up on failure; oversized JSON refused


def _own_temp_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"{exporting.TEMP_PREFIX}upload-{os.getpid()}-*")}


def test_a_run_zip_member_past_the_cap_is_refused_and_leaves_no_folder(monkeypatch):
    monkeypatch.setattr(exporting, "MAX_UNZIPPED_BYTES", CAP)
    before = _own_temp_folders()
    bomb = zipped({"config.json": b"{}", "model.safetensors": ZEROS})
    with pytest.raises(LTSIError, match="The zip unpacks to more than 1 MB; that is not a run folder"):
        exporting.load_run_zip(bomb, "bomb.zip")
    assert _own_temp_folders() == before


def test_a_run_zip_that_lies_about_its_sizes_is_counted_while_extracting(tmp_path):
    data = bytearray(zipped({"config.json": b"{}", "model.safetensors": ZEROS}))
    for header, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(header, data.find(b"model.safetensors") - 60)
        data[at + offset : at + offset + 4] = (10).to_bytes(4, "little")
    with pytest.raises(ValueError, match="more than 1 MB|damaged"):
        exporting.unzip_to(bytes(data), tmp_path / "out", limit=CAP)
    weights = tmp_path / "out" / "model.safetensors"
    assert not weights.exists() or weights.stat().st_size <= CAP


def test_files_a_run_folder_does_not_hold_are_not_extracted(tmp_path):
    """A run zip with 20 MB of padding beside the run's files (the audit's 1.5 GB pad.bin): only the run's files
    reach the disk, so the padding takes no space and does not count against the cap."""
    data = zipped({"run/config.json": b"{}", "run/ablation-no-gate.safetensors": b"w", "run/pad.bin": ZEROS})
    folder = exporting.unzip_to(data, tmp_path / "out", limit=CAP)
    assert sorted(p.name for p in folder.iterdir()) == ["ablation-no-gate.safetensors", "config.json"]


def test_any_failure_while_loading_a_run_zip_removes_the_folder(monkeypatch):
    import dashboard.state

    def boom(folder, name):
        raise TypeError("empty(): argument 'size' failed")  # what a config with dim "64" did

    monkeypatch.setattr(dashboard.state, "load_run_folder", boom)
    before = _own_temp_folders()
    with pytest.raises(TypeError):
        exporting.load_run_zip(zipped({"config.json": b"{}"}), "typeerror.zip")
    assert _own_temp_folders() == before


def test_a_padded_json_in_a_run_zip_is_refused_while_extracting(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "MAX_JSON_BYTES", 4096)
    padded = b'{"format": "ltsi-run"' + b" " * (1 << 20) + b"}"
    with pytest.raises(ValueError, match=r"config.json in the zip is larger than 4 KB"):
        exporting.unzip_to(zipped({"config.json": padded}), tmp_path / "out")


def test_read_json_reads_at_most_the_limit(tmp_path):
    from ltsi.runs import _read_json

    huge = tmp_path / "config.json"
    with open(huge, "wb") as handle:  # 64 GB (sparse): reading it all would run out of memory
        handle.write(b'{"format": "ltsi-run", "pad": "')
        handle.truncate(64 << 30)
    start = time.perf_counter()
    with pytest.raises(LTSIError, match=r"config.json is larger than 64 MB; .* \(it was not read\)"):
        _read_json(huge)
    assert time.perf_counter() - start < 10
    small = tmp_path / "metrics.json"
    small.write_text('[{"hr": 0.5}]')
    assert _read_json(small) == [{"hr": 0.5}]
    small.write_text("{not json")
    with pytest.raises(LTSIError, match="not valid JSON"):
        _read_json(small)


# ---------------------------------------------------------------------------------------------
# 3. CSV exports safe in every locale

CELLS = {
    "Name;=1+1": "Name;'=1+1",
    "Name,=1+1": "Name,'=1+1",
    "=HYPERLINK(1)": "'=HYPERLINK(1)",
    "+1": "'+1",
    "@SUM(A1)": "'@SUM(A1)",
    "-2;+3,@x": "'-2;'+3,'@x",
    "a;b, c; =d": "a;b, c; =d",  # a space first: Excel reads text
    "plain": "plain",
}


def test_neutralise_covers_formulas_after_list_separators():
    for cell, expected in CELLS.items():
        assert exporting.neutralise(cell) == expected, cell
    assert exporting.neutralise(-3.0) == -3.0


def test_recommendations_csv_cells_are_safe_when_split_on_semicolons_or_commas():
    frame = pd.DataFrame({"user_id": list(CELLS), "title": list(CELLS), "score": range(len(CELLS))})
    text = exporting.safe_csv(frame).decode()
    back = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert list(back["title"]) == list(CELLS.values())
    for line in text.splitlines()[1:]:
        for cell in line.replace('"', "").replace(";", ",").split(","):
            assert not cell.startswith(exporting.FORMULA_PREFIXES), line


def test_items_csv_in_a_run_zip_is_neutralised_but_item_ids_are_kept(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    pd.DataFrame(
        {"item_id": ["-1", "007", "=x"], "title": ["=HYPERLINK(1)", "Name;=1+1", "ok"], "price": [-1.5, 2.0, 0.0]}
    ).to_csv(run / "items.csv", index=False)
    with zipfile.ZipFile(io.BytesIO(exporting.zip_folder(run))) as zf:
        items = pd.read_csv(zf.open("items.csv"), dtype={"item_id": str}, keep_default_na=False)  # as ltsi.runs
    assert list(items["item_id"]) == ["-1", "007", "=x"]  # the model's vocabulary must still match
    assert list(items["title"]) == ["'=HYPERLINK(1)", "Name;'=1+1", "ok"]
    assert list(items["price"]) == [-1.5, 2.0, 0.0]  # numbers stay numbers


# ---------------------------------------------------------------------------------------------
# 4. Stale temporary folders


def test_sweep_removes_only_old_folders_of_this_app_that_no_live_server_owns(tmp_path):
    old = tmp_path / f"{exporting.TEMP_PREFIX}upload-999999999-abc"  # a pid that cannot be alive
    old_save = tmp_path / f"{exporting.TEMP_PREFIX}save-xyz"
    fresh = tmp_path / f"{exporting.TEMP_PREFIX}upload-999999999-new"
    live = tmp_path / f"{exporting.TEMP_PREFIX}upload-{os.getppid()}-live"  # owned by a running process
    other = tmp_path / "someone-else-old"
    for folder in (old, old_save, fresh, live, other):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "f.bin").write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    for folder in (old, old_save, live, other):
        os.utime(folder, (two_days_ago, two_days_ago))
    removed = exporting.sweep_stale_temp(older_than_s=86400, root=tmp_path)
    assert sorted(removed) == sorted([old, old_save])
    assert not old.exists() and not old_save.exists()
    assert fresh.exists() and live.exists() and other.exists()


def test_upload_folders_carry_the_prefix_and_the_pid():
    assert exporting._UPLOAD_PREFIX.startswith(exporting.TEMP_PREFIX)
    assert exporting._owner_pid(f"{exporting._UPLOAD_PREFIX}abcd") == os.getpid()


def test_utf16_with_an_odd_last_byte_loads_and_says_it_looks_cut_short():
    from ltsi.events import load_events

    text = "user,item,timestamp\n" + "".join(f"u{i},i{i % 7},{1600000000 + i}\n" for i in range(50))
    log = load_events(text.encode("utf-16") + b"A", name="cut.csv")
    assert log.report.rows_kept == 50 and log.report.encoding == "utf-16"
    assert any("half a character" in note for note in log.report.notes)


def test_a_compressed_log_of_too_many_short_rows_is_refused_while_it_expands(monkeypatch):
    """A valid gzip of 200,000 rows under a 1,000-row limit: refused for its rows during expansion, before the
    whole text is held (the hold size is set below the text's size, so a late refusal would have expanded twice)."""
    rows = b"u1,i1,1700000000\n" * 200_000
    monkeypatch.setattr(sources, "_HOLD_BYTES", 64 << 10)
    expansions = []
    real = sources._OPENERS["gzip"]
    monkeypatch.setitem(sources._OPENERS, "gzip", lambda f: expansions.append(1) or real(f))
    with pytest.raises(LTSIError, match=r"has about [\d,]+ rows, more than the limit of 1,000\."):
        sources.unwrap_archives(gzip.compress(rows, 1), "rows.csv.gz", [], max_rows=1000)
    assert expansions == [1]  # refused in the first, counting pass
    # Parquet or another archive inside is not counted as lines (its bytes are not text)
    inner = gzip.compress(rows, 1)
    data, done = sources.unwrap_archives(gzip.compress(inner), "x.gz.gz", [], max_rows=10_000_000)
    assert done == ["gzip", "gzip"] and data == rows


def test_running_out_of_memory_while_expanding_says_so_not_damaged(monkeypatch):
    def no_memory(f):
        raise MemoryError

    monkeypatch.setitem(sources._OPENERS, "gzip", no_memory)
    with pytest.raises(LTSIError, match="not enough memory to expand big.csv.gz"):
        sources.unwrap_archives(gzip.compress(CSV), "big.csv.gz", [])


def test_nul_characters_late_in_a_file_are_made_visible_and_said():
    body = CSV + b"".join(b"u9,i%d,%d\n" % (k, 1_700_000_000 + k) for k in range(8000))  # past the 64 KiB sniff
    log = load_events(body + b"u1,i\x00\x00x,1700009999\n", name="late_nul.csv")
    assert "i\ufffd\ufffdx" in set(log.events["item_id"])  # kept distinct from any real "ix", and visible
    note = next(n for n in log.report.notes if "NUL" in n)
    assert "column 'item_id'" in note and f"line {len(body.splitlines()) + 1:,}" in note


def test_parquet_list_columns_are_read_as_text_with_a_note():
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "user_id": [f"u{i % 4}" for i in range(24)],
            "item_id": [[i % 5] for i in range(24)],
            "timestamp": [1_700_000_000 + 60 * i for i in range(24)],
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    log = load_events(buf.getvalue(), name="lists.parquet")
    assert set(log.events["item_id"]) <= {f"[{k}]" for k in range(5)}
    assert any("'item_id' holds lists or records" in n for n in log.report.notes)

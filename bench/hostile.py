"""Re-run of the reliability audit's failing CLI rows (docs: /work/shared/reviews/reliability-audit.md).

Every CLI row whose verdict was GENERIC, HANG, RESOURCE, SILENT, MISLEADING or DATALOSS is rebuilt from its
description in a temporary folder and run under `ulimit -v 4000000` with a 60 s timeout, then classified:
OK (exit 0, sensible), CLEAN (exit 2, one line `error: ...`), GENERIC ("Unexpected problem (...)"), TRACEBACK,
HANG (timeout), RESOURCE (memory limit hit / MemoryError), SILENT (exit 0 but wrong), NOT1LINE (exit 2, several lines).

    .venv/bin/python bench/hostile.py [--json out.json] [--keep]
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / ".venv" / "bin" / "python"
try:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from safetensors.numpy import load_file, save_file
except ImportError:  # plain `python bench/hostile.py`: re-run under the project's virtual environment
    if VENV_PY.exists() and Path(sys.executable).resolve() != VENV_PY.resolve():
        os.execv(str(VENV_PY), [str(VENV_PY), *sys.argv])
    raise
sys.path.insert(0, str(ROOT))
from ltsi.runs import SEQUENCE_ARRAYS, fingerprint  # noqa: E402

PY = str(VENV_PY if VENV_PY.exists() else sys.executable)
MEM = 4_000_000 * 1024  # ulimit -v 4000000 (KiB)
TIMEOUT = 60


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEM, MEM))
    os.setsid()


def ltsi(*args, timeout=TIMEOUT):
    """Run `python -m ltsi ARGS`; returns (rc or 'timeout', stdout, stderr, seconds, peak RSS MB if it rose)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.monotonic()
    try:
        p = subprocess.run(
            [PY, "-m", "ltsi", *map(str, args)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            preexec_fn=_limits,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", _s(e.stdout), _s(e.stderr)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return rc, out, err, time.monotonic() - t0, (after // 1024 if after > before else None)


def _s(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")


def classify(rc, out, err):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    text = out + err
    if rc == "timeout":
        return "HANG"
    if "Traceback (most recent call last)" in text:
        return "TRACEBACK"
    if (isinstance(rc, int) and rc < 0) or re.search(r"MemoryError|Ran out of memory|can't allocate memory", text):
        return "RESOURCE"
    if rc == 0:
        return "OK"
    if "Unexpected problem" in text:
        return "GENERIC"
    if rc == 2 and len(lines) == 1 and lines[0].startswith("error:"):
        return "CLEAN"
    return "NOT1LINE" if rc == 2 else f"EXIT{rc}"


# ---------------------------------------------------------------- inputs


def gz_members(chunk: bytes, n: int) -> bytes:  # concatenated gzip members: n x len(chunk) expanded
    return gzip.compress(chunk, 9) * n


def make_inputs(d: Path) -> dict[str, Path]:
    f = {}
    mib = 1 << 20
    one_bz = bz2.compress(b"\0" * (64 * mib), 9)
    (f.setdefault("bz2", d / "bomb_bz2_4g.csv.bz2")).write_bytes(one_bz * 64)  # ~4 GiB
    (f.setdefault("gz6", d / "bomb_gzip_6g.csv.gz")).write_bytes(gz_members(b"\0" * mib, 6144))  # 6 GiB
    rows = b"u1,i1,1700000000\n" * (mib // 17)
    (f.setdefault("gzcsv", d / "bomb_gzip_csv_2g.csv.gz")).write_bytes(
        gzip.compress(b"user_id,item_id,timestamp\n", 9) + gz_members(rows, 2048)
    )  # 2 GiB of rows
    (f.setdefault("gzgz", d / "bomb_gzip_nested_8g.csv.gz")).write_bytes(
        gzip.compress(gz_members(b"\0" * mib, 8192), 9)
    )  # gzip(gzip) 8 GiB
    f["zip"] = d / "bomb_zip_5g.zip"
    with zipfile.ZipFile(f["zip"], "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("events.csv", "w", force_zip64=True) as m:
            block = b"\0" * (16 * mib)
            for _ in range(320):  # 5 GiB member
                m.write(block)
    n = 40
    ts = pa.array(
        np.arange(n, dtype="int64") * 3_600_000_000 + 1_700_000_000_000_000, pa.timestamp("us", tz="Europe/Paris")
    )
    users = pa.array([b"\xff\xfeu" + bytes([i % 5]) for i in range(n)], pa.binary())
    items = pa.array([f"i{i % 7}" for i in range(n)]).dictionary_encode()
    pq.write_table(
        pa.table({"user_id": users, "item_id": items, "timestamp": ts}), f.setdefault("pq_bin", d / "binary.parquet")
    )
    pq.write_table(
        pa.table(
            {
                "user_id": [f"u{i % 5}" for i in range(n)],
                "item_id": pa.array([[i % 4] for i in range(n)], pa.list_(pa.int64())),
                "timestamp": ts,
            }
        ),
        f.setdefault("pq_list", d / "list_items.parquet"),
    )
    good = "".join(
        f'{{"user_id": "u{i % 5}", "item_id": "i{i % 7}", "timestamp": {1_700_000_000 + 60 * i}}}\n' for i in range(30)
    )
    (f.setdefault("deep", d / "deep.jsonl")).write_text(good + '{"user_id": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    body = "user_id,item_id,timestamp\n" + "".join(
        f"u{i % 50},item{i % 200:05d},{1_700_000_000 + i}\n" for i in range(6000)
    )
    assert len(body) > 70_000
    (f.setdefault("nul", d / "nul_late.csv")).write_bytes(body.encode() + b"u1,i\x00\x00x,1700009999\n")
    small = "user_id,item_id,timestamp\n" + "".join(f"u{i % 6},i{i % 9},{1_700_000_000 + 60 * i}\n" for i in range(120))
    (f.setdefault("u16", d / "cut_utf16.csv")).write_bytes(small.encode("utf-16") + b"A")  # BOM + odd last byte
    (f.setdefault("u32", d / "utf32.csv")).write_bytes(small.encode("utf-32"))  # BOM
    os.mkfifo(f.setdefault("fifo", d / "fifo.csv"))
    return f


def legacy(base: Path, dst: Path, cfg=None, raw=None, seq=None, nan=False, refp=False, history=None) -> Path:
    """Copy of the run as a pre-manifest folder (no manifest.json, format_version 2), then tampered."""
    shutil.copytree(base, dst)
    (dst / "manifest.json").unlink()
    c = json.loads((dst / "config.json").read_text())
    c["format_version"] = 2
    if seq or refp:
        a = load_file(str(dst / "sequences.safetensors"))
        if seq:
            seq(a)
        save_file(a, str(dst / "sequences.safetensors"))
        if refp:
            v = c["vocabularies"]
            ns = SimpleNamespace(
                users=[str(u) for u in v["users"]],
                items=SimpleNamespace(tokens=v["items"]),
                event_types=SimpleNamespace(tokens=v["event_types"]),
                **{k: a[k] for k in SEQUENCE_ARRAYS},
            )
            c["data"]["fingerprint"] = fingerprint(ns)
    if nan:
        w = load_file(str(dst / "model.safetensors"))
        save_file(
            {k: np.full_like(v, np.nan) if v.dtype.kind == "f" else v for k, v in w.items()},
            str(dst / "model.safetensors"),
            metadata={"format": "ltsi-run"},
        )
    if cfg:
        cfg(c)
    text = json.dumps(c, indent=1)
    for key, val in (raw or {}).items():  # values json.dumps cannot write (1e999, 5,000 digits, deep nesting)
        text = text.replace(json.dumps(key), val)
    (dst / "config.json").write_text(text)
    if history is not None:
        (dst / "history.csv").write_bytes(history)
    return dst


def mc(**kw):
    return lambda c: c["model_config"].update(kw)


def tree_hash(p: Path) -> dict:
    return {f.name: f.read_bytes() for f in sorted(p.iterdir()) if f.is_file()} if p.is_dir() else {}


def interrupted_retrain(base: Path, work: Path, log: Path, sig: int):
    """Re-train over a copy of `base` with --overwrite and send `sig` the moment the new model.safetensors
    is written (in the temporary sibling folder); the folder must then be the old run, or be refused."""
    run = work / f"killed_{sig}"
    shutil.copytree(base, run)
    old = tree_hash(run)
    p = subprocess.Popen(
        [
            PY,
            "-m",
            "ltsi",
            "train",
            log,
            "--out",
            run,
            "--overwrite",
            "--epochs",
            "1",
            "--dim",
            "8",
            "--seed",
            "1",
            "--quiet",
        ],
        preexec_fn=_limits,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline, hit = time.monotonic() + TIMEOUT, "model.safetensors never appeared"
    while time.monotonic() < deadline and p.poll() is None:
        if any(work.glob(f".{run.name}.tmp-*/model.safetensors")):
            os.kill(p.pid, sig)
            hit = "signal sent after model.safetensors appeared"
            break
        time.sleep(0.002)
    try:
        p.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    rc, out, err, secs, rss = ltsi("recommend", run, "--user", "U00001", "--k", "3")
    new = tree_hash(run)
    state = "old run intact" if new == old else "folder changed"
    leftovers = [x.name for x in work.glob(f".{run.name}.*")]
    verdict = classify(rc, out, err)
    if verdict == "OK" and new != old:
        verdict = "SILENT"
    msg = f"train rc={p.returncode} ({hit}); {state}; leftovers={leftovers}; recommend rc={rc}"
    return verdict, msg, secs, rss


# ---------------------------------------------------------------- cases


def build_cases(d: Path, f: dict, base: Path, log: Path, small_log: Path):
    run, user = base, "U00001"
    L = lambda name, **kw: legacy(base, d / name, **kw)  # noqa: E731
    (d / "afile").write_text("x")
    C = []

    def case(row, what, old, argv, silent_if=None):
        C.append((row, what, old, argv, silent_if))

    v = lambda p: ["validate", p, "--json"]  # noqa: E731
    case(3, "Parquet: binary user column, dictionary item column, tz-aware timestamps", "GENERIC", v(f["pq_bin"]))
    case(5, "bz2 bomb, 7 KB -> 4 GiB", "RESOURCE", v(f["bz2"]))
    case(6, "gzip bomb, 6.4 MB -> 6 GiB", "RESOURCE", v(f["gz6"]))
    case(7, "gzip bomb of CSV rows -> 2 GiB", "RESOURCE", v(f["gzcsv"]))
    case(8, "nested gzip(gzip) bomb -> 8 GiB", "RESOURCE", v(f["gzgz"]))
    case(9, "zip bomb, 5 GiB member", "RESOURCE", v(f["zip"]))
    case(35, "JSON line nested 100,000 deep", "GENERIC", v(f["deep"]))
    case(
        54,
        "Parquet, item column is list<int64>",
        "SILENT",
        v(f["pq_list"]),
        lambda o, e: "list" not in json.dumps(json.loads(o).get("notes", [])).lower(),
    )
    case(
        55,
        "NUL bytes in an id after the first 64 KiB",
        "SILENT",
        v(f["nul"]),
        lambda o, e: not re.search(r"NUL|\\\\u0000|control", json.dumps(json.loads(o).get("notes", []))),
    )
    case(72, "UTF-16 with BOM and an odd trailing byte", "GENERIC", v(f["u16"]))
    case(74, "UTF-32 with BOM", "MISLEADING", v(f["u32"]), lambda o, e: json.loads(o).get("rows_kept", 0) == 0)
    case(83, "/dev/zero", "RESOURCE", v("/dev/zero"))
    case(85, "FIFO (no writer)", "HANG", v(f["fifo"]))
    t = lambda out, *x: ["train", log, "--out", out, "--epochs", "1", "--dim", "8", "--quiet", *x]  # noqa: E731
    case(103, "train --out under a file", "GENERIC", t(d / "afile" / "sub"))
    case(104, "train --out /proc (unwritable)", "GENERIC", t("/proc/ltsi_run"))
    case(105, "train --epochs 0", "SILENT", ["train", log, "--out", d / "e0", "--epochs", "0", "--dim", "8", "--quiet"])
    for row, dim in ((107, "0"), (108, "-5"), (111, "200000")):
        case(
            row,
            f"train --dim {dim}",
            "GENERIC",
            ["train", log, "--out", d / f"dim{row}", "--epochs", "1", "--dim", dim, "--quiet"],
        )
    case(114, "train --device meta", "GENERIC", t(d / "meta", "--device", "meta"))
    case(117, "train --seed -1", "GENERIC", t(d / "seed", "--seed", "-1"))
    r = lambda p: ["recommend", p, "--user", user, "--k", "5"]  # noqa: E731
    case(137, 'config dim "64" (string)', "GENERIC", r(L("r137", cfg=mc(dim="64"))))
    case(138, "config dim 10^30", "GENERIC", r(L("r138", cfg=mc(dim=10**30))))
    case(139, "config dim 1e999 (inf)", "GENERIC", r(L("r139", cfg=mc(dim="@INF@"), raw={"@INF@": "1e999"})))
    case(140, "config dim 150000", "GENERIC", r(L("r140", cfg=mc(dim=150000))))
    case(141, "config max_len 10^7", "RESOURCE", r(L("r141", cfg=mc(max_len=10**7))))
    case(142, "config short_window -5 (recommend)", "SILENT", r(L("r142", cfg=mc(short_window=-5))), lambda o, e: True)
    case(143, "config dropout 5 (recommend)", "GENERIC", r(L("r143", cfg=mc(dropout=5))))
    case(145, 'config format_version "1"', "GENERIC", r(L("r145", cfg=lambda c: c.update(format_version="1"))))
    case(
        147,
        "config format_version with 5,000 digits",
        "GENERIC",
        r(L("r147", cfg=lambda c: c.update(format_version="@BIG@"), raw={"@BIG@": "9" * 5000})),
    )
    case(
        150,
        "config.json nested 100,000 deep",
        "GENERIC",
        r(L("r150", cfg=lambda c: c.update(deep="@DEEP@"), raw={"@DEEP@": "[" * 100_000 + "]" * 100_000})),
    )
    case(
        151,
        "split.cutoff 'not a date', training with wrong types",
        "GENERIC",
        r(L("r151", cfg=lambda c: (c["split"].update(cutoff="not a date"), c.update(training=[1, "x"])))),
    )
    case(
        154, "ablations entry is a string", "GENERIC", r(L("r154", cfg=lambda c: c.update(ablations={"no_gate": "x"})))
    )
    case(157, "history.csv binary", "GENERIC", r(L("r157", history=b"\xff\xfe\x00\x01" + os.urandom(256))))

    def gaps(a):
        a["gap_ids"][3] = 10_000

    def floats(a):
        a["item_ids"] = a["item_ids"].astype(np.float64)

    def ts62(a):
        a["timestamps"][:] = 2**62

    def users_oor(a):
        a["split.test.users"][0] = 1_000_000

    def targets(a):
        a["split.test.targets"][:] = -5
        a["split.test.ends"][:] = 999_999_950

    nanlike = lambda o, e: True  # noqa: E731  exit 0 on NaN weights is wrong whatever it prints
    case(160, "gap_ids out of range, fingerprint recomputed (recommend)", "GENERIC", r(L("r160", seq=gaps, refp=True)))
    case(164, "item_ids stored as float", "GENERIC", r(L("r164", seq=floats, refp=True)))
    case(165, "all weights NaN (recommend)", "SILENT", r(L("r165", nan=True)), nanlike)
    x = lambda p, *a: ["explain", p, "--user", user, "--steps", "8", *a]  # noqa: E731
    case(173, "config short_window -5 (explain)", "SILENT", x(L("x173", cfg=mc(short_window=-5))), lambda o, e: True)
    case(174, "config dropout 5 (explain)", "GENERIC", x(L("x174", cfg=mc(dropout=5))))
    case(175, "gap_ids out of range, fingerprint recomputed (explain)", "GENERIC", x(L("x175", seq=gaps, refp=True)))
    case(176, "timestamps 2^62, fingerprint recomputed (explain)", "GENERIC", x(L("x176", seq=ts62, refp=True)))
    case(177, "all weights NaN (explain)", "GENERIC", x(L("x177", nan=True)), nanlike)
    case(182, "split test users out of range (evaluate)", "GENERIC", ["evaluate", L("v182", seq=users_oor)])
    case(183, "split targets negative / ends huge (evaluate)", "GENERIC", ["evaluate", L("v183", seq=targets)])
    case(184, "all weights NaN (evaluate)", "SILENT", ["evaluate", L("v184", nan=True)], nanlike)
    case(204, "explain --steps 200000", "MISLEADING", ["explain", run, "--user", user, "--steps", "200000"])
    case(
        205,
        "explain --rows -1",
        "SILENT",
        ["explain", run, "--user", user, "--steps", "8", "--rows", "-1"],
        lambda o, e: "older events not shown" in o,
    )
    case(210, "recommend --k abc", "MISLEADING", ["recommend", run, "--user", user, "--k", "abc"])
    case(210, "recommend without --user", "MISLEADING", ["recommend", run])
    case(210, "validate without its path", "MISLEADING", ["validate"])
    case(210, "unknown command", "MISLEADING", ["frobnicate"])
    return C


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="ltsi-hostile-"))
    results = []
    try:
        t0 = time.monotonic()
        rc, *_ = ltsi(
            "synth", "--users", "60", "--items", "80", "--categories", "4", "--mean-events", "12", "--out", d / "syn"
        )
        log = d / "syn" / "events.csv"
        small_log = d / "small.csv"
        small_log.write_text("".join(log.read_text().splitlines(keepends=True)[:61]))
        base = d / "run"
        rc2, o, e, *_ = ltsi("train", log, "--out", base, "--epochs", "1", "--dim", "8", "--quiet")
        assert rc == 0 and rc2 == 0, (rc, rc2, e)
        f = make_inputs(d)
        print(f"setup: {time.monotonic() - t0:.1f} s in {d}", file=sys.stderr)

        def add(row, what, old, new, msg, secs, rss):
            results.append(
                dict(row=row, input=what, old=old, new=new, message=msg, seconds=round(secs, 1), peak_rss_mb=rss)
            )
            print(f"  #{row:<4} {new:<9} {secs:5.1f}s  {what}", file=sys.stderr, flush=True)

        for row, what, old, argv, silent_if in build_cases(d, f, base, log, small_log):
            rc, out, err, secs, rss = ltsi(*argv)
            new = classify(rc, out, err)
            if new == "OK" and silent_if is not None:
                try:
                    new = "SILENT" if silent_if(out, err) else new
                except (ValueError, AttributeError):  # --json output that is not a JSON report
                    new = "SILENT"
            first = next((line for line in err.splitlines() if line.strip()), "") or (
                f"exit 0: {out.strip().splitlines()[0][:100]}" if out.strip() else f"exit {rc}, no output"
            )
            add(row, what, old, new, first, secs, rss)
        # 212: train over an existing run without --overwrite
        victim = d / "victim"
        shutil.copytree(base, victim)
        before = tree_hash(victim)
        rc, out, err, secs, rss = ltsi("train", small_log, "--out", victim, "--epochs", "1", "--dim", "8", "--quiet")
        new = classify(rc, out, err)
        if tree_hash(victim) != before:
            new = "DATALOSS"
        add(
            212,
            "train --out EXISTING_RUN (no --overwrite)",
            "DATALOSS",
            new,
            (err.strip().splitlines() or [f"exit {rc}"])[0],
            secs,
            rss,
        )
        # 213: synth over existing events.csv / items.csv
        sd = d / "precious"
        sd.mkdir()
        for name in ("events.csv", "items.csv"):
            (sd / name).write_text("my precious real log\n")
        rc, out, err, secs, rss = ltsi("synth", "--users", "20", "--items", "30", "--out", sd)
        new = classify(rc, out, err)
        if any((sd / n).read_text() != "my precious real log\n" for n in ("events.csv", "items.csv")):
            new = "DATALOSS"
        add(
            213,
            "synth --out DIR with events.csv, items.csv present",
            "DATALOSS",
            new,
            (err.strip().splitlines() or [f"exit {rc}"])[0],
            secs,
            rss,
        )
        for row, sig, name in ((214, signal.SIGKILL, "kill -9"), (215, signal.SIGINT, "SIGINT")):
            new, msg, secs, rss = interrupted_retrain(base, d, log, sig)
            add(row, f"{name} the instant the re-train's model.safetensors is written", "SILENT", new, msg, secs, rss)
    finally:
        if args.keep:
            print(f"kept {d}", file=sys.stderr)
        else:
            shutil.rmtree(d, ignore_errors=True)

    print("\n| # | input | old | new | s | peak MB | first line of the message |\n|---|---|---|---|---|---|---|")
    for r in results:
        msg = r["message"].replace("|", "\\|")
        msg = msg if len(msg) <= 150 else msg[:149] + "…"
        print(
            f"| {r['row']} | {r['input']} | {r['old']} | **{r['new']}** | {r['seconds']} | "
            f"{r['peak_rss_mb'] or ''} | {msg} |"
        )
    counts = {}
    for r in results:
        counts[r["new"]] = counts.get(r["new"], 0) + 1
    print(
        "\ncounts:",
        ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])),
        f"(total {len(results)})",
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "counts": counts}, indent=1))


if __name__ == "__main__":
    main()

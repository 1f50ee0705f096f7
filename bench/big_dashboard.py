"""Every dashboard page on a big run (bench/big_run.py: 1M users x 1M items), through Streamlit's AppTest.

    .venv/bin/python bench/big_run.py            # once: writes bench/out/big_run
    .venv/bin/python bench/big_dashboard.py [--run bench/out/big_run] [--pages Users,Items]

Each page is opened cold, in its own process (so a page that never finishes is stopped after --limit
seconds and leaves no thread running behind the next): the run is loaded and the server's one-off
background imports (captum, torch's optimizer) are done, then a fresh AppTest session opens the page, with
every cache of the run empty. Printed per page: the first visit's seconds, a rerun's seconds (same session, nothing
changed), exceptions or error boxes, and that process's peak RSS (the AppTest script runs in it). The goal:
first visits well under ~10 s and reruns under 2 s on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard import state

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
PAGES = {
    "Start": "views/home.py",
    "Data": "views/data.py",
    "Train": "views/train.py",
    "Users": "views/users.py",
    "Model": "views/model.py",
    "Items": "views/items.py",
    "Compare": "views/compare.py",
    "Export": "views/export.py",
}
SEARCH = "Search"  # not a page: on Users, type part of a user id (first s), then open a listed user (rerun s)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: KiB


def problems(at: AppTest) -> str:
    found = [f"exception: {e.value[:200]}" for e in at.exception]
    found += [f"error: {e.value[:200]}" for e in at.error if e.icon != ":material/report:"]  # not the quality verdict
    return "; ".join(found)


def time_page(run, path: str, timeout: float) -> tuple[float, float, str]:
    """(first visit s, rerun s, problems) of one page in a fresh session on `run`."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["run"] = state.ActiveRun(run, "big run")
    t0 = time.perf_counter()
    at.switch_page(path).run()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    at.run()
    again = time.perf_counter() - t0
    return first, again, problems(at)


def time_user_search(run, timeout: float) -> tuple[float, float, str]:
    """(s to list the users whose id contains a typed part, s to open one of them, problems) on Users.

    What the search box's callback leaves in the session is set directly (AppTest cannot type into a
    selectbox): the search text, then the chosen user; the timed rerun does the search and draws the page.
    """
    from dashboard.state import Keys

    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["run"] = state.ActiveRun(run, "big run")
    at.switch_page(PAGES["Users"]).run()
    some = run.seqs.users[run.seqs.n_users // 2]
    at.session_state[Keys.USER_QUERY] = some[: max(len(some) - 2, 1)]  # part of an id: ~100 users match
    t0 = time.perf_counter()
    at.run()
    part = time.perf_counter() - t0
    picker = at.selectbox(key=Keys.USER_PICK)
    listed, chosen = len(picker.options), picker.options[-1].split(" · ")[0]  # the last user the search listed
    t0 = time.perf_counter()
    picker.set_value(chosen).run()  # open it: its timeline, recommendations and explanation
    opened = time.perf_counter() - t0
    shown = at.session_state[Keys.USER] == chosen
    return part, opened, problems(at) or ("" if shown else "chosen user not opened") or f"({listed} users listed)"


def child(run_path: str, name: str, timeout: float) -> None:
    """One page in this process: prints one table row."""
    from dashboard import training
    from ltsi.runs import load_run

    run = load_run(run_path)
    run.model.eval()
    # A server imports what attribution and training need once, in the background, when it starts
    # (training.warm_up): wait for that here, as an analyst opening a run on a running server would, so the
    # timing is the page's own work on the run (whose caches are all cold) and not the server's start-up.
    training.warm_up().join()
    if name == SEARCH:
        first, again, found = time_user_search(run, timeout)
    else:
        first, again, found = time_page(run, PAGES[name], timeout)
    print(f"{name:<8} {first:8.1f} {again:8.1f} {peak_rss_gb():8.1f}  {found}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(ROOT / "bench" / "out" / "big_run"))
    parser.add_argument("--pages", default=",".join([*PAGES, SEARCH]), help="comma-separated page names (and Search)")
    parser.add_argument("--limit", type=float, default=180, help="seconds a page's process may take in all")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one page, in this process
    args = parser.parse_args()
    if args.child:
        child(args.run, args.child, args.limit)
        return

    from ltsi.runs import load_run

    t0 = time.perf_counter()
    run = load_run(args.run)
    seqs = run.seqs
    print(
        f"run {args.run}: {seqs.n_users:,} users, {len(seqs.items) - 1:,} items, {seqs.n_events:,} events; "
        f"loaded in {time.perf_counter() - t0:.1f} s (each page's process loads it again, not timed)",
        flush=True,
    )
    del run, seqs
    print(f"{'page':<8} {'first s':>8} {'rerun s':>8} {'peak GB':>8}  problems", flush=True)
    for name in args.pages.split(","):
        command = [sys.executable, __file__, "--run", args.run, "--child", name, "--limit", str(args.limit)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.limit)
        except subprocess.TimeoutExpired:
            print(
                f"{name:<8} {'>' + str(int(args.limit)):>8} {'-':>8} {'-':>8}  stopped after {args.limit:.0f} s",
                flush=True,
            )
            continue
        rows = [line for line in done.stdout.splitlines() if line.startswith(name)]
        print(rows[-1] if rows else f"{name:<8} failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)


if __name__ == "__main__":
    main()

"""End to end in a real browser: Streamlit server + Playwright driving Debian's Chromium.

Starts `streamlit run dashboard/app.py` headless on a free port, uploads the e-commerce demo CSV
through the file input, trains a tiny model, opens a user and checks that the heatmap and the
recommendations table are on the page. Screenshots of every view go to tests/screenshots/
(git-ignored). A second test opens two browser contexts at once and checks that neither sees the
other's upload. A third uploads a log full of Markdown / HTML and checks it is shown as text and
nothing is fetched from outside. A fourth walks the demo from page to page as an analyst would: Model (a group
of users, one of them) -> that user -> a what-if -> the model beside a saved run -> one item.

Skipped (with the reason) when /usr/bin/chromium is missing: `apt-get install -y --no-install-recommends chromium`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("LTSI_CHROMIUM", "/usr/bin/chromium"))
SHOTS = ROOT / "tests" / "screenshots"
EVENTS = ROOT / "data" / "ecommerce" / "events.csv"
ITEMS = ROOT / "data" / "ecommerce" / "items.csv"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no Chromium at {CHROMIUM}: install it with "
        "`apt-get install -y --no-install-recommends chromium` (.ci/run does)",
    ),
    pytest.mark.skipif(not EVENTS.exists(), reason=f"the e-commerce demo log {EVENTS} is missing"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def library_folder(tmp_path_factory) -> Path:
    """The run library of the test server (empty at first): a test can add runs to it through the library API."""
    return tmp_path_factory.mktemp("library")


@pytest.fixture(scope="module")
def server(library_folder):
    """A headless Streamlit server on a free port, with its own empty run library; yields its URL."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LTSI_MAX_TRAININGS": "1", "LTSI_LIBRARY": str(library_folder)}
    log = open(ROOT / "tests" / ".streamlit-browser-test.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard/app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                pass
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log.name}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def idle(page, timeout: float = 60_000) -> None:
    """Wait until the script has run (Streamlit marks the app 'notRunning')."""
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=timeout)


def goto(page, url: str, view: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(view, exact=True).click()
    page.wait_for_url(f"**/{view.lower()}" if view != "Start" else f"{url}/**")
    idle(page)


def shot(page, name: str) -> None:
    """Screenshot of the whole view: Streamlit scrolls inside its main block, so grow the viewport to fit it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    page.set_viewport_size({"width": size["width"], "height": min(max(int(height), size["height"]), 6000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size(size)


class Steps:
    """Wall time per step, printed at the end (visible with pytest -s): where the browser test spends its time."""

    def __init__(self) -> None:
        self.t = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        print(f"  {name:<28} {now - self.t:6.1f} s")
        self.t = now


def no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0, page.locator(
        "[data-testid='stException']"
    ).first.inner_text()


def test_upload_train_explain_export(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    step = Steps()
    page.goto(server)
    idle(page)
    step("start page")
    # wait, not is_visible(): on a cold server the page can be idle for a moment before its first run
    page.get_by_text("Why did the model recommend that?").wait_for()
    page.get_by_role("button", name="Open the demo").wait_for()
    shot(page, "1-start")

    # Data: upload the e-commerce log through the file input
    goto(page, server, "Data")
    page.get_by_text("Upload a file", exact=True).click()
    idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(EVENTS))
    page.get_by_text("Validation report").wait_for()
    idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").nth(1).set_input_files(str(ITEMS))  # titles
    page.get_by_text("have a title").wait_for()  # the report's note on the item table
    idle(page)
    assert page.get_by_text("46,266").first.is_visible()
    page.locator("[data-testid='stPlotlyChart']").first.wait_for()
    no_exception(page)
    step("data: upload + report")
    shot(page, "2-data")

    # Train: a tiny model
    goto(page, server, "Train")
    budget = page.get_by_role("spinbutton", name="Time budget (s)")
    budget.fill("8")
    page.get_by_role("spinbutton", name="Max. epochs").fill("1")
    page.get_by_role("button", name="Train", exact=True).click()
    # the budget check measures a few batches first; when 8 s is too short for useful training it asks: keep 8 s
    anyway = page.get_by_role("button", name="Train with my budget anyway")
    page.get_by_text("Training ·").or_(anyway).first.wait_for(timeout=120_000)
    if anyway.is_visible():
        shot(page, "3b-budget-check")
        anyway.click()
    page.get_by_test_id("stMainBlockContainer").get_by_test_id("stProgress").wait_for()
    page.get_by_role("button", name="Stop").wait_for()
    page.wait_for_timeout(3_000)  # let the live curves fill in
    shot(page, "3a-training")
    page.get_by_text("Training finished").wait_for(timeout=180_000)
    idle(page)
    step("train")
    no_exception(page)
    assert page.locator("[data-testid='stDataFrame']").count() >= 1  # the results table
    shot(page, "3-train")

    # Users: heatmap + recommendations table
    goto(page, server, "Users")
    page.locator("[data-testid='stPlotlyChart'] .heatmaplayer").first.wait_for()
    assert page.get_by_text("Top recommendations").is_visible()
    assert page.locator("[data-testid='stDataFrame']").count() >= 1
    assert page.get_by_text("long-term interest").first.is_visible()
    no_exception(page)
    step("users")
    shot(page, "4-users")

    # click a heatmap cell (the most recent event of the top row): its numbers appear
    # the click targets are a transparent marker trace over the cells (named "... (click)"; d3 binds each trace's
    # data to its SVG group); the last one is the most recent event, inside the initial view
    page.evaluate(
        """() => {
        const traces = [...document.querySelectorAll("[data-testid='stPlotlyChart'] .scatterlayer .trace")];
        const click = traces.find(t => (t.__data__?.[0]?.trace?.name || "").endsWith("(click)"));
        const points = click.querySelectorAll(".point");
        points[points.length - 1].setAttribute("data-ltsi-click", "1");
        }"""
    )
    marker = page.locator("[data-ltsi-click='1']")
    marker.scroll_into_view_if_needed()
    box = marker.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text("Event #").first.wait_for()
    idle(page)
    # click the second recommendation: the attribution row explains it instead
    before = page.locator("[data-testid='stPlotlyChart'] text").filter(has_text="Attribution to").first.text_content()
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    grid_box = grid.bounding_box()
    page.mouse.move(grid_box["x"] + 12, grid_box["y"] + 35 * 2 + 17)
    page.mouse.click(grid_box["x"] + 12, grid_box["y"] + 35 * 2 + 17)  # row selector of the 2nd row
    page.wait_for_function(
        "b => ![...document.querySelectorAll('text')].some(t => t.textContent === b)", arg=before, timeout=30_000
    )
    idle(page)
    no_exception(page)
    step("users: clicks")

    goto(page, server, "Model")
    page.locator("[data-testid='stPlotlyChart']").nth(2).wait_for(timeout=120_000)
    idle(page, 120_000)
    no_exception(page)
    step("model")
    shot(page, "5-model")

    goto(page, server, "Export")
    no_exception(page)
    step("export")
    shot(page, "6-export")
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Download recommendations (CSV)").click()
    csv = Path(download.value.path()).read_text()
    lines = csv.splitlines()
    assert lines[0].startswith("user_id,rank,item_id,score") and len(lines) == 1 + 10 * 1000
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name="Download the HTML report").click()
    html = Path(download.value.path()).read_text()
    assert "Why these recommendations: user" in html and "<svg" in html and "<script" not in html
    assert len(html.encode()) < 1_000_000
    step("downloads")

    # the Train form is as the user left it, after four other pages (Streamlit alone would reset it)
    goto(page, server, "Train")
    assert page.get_by_role("spinbutton", name="Time budget (s)").input_value() == "8"
    assert page.get_by_role("spinbutton", name="Max. epochs").input_value() == "1"

    # a browser reload starts a new session: the trained run is in the saved runs and opens again
    page.reload()
    idle(page)
    goto(page, server, "Train")
    page.get_by_text("Saved runs", exact=True).wait_for()
    assert "No saved runs yet" not in page.get_by_test_id("stMain").inner_text()  # the run trained above is listed
    page.locator(".st-key-library_open [data-testid^='stBaseButton']").first.click()  # (a keyed element)
    idle(page)
    no_exception(page)
    goto(page, server, "Users")
    page.locator("[data-testid='stPlotlyChart'] .heatmaplayer").first.wait_for()
    no_exception(page)
    step("reload: saved run opened")

    # the one-click demo from the Start page: pre-trained model, straight to a user's timeline
    goto(page, server, "Start")
    page.get_by_role("button", name="Open the demo").click()
    page.wait_for_url("**/users")
    page.locator("[data-testid='stPlotlyChart'] .heatmaplayer").first.wait_for()
    idle(page)
    no_exception(page)
    assert "Demo model" in page.get_by_test_id("stSidebar").inner_text()
    step("open the demo")
    shot(page, "8-demo-user")
    context.close()


def test_sessions_do_not_share_uploads(server, browser, tmp_path):
    """Two browser contexts (= two users) at once: neither sees the other's upload."""
    files = {}
    for who in ("alice", "bob"):
        path = tmp_path / f"{who}_private_log.csv"
        rows = ["user_id,item_id,timestamp"] + [
            f"{who}_u{u},{who}_item{(u * 7 + i) % 13},{1_700_000_000 + 3600 * i}" for u in range(6) for i in range(5)
        ]
        path.write_text("\n".join(rows) + "\n")
        files[who] = path
    contexts = {who: browser.new_context(viewport={"width": 1300, "height": 900}) for who in files}
    pages = {who: contexts[who].new_page() for who in files}
    for who, page in pages.items():
        page.set_default_timeout(60_000)
        page.goto(f"{server}/data")
        idle(page)
        page.get_by_text("Upload a file", exact=True).click()
        idle(page)
    for who, page in pages.items():  # upload both before looking at either
        page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(files[who]))
    for who, page in pages.items():
        page.get_by_text("Validation report").wait_for()
        idle(page)
    for who, page in pages.items():
        other = "bob" if who == "alice" else "alice"
        text = page.locator("[data-testid='stApp']").inner_text()
        assert f"{who}_private_log.csv" in text
        assert f"{other}_private_log.csv" not in text
        # a fresh load of the Data page in the same session keeps its own data, not the other's
        goto(page, server, "Train")
        sidebar = page.get_by_test_id("stSidebar").inner_text()
        assert f"{who}_private_log.csv" in sidebar and other not in sidebar
    shot(pages["bob"], "7-second-session")
    for context in contexts.values():
        context.close()


# a log whose ids, event types, a column name and the file name are Markdown / HTML: all shown as literal text
USER_PAYLOADS = [
    "![x](http://example.invalid/p.png)",
    "[click](https://example.invalid)",
    "**bold**",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
]
ITEM_PAYLOADS = ["![i](http://example.invalid/i.png)", "[item](https://example.invalid/i)", "**item**", "<b>item</b>"]
EVENT_PAYLOADS = ["[view](https://example.invalid/v)", "<img src=y onerror=alert(3)>"]
COLUMN_PAYLOAD = "user **who** <b>id</b>"
FILE_PAYLOAD = "**events** <i>log.csv"  # no "/" in a file name


def payload_log(path: Path) -> Path:
    """30 users x 10 events over 8 items and 2 event types, written with the csv module (quoted as needed)."""
    import csv

    items = [*ITEM_PAYLOADS, "i4", "i5", "i6", "i7"]
    users = [*USER_PAYLOADS, *(f"plain{n}" for n in range(25))]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([COLUMN_PAYLOAD, "item_id", "timestamp", "event_type"])
        for u, uid in enumerate(users):
            for k in range(10):
                ts = 1_700_000_000 + 3600 * u + 60 * k
                writer.writerow([uid, items[(u + 3 * k) % len(items)], ts, EVENT_PAYLOADS[(u + k) % 2]])
    return path


def shown_as_text(page, payloads: list[str]) -> None:
    """The payloads are in the page's visible text, literally; no image or link of theirs is in the main block."""
    body = page.inner_text("body").replace("\u2060", "")  # md_escape breaks autolinks with a word joiner
    missing = [p for p in payloads if p not in body]
    assert not missing, (missing, body)
    main = page.get_by_test_id("stMain")
    for selector, attribute in (("img", "src"), ("a", "href")):
        for element in main.locator(selector).all():
            assert "example.invalid" not in (element.get_attribute(attribute) or ""), element.evaluate(
                "e => e.outerHTML"
            )
    assert main.locator("script", has_text="alert").count() == 0


def test_markup_in_the_data_is_shown_as_text(server, browser, tmp_path):
    """Markdown / HTML in an uploaded log's ids, event types, column name and file name stays text on the
    Data and Train views (and after training), and the page never loads anything from outside."""
    events = payload_log(tmp_path / FILE_PAYLOAD)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    step = Steps()
    page.goto(f"{server}/data")
    idle(page)
    page.get_by_text("Upload a file", exact=True).click()
    idle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(events))
    page.get_by_text("Validation report").wait_for()
    idle(page)
    no_exception(page)
    shown_as_text(page, [FILE_PAYLOAD, COLUMN_PAYLOAD, *EVENT_PAYLOADS])
    step("data: upload + report")
    shot(page, "9-payload-data")

    goto(page, server, "Train")
    shown_as_text(page, [FILE_PAYLOAD])
    page.get_by_role("spinbutton", name="Time budget (s)").fill("10")
    page.get_by_role("spinbutton", name="Max. epochs").fill("1")
    page.get_by_role("button", name="Train", exact=True).click()
    anyway = page.get_by_role("button", name="Train with my budget anyway")
    finished = page.get_by_text("Training finished")
    finished.or_(anyway).first.wait_for(timeout=120_000)
    if anyway.is_visible():
        anyway.click()
    finished.wait_for(timeout=120_000)
    idle(page)
    no_exception(page)
    shown_as_text(page, [FILE_PAYLOAD])
    step("train")
    shot(page, "9-payload-train")

    goto(page, server, "Users")
    page.locator("[data-testid='stPlotlyChart'] .heatmaplayer").first.wait_for()
    idle(page)
    no_exception(page)
    shown_as_text(page, [FILE_PAYLOAD])
    body = page.inner_text("body").replace("\u2060", "")
    assert sum(p in body for p in USER_PAYLOADS) >= 2, body  # the user shown (and the picker)
    assert any(p in body for p in ITEM_PAYLOADS), body  # its events and recommendations
    step("users")
    shot(page, "9-payload-users")

    assert not dialogs, dialogs  # no script from the data ran
    assert not [url for url in requests if "example.invalid" in url]
    outside = [
        url
        for url in requests
        if not url.startswith(("data:", "blob:"))
        and urllib.parse.urlsplit(url).hostname not in ("127.0.0.1", "localhost")
    ]
    assert not outside, outside
    context.close()


def pick_option(page, keyed: str, text: str | None = None, index: int = 0) -> str:
    """Open the selectbox inside `keyed` (a selector of its keyed container), click its option containing `text`
    (else its `index`-th option) and return the option's text."""
    box = page.locator(f"{keyed} input[role='combobox']").first
    box.click()
    box.press("ArrowDown")  # (a click only focuses the combobox; the arrow key opens its list)
    options = page.get_by_role("option")
    option = options.filter(has_text=text).first if text else options.nth(index)
    chosen = option.inner_text()
    option.click()
    idle(page, 120_000)  # a pick on the Model page attributes a group's recommendations again
    return chosen


def shown_option(page, keyed: str) -> str:
    """The text the selectbox inside `keyed` (a selector of its keyed container) shows."""
    return page.locator(f"{keyed} input[role='combobox']").first.input_value()


WHATIF_BEFORE = ["rank", "title", "item_id", "score"]  # the what-if's top 10 before the changes
WHATIF_AFTER = ["rank", "new", "title", "item_id", "score"]  # ... and after them


GRID_ROWS = """header => {
    for (const table of document.querySelectorAll("[data-testid='stDataFrame'] table")) {
        const rows = [...table.querySelectorAll("tr")].map(r => [...r.children].map(c => c.innerText.trim()));
        if (rows.length > 1 && JSON.stringify(rows[0]) === JSON.stringify(header)) return rows.slice(1);
    }
    return null;
}"""


def grid(page, header: list[str]) -> list[list[str]]:
    """The body rows of the dataframe with this header, as text, once it is drawn: Streamlit's grid draws on a
    canvas and mirrors the cells it shows in an accessible table (numbers there are the raw values, not the
    formatted ones)."""
    return page.wait_for_function(GRID_ROWS, arg=header, timeout=30_000).json_value()


def test_walk_model_slice_user_whatif_compare_items(server, browser, library_folder):
    """The analyst's walk through the demo: Model (cut the tested users, a group, one of its users) -> that user
    on the Users page -> add an item to their history -> the demo model beside a saved run -> one item's reach."""
    from ltsi.library import RunLibrary
    from ltsi.runs import load_run

    # a second run in the library to compare with: the demo model itself, so both top-10 lists must be equal
    RunLibrary(library_folder).add_run(load_run(ROOT / "data" / "demo_run"), name="second run")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    main = page.get_by_test_id("stMain")
    step = Steps()
    page.goto(server)
    idle(page)
    page.get_by_role("button", name="Open the demo").click()
    page.wait_for_url("**/users")
    idle(page)
    no_exception(page)
    step("open the demo")

    # Model: cut the tested users by recency, look at one group, pick its second user
    goto(page, server, "Model")
    page.get_by_text("Where the model does well or poorly").wait_for(timeout=120_000)
    idle(page, 120_000)
    page.locator(".st-key-slice_by").get_by_text("time since their previous event").click()
    idle(page, 120_000)
    group = "1 to 7 days"
    pick_option(page, ".st-key-slice", group)
    idle(page, 120_000)
    assert group in shown_option(page, ".st-key-slice")
    assert "93 users in this group" in main.inner_text()  # the demo's tested users away 1 to 7 days
    chosen = pick_option(page, ".st-key-slice_user", index=1)
    user = chosen.split(" · ")[0]
    assert user.startswith("U") and shown_option(page, ".st-key-slice_user").startswith(user)
    no_exception(page)
    step("model: slice, group, user")
    shot(page, "9-walk-1-model-slice")

    # Users: the user picked on the Model page
    page.locator(".st-key-slice_open_user button").first.click()
    page.wait_for_url("**/users")
    page.locator("[data-testid='stPlotlyChart'] .heatmaplayer").first.wait_for()
    idle(page)
    no_exception(page)
    assert shown_option(page, ".st-key-user_pick").startswith(f"{user} · ")
    assert f"{user} has " in main.inner_text()  # the summary line names the user shown
    step("users: the user opened")
    shot(page, "9-walk-2-user")

    # Users: add an item to the history; the explained item's rank change and the new top 10 appear
    find = page.locator("[class*='st-key-wi_find_'] input").first
    find.scroll_into_view_if_needed()
    find.fill("novel")
    find.press("Enter")
    idle(page)
    added = shown_option(page, "[class*='st-key-wi_item_']")
    assert "novel" in added.lower(), added
    page.locator("[class*='st-key-wi_add_'] button").first.click()
    page.get_by_text("With these changes,").wait_for()
    idle(page)
    no_exception(page)
    text = main.inner_text()
    assert f"Added {added} as a " in text and " at the end" in text, text
    before, after = (grid(page, header) for header in (WHATIF_BEFORE, WHATIF_AFTER))
    assert len(before) == len(after) == 10, (before, after)
    before_ids = [row[WHATIF_BEFORE.index("item_id")] for row in before]
    after_ids = [row[WHATIF_AFTER.index("item_id")] for row in after]
    assert [row[1] == "★" for row in after] == [i not in before_ids for i in after_ids]  # ★ marks the new items
    # the sentence's ranks are the explained item's places in the two lists
    said = re.search(r"With these changes, .+ \((\S+)\) (rises|falls|stays): #([\d,]+) → #([\d,]+)", text)
    assert said, text
    explained, direction, rank_before, rank_after = said[1], said[2], int(said[3]), int(said[4])
    assert direction == ("rises" if rank_after < rank_before else "falls" if rank_after > rank_before else "stays")
    for ids, rank in ((before_ids, rank_before), (after_ids, rank_after)):
        assert (ids.index(explained) + 1 if explained in ids else None) == (rank if rank <= 10 else None)
    no_exception(page)
    step("users: what-if add")
    shot(page, "9-walk-3-whatif")

    # Compare: the demo model beside the saved copy of it: equal scores, equal top 10s
    goto(page, server, "Compare")
    pick_option(page, ".st-key-compare_pick", "second run")
    page.locator(".st-key-compare_open button").first.click()
    page.get_by_text("One user under both models").wait_for(timeout=120_000)
    idle(page, 120_000)
    no_exception(page)
    text = main.inner_text()
    assert "B = second run" in text, text
    assert shown_option(page, ".st-key-compare_runs_user") == user  # the user of the walk, under both models
    assert "10 items in both lists (0 of them at another rank), 0 only in A's, 0 only in B's." in text, text
    metrics = {row["model"]: row for row in json.loads((ROOT / "data" / "demo_run" / "metrics.json").read_text())}
    header = ["model", *(f"{m}@10{side}" for m in ("HR", "NDCG", "MRR") for side in (" (A)", " (B)", " change"))]
    table = {row[0]: row[1:] for row in grid(page, header)}
    shown = [float(v) for v in table["LTSI"]]
    a_and_b = [metrics["LTSI"][f"{m}@10"] for m in ("HR", "NDCG", "MRR") for _ in "AB"]
    assert [v for i, v in enumerate(shown) if i % 3 != 2] == pytest.approx(a_and_b, abs=1e-9), table
    assert shown[2::3] == [0.0, 0.0, 0.0], table  # B minus A
    step("compare: two runs")
    shot(page, "9-walk-4-compare")

    # Items: search, pick the second match; the page says how many users get it in their top 10
    goto(page, server, "Items")
    page.get_by_text("Who gets it in their top 10", exact=True).wait_for(timeout=120_000)
    idle(page, 120_000)
    search = page.locator(".st-key-item_query input").first
    search.fill("sneaker")
    search.press("Enter")
    idle(page, 120_000)
    chosen = pick_option(page, ".st-key-item_pick", index=1)
    label, lists = re.fullmatch(r"(.+ \(P\d+\)) · in ([\d,]+) top-10 lists?", chosen).groups()
    assert "sneaker" in label.lower(), label
    idle(page, 120_000)
    assert shown_option(page, ".st-key-item_pick") == chosen
    n = int(lists.replace(",", ""))
    gets = f"{label} is in the top 10 of {n:,} user{'s' * (n != 1)} of 1,000 ({n / 1000:.1%})"
    assert gets in main.inner_text(), main.inner_text()
    no_exception(page)
    step("items: search, pick")
    shot(page, "9-walk-5-items")
    context.close()

"""Logs and runs on the server: which paths and queries the dashboard may read (ltsi.server_sources), and the
Data and Train pages opening them (through AppTest)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Selectbox
from test_dashboard import APP, TIMEOUT, needs_demo_run, ok, with_demo
from test_seen import typed_into_selectbox

from dashboard.text import md_escape
from ltsi import warehouse
from ltsi.errors import LTSIError
from ltsi.server_sources import ENV, allowed_folders, check_path, check_sql, tokenize


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """ok/ (allowed: events.parquet, logs/a.csv, logs/b.csv) and out/ (not allowed: secret.csv)."""
    ok_dir, out = tmp_path / "ok", tmp_path / "out"
    (ok_dir / "logs").mkdir(parents=True)
    out.mkdir()
    (ok_dir / "events.parquet").write_bytes(b"PAR1")
    (ok_dir / "logs" / "a.csv").write_text("user,item\n")
    (ok_dir / "logs" / "b.csv").write_text("user,item\n")
    (out / "secret.csv").write_text("password\n")
    return {"ok": ok_dir.resolve(), "out": out.resolve()}


def refused(call, *args, match: str) -> None:
    with pytest.raises(LTSIError, match=match):
        call(*args)


# ---------------------------------------------------------------------------------------------
# allowed folders


def test_allowed_folders_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert allowed_folders() == ()
    monkeypatch.setenv(ENV, "  ")
    assert allowed_folders() == ()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    listed = os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b" / ".." / "b"), str(tmp_path / "a")])
    monkeypatch.setenv(ENV, listed)
    assert allowed_folders() == ((tmp_path / "a").resolve(), (tmp_path / "b").resolve())  # resolved, once each


def test_no_allowed_folder_refuses_every_path_and_says_how_to_allow(tree, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    refused(check_path, str(tree["ok"] / "events.parquet"), match=ENV)
    refused(check_sql, f"SELECT * FROM read_parquet('{tree['ok']}/events.parquet')", match=ENV)


# ---------------------------------------------------------------------------------------------
# paths


def test_paths_inside_are_accepted_and_resolved(tree, monkeypatch):
    folders = (tree["ok"],)
    assert check_path(str(tree["ok"] / "events.parquet"), folders) == tree["ok"] / "events.parquet"
    assert check_path(str(tree["ok"] / "logs" / ".." / "events.parquet"), folders) == tree["ok"] / "events.parquet"
    assert check_path(f"  {tree['ok'] / 'logs'}  ", folders) == tree["ok"] / "logs"  # a folder, spaces trimmed
    assert check_path(str(tree["ok"] / "logs" / "*.csv"), folders) == tree["ok"] / "logs" / "*.csv"
    assert check_path(str(tree["ok"] / "**" / "*.csv"), folders) == tree["ok"] / "**" / "*.csv"
    monkeypatch.chdir(tree["ok"])
    assert check_path("events.parquet", folders) == tree["ok"] / "events.parquet"  # relative to where it runs


def test_path_traversal_is_refused(tree):
    folders = (tree["ok"],)
    refused(check_path, str(tree["ok"] / ".." / "out" / "secret.csv"), folders, match="outside the folders")
    refused(check_path, str(tree["ok"] / "logs" / ".." / ".." / "out"), folders, match="outside the folders")
    refused(check_path, "/etc/passwd", folders, match="outside the folders")
    refused(check_path, str(tree["ok"]) + "/*/../../out/*.csv", folders, match=r"cannot go up a folder \('..'\)")
    # a folder whose name starts like an allowed one is not inside it
    sibling = tree["ok"].parent / "ok2"
    sibling.mkdir()
    (sibling / "x.csv").write_text("a\n")
    refused(check_path, str(sibling / "x.csv"), folders, match="outside the folders")


def test_links_that_lead_outside_are_refused(tree):
    folders = (tree["ok"],)
    (tree["ok"] / "link.csv").symlink_to(tree["out"] / "secret.csv")
    refused(check_path, str(tree["ok"] / "link.csv"), folders, match="outside the folders")
    # through a folder or a pattern that reads the link, and a hidden one that '*' would skip in Python
    refused(check_path, str(tree["ok"]), folders, match="link.csv, which")
    refused(check_path, str(tree["ok"] / "*.csv"), folders, match="link.csv, which")
    (tree["ok"] / "link.csv").unlink()
    (tree["ok"] / "logs" / ".hidden.csv").symlink_to(tree["out"] / "secret.csv")
    refused(check_path, str(tree["ok"] / "logs" / "*"), folders, match="hidden.csv, which")
    (tree["ok"] / "logs" / ".hidden.csv").unlink()
    (tree["ok"] / "shortcut").symlink_to(tree["out"])  # a linked folder inside
    refused(check_path, str(tree["ok"] / "shortcut" / "secret.csv"), folders, match="outside the folders")
    refused(check_path, str(tree["ok"]), folders, match="shortcut, which")


def test_an_allowed_folder_that_is_a_link_allows_its_target(tree, tmp_path):
    (tmp_path / "alias").symlink_to(tree["ok"])
    assert check_path(str(tmp_path / "alias" / "events.parquet"), (tree["ok"],)) == tree["ok"] / "events.parquet"


def test_home_urls_missing_files_and_control_characters(tree, monkeypatch):
    folders = (tree["ok"],)
    monkeypatch.chdir(tree["ok"])
    monkeypatch.setenv("HOME", str(tree["out"]))  # '~' is the home folder (as DuckDB reads it), not ./~
    refused(check_path, "~/secret.csv", folders, match="outside the folders")
    refused(check_path, "s3://bucket/events.parquet", folders, match="not web addresses")
    refused(check_path, "https://example.com/e.csv", folders, match="not web addresses")
    refused(check_path, str(tree["ok"] / "nothing.csv"), folders, match="There is no file or folder")
    refused(check_path, str(tree["ok"] / "*.json"), folders, match="No file matches")
    refused(check_path, str(tree["ok"] / "events.parquet") + "\n/etc/passwd", folders, match="line break")
    refused(check_path, "   ", folders, match="Give the path")


# ---------------------------------------------------------------------------------------------
# SQL


def test_one_select_over_allowed_files_is_accepted(tree, monkeypatch):
    folders = (tree["ok"],)
    events = tree["ok"] / "events.parquet"
    assert check_sql(f"SELECT user, item FROM read_parquet('{events}') WHERE event = 'add.to.cart';", folders) == (
        events,
    )
    query = (
        f"with t as (SeLeCt * from READ_CSV(['{tree['ok']}/logs/a.csv', '{tree['ok']}/logs/b.csv'], header = true))"
        " -- the two logs\n  select user AS \"user id\", 'it''s' AS note FROM t /* a comment; with a semicolon */"
    )
    assert check_sql(query, folders) == (tree["ok"] / "logs" / "a.csv", tree["ok"] / "logs" / "b.csv")
    assert check_sql(f"SELECT * FROM '{events}'", folders) == (events,)  # a quoted file in FROM is read too
    assert check_sql("SELECT 1 AS user_id, 2 AS item_id", folders) == ()  # reads no file


@pytest.mark.parametrize(
    "query, match",
    [
        ("SELECT 1; ATTACH 'x.db'", "Only one statement"),
        ("SELECT 1;;", "Only one statement"),
        ("select 1 ；", "not accepted in a query outside quotes"),  # a full-width semicolon is no separator
        ("ATTACH 'x.db' AS x", "starts with SELECT or WITH"),
        ("FROM read_parquet('{ok}/events.parquet')", "starts with SELECT or WITH"),
        ("  copy (SELECT 1) TO '{ok}/x.csv'", "starts with SELECT or WITH"),
        ("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", "the command INSERT"),
        ("SELECT * FROM read_parquet('{ok}/events.parquet') WHERE pragma_x = 1 OR LoAd = 2", "the command LOAD"),
        ("SELECT 1 /* ; */ UNION SELECT 2 FROM (PRAGMA database_list)", "the command PRAGMA"),
        ("with x as (select 1) select * from x, (install httpfs)", "the command INSTALL"),
        ("SELECT 1 WHERE 1 = (SET threads = 1)", "the command SET"),
        ("SELECT 1 -- a comment ends at a carriage return\r; ATTACH 'x.db'", "Only one statement"),
        ("SELECT 1 /* outer /* inner */ ; ATTACH 'x.db' */", "Comments inside comments"),
        ("SELECT 1 /* never closed ; ATTACH 'x.db'", "not closed with"),
        ("SELECT 'not closed ; ATTACH ", "quoted text is not closed"),
        ("SELECT 'a\\'; ATTACH 'b'", "Only one statement"),  # a backslash does not escape the quote
        ("SELECT E'\\'; ATTACH' AS x", "Text written right after a word"),
        ("SELECT $$; ATTACH 'x'$$", "'\\$' is not accepted"),
        ("SELECT $tag$a$tag$", "'\\$' is not accepted"),
        ("SELECT * FROM read_text('{ok}/events.parquet')", "function read_text is not accepted"),
        ("SELECT * FROM Read_JSON_auto('{ok}/events.parquet')", "function read_json_auto is not accepted"),
        ("SELECT * FROM glob('{ok}/*')", "function glob is not accepted"),
        ("SELECT * FROM query('ATTACH 1')", "function query is not accepted"),
        ("SELECT getenv('HOME')", "function getenv is not accepted"),
        ("SELECT * FROM duckdb_settings()", "function duckdb_settings is not accepted"),
        ("SELECT * FROM \"read_text\"('/etc/passwd')", "Write function names without quotes"),
        ("SELECT * FROM read_csv(path) , (SELECT '/x' AS path)", "Give read_csv the file as quoted text"),
        ("SELECT * FROM read_csv('{ok}/logs/a' || '.csv')", "Give read_csv the file as quoted text"),
        ("SELECT * FROM read_parquet(['{ok}/events.parquet', name])", "Give read_parquet the file"),
        ("SELECT * FROM read_parquet('{ok}/../out/secret.csv')", "outside the folders"),
        ("SELECT * FROM read_csv(['{ok}/logs/a.csv', '{out}/secret.csv'])", "outside the folders"),
        ("SELECT * FROM '{out}/secret.csv'", "outside the folders"),
        ('SELECT * FROM "{out}/secret.csv"', "outside the folders"),  # a quoted name is read as a file too
        ("SELECT * FROM 'secret.CSV'", "outside the folders"),  # relative to where it runs (out/ here)
        ("SELECT * FROM read_parquet('https://example.com/e.parquet')", "not web addresses"),
        ("SELECT * FROM read_parquet('~/secret.csv')", "outside the folders"),
        ('SELECT 1 AS "a\nb"', "line break"),
        ("SELECT 1\x00", "control character"),
        ("", "The query is empty"),
        ("-- only a comment", "The query is empty"),
    ],
)
def test_queries_that_could_do_more_than_read_allowed_files_are_refused(tree, monkeypatch, query, match):
    monkeypatch.chdir(tree["out"])
    monkeypatch.setenv("HOME", str(tree["out"]))
    refused(check_sql, query.format(ok=tree["ok"], out=tree["out"]), (tree["ok"],), match=match)


def test_tokens_read_quotes_as_duckdb_does():
    texts = [t.value for t in tokenize("SELECT 'a''b', \"c\"\"d\" -- 'e'\n FROM x") if t.kind in ("text", "name")]
    assert texts == ["a'b", 'c"d']
    words = [t.value for t in tokenize("SeLeCt CoUnT(*) FrOm t") if t.kind == "word"]
    assert words == ["select", "count", "from", "t"]


# ---------------------------------------------------------------------------------------------
# The Data and Train pages

USERS = [f"u{u}" for u in range(6)]


def small_parquet(folder: Path) -> Path:
    """6 users (u0..u5) with u + 3 events each over 5 items, views and one purchase each, on 3 days of 2024."""
    rows = [
        {
            "user_id": user,
            "item_id": f"i{(u + k) % 5}",
            "timestamp": pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(hours=10 * k + u),
            "event_type": "purchase" if k == u + 2 else "view",
        }
        for u, user in enumerate(USERS)
        for k in range(u + 3)
    ]
    path = folder / "events.parquet"
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def stand_in_scan(source, *, sql=None, mapping=None, filters=None, sample_users=None, min_events=1, seed=0):
    """`ltsi.warehouse.scan` as load_events + apply_filters + build_sequences (while the engine is being written);
    the sample keeps the first `sample_users` users and counts the others' rows as not sampled."""
    from ltsi.events import load_events
    from ltsi.filters import apply_filters
    from ltsi.sequences import build_sequences

    log = load_events(Path(source).read_bytes(), name=Path(source).name, min_events=min_events)
    if sample_users is not None and log.report.n_users > sample_users:
        kept = log.events["user_id"].isin(sorted(log.events["user_id"].unique())[:sample_users])
        log.report.dropped[warehouse.reason_not_sampled(sample_users)] = int((~kept).sum())
        log.report.rows_kept, log.report.n_users = int(kept.sum()), sample_users
        log.events = log.events[kept].reset_index(drop=True)
    if filters is not None:
        log = apply_filters(log, filters, min_events)
    return warehouse.ScanResult(build_sequences(log.events), log.report, log.items)


@pytest.fixture
def server(tmp_path, monkeypatch) -> Path:
    """An allowed folder holding a small Parquet log (the real scan when it exists, else a stand-in)."""
    folder = tmp_path / "allowed"
    folder.mkdir()
    small_parquet(folder)
    monkeypatch.setenv(ENV, str(folder))
    if not hasattr(warehouse, "scan"):
        monkeypatch.setattr(warehouse, "scan", stand_in_scan, raising=False)
    return folder.resolve()


def data_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    return at.switch_page("views/data.py").run()


def open_on_server(at: AppTest, path: str, sample: int) -> AppTest:
    at.radio(key="data_source").set_value("server").run()
    at.text_input(key="server_path").input(path)
    at.number_input[0].set_value(sample)
    return next(b for b in at.button if b.label == "Open").click().run()


def test_without_allowed_folders_the_server_sources_are_hidden_with_a_note(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    at = ok(data_page())
    assert at.radio(key="data_source").options == ["E-commerce demo", "MovieLens 100K", "Upload a file"]
    assert any(md_escape(ENV) in c.value for c in at.caption)  # the note says how to allow folders


def test_a_log_on_the_server_opens_with_its_report_charts_and_filters(server):
    at = ok(open_on_server(data_page(), str(server / "events.parquet"), 0))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows kept"] == f"{sum(u + 3 for u in range(6)):,}"  # 3 + 4 + ... + 8 = 33
    assert metrics["Users"] == "6" and metrics["Items"] == "5" and metrics["Event types"] == "2"
    assert "Every user of the log is here" not in " ".join(c.value for c in at.caption)  # no sample was asked
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(titles) == 4 and any("Events per user (6 users" in t for t in titles)
    dataset = at.session_state["dataset"]
    assert dataset.kind == "server" and dataset.sequences()[0].n_users == 6
    # the filters scan again: only the purchases leave one event per user
    at.multiselect(key="server_event_types").set_value(["purchase"])
    at = ok(next(b for b in at.button if b.label == "Apply").click().run())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows kept"] == "6" and metrics["Event types"] == "1"
    assert at.session_state["dataset"].filters.event_types == ("purchase",)


def test_a_sample_of_users_is_said_on_the_page(server):
    at = ok(open_on_server(data_page(), str(server / "*.parquet"), 3))
    drawn = at.session_state["dataset"].sequences()[0].n_users
    assert 0 < drawn < len(USERS)  # about 3 of the 6 users (the engine draws them by a hash of their id)
    assert any(i.value.startswith(f"This is a sample: {drawn} users") for i in at.info)


def test_a_path_outside_the_allowed_folders_is_refused(server, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    small_parquet(outside)
    at = open_on_server(data_page(), str(server / ".." / "elsewhere" / "events.parquet"), 0)
    assert not at.exception
    assert any("outside the folders the dashboard may read" in e.value for e in at.error)
    assert at.session_state["dataset"].kind != "server"  # the demo opened first is still the data in use


def test_the_train_page_opens_a_run_folder_on_the_server(server, tmp_path, tiny_fitted_run):
    from ltsi.runs import save_run

    save_run(tiny_fitted_run, server / "runs" / "cli_run")
    save_run(tiny_fitted_run, tmp_path / "outside_run")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("views/train.py").run()

    at.text_input(key="run_folder").input(str(server / ".." / "outside_run"))
    at = next(b for b in at.button if b.label == "Open this run").click().run()
    assert any("outside the folders" in e.value for e in at.error) and "run" not in at.session_state

    at.text_input(key="run_folder").input(str(server / "runs" / "cli_run"))
    at = ok(next(b for b in at.button if b.label == "Open this run").click().run())
    assert at.session_state["run"].name == "run cli_run"
    assert at.session_state["run"].run.seqs.n_users == tiny_fitted_run.seqs.n_users
    assert any(md_escape("run cli_run") in s.value for s in at.success)


@needs_demo_run
def test_with_very_many_users_the_export_report_picker_lists_a_few_and_takes_a_typed_id(monkeypatch):
    from dashboard import state, widgets

    monkeypatch.setattr(widgets, "MAX_SELECTBOX_USERS", 50)  # the demo's 1,000 users count as very many
    monkeypatch.setattr(Selectbox, "_widget_state", property(typed_into_selectbox))  # typed ids, as a browser
    at = with_demo(AppTest.from_file(APP, default_timeout=TIMEOUT), state.load_demo_run())
    at = ok(at.switch_page("views/export.py").run())
    picker = at.selectbox(key="export_user")
    users = at.session_state["run"].run.seqs.users
    assert picker.label == "User (type an id)" and len(picker.options) <= 201 and picker.value == users[0]
    at = ok(picker.set_value(users[900]).run())  # an id beyond the list is accepted
    assert at.selectbox(key="export_user").value == users[900] and not at.warning
    at = picker.set_value("nobody").run()
    assert any("There is no user nobody" in w.value for w in at.warning)
    assert at.selectbox(key="export_user").value == users[0]  # the report stays on a user who exists

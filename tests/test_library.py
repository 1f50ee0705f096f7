"""The run library: saved runs survive the session, are listed and searched, reopen identical, share stored logs,
and take users' names only as text; the Train page's section opens, renames and deletes them (AppTest)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest
from test_dashboard import TIMEOUT, ok

from dashboard.state import ActiveRun
from dashboard.text import md_escape
from ltsi.errors import LTSIError
from ltsi.library import INDEX, RunLibrary, default_root, log_extension
from ltsi.runs import fingerprint

LOG = b"user,item,ts\nu1,i1,1700000000\nu1,i2,1700000060\n"
HOSTILE = "'; DROP TABLE runs;-- **bold** [link](http://example.com) <script>x</script>"


def hand_scores(run) -> dict:
    """LTSI's and the best baseline's test NDCG@10 / HR@10, read off the run's own metric rows."""
    rows = {row["model"]: row for row in run.metrics if row["split"] == "test"}
    baselines = [name for name in rows if not name.startswith("LTSI")]
    best = max(baselines, key=lambda name: rows[name]["NDCG@10"])
    return {
        "ltsi": (rows["LTSI"]["NDCG@10"], rows["LTSI"]["HR@10"]),
        "baseline": best,
        "baseline_scores": (rows[best]["NDCG@10"], rows[best]["HR@10"]),
    }


def test_the_library_lives_where_the_operator_says(library_folder, monkeypatch, tmp_path):
    assert default_root() == library_folder and RunLibrary().root == library_folder
    monkeypatch.delenv("LTSI_LIBRARY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "ltsi" / "library"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_root() == Path.home() / ".local" / "share" / "ltsi" / "library"


def test_add_list_search_rename_delete_round_trip(tiny_fitted_run, library_folder):
    run = tiny_fitted_run
    library = RunLibrary()
    first = library.add_run(run, "Shop model", LOG, "events.csv")
    second = library.add_run(run, "Second try", None, "", data_name="E-commerce demo (synthetic shop)")

    assert [e.id for e in library.list_runs()] == [second.id, first.id]  # newest first
    seqs = run.seqs
    assert (first.n_users, first.n_items, first.n_events) == (seqs.n_users, len(seqs.items) - 1, seqs.n_events)
    assert first.fingerprint == fingerprint(seqs) and first.data_name == "events.csv"
    assert first.data_hash == hashlib.sha256(LOG).hexdigest() and second.data_hash is None
    expected = hand_scores(run)
    assert (first.ltsi_ndcg, first.ltsi_hr) == pytest.approx(expected["ltsi"])
    assert first.baseline == expected["baseline"]
    assert (first.baseline_ndcg, first.baseline_hr) == pytest.approx(expected["baseline_scores"])
    assert first.settings["model"]["dim"] == 8 and first.settings["train"]["epochs"] == 1
    assert first.created.endswith("+00:00")  # UTC

    assert [e.id for e in library.list_runs("SECOND")] == [second.id]  # any case
    assert [e.id for e in library.list_runs("events.csv")] == [first.id]  # the data's name too
    assert [e.id for e in library.list_runs("synthetic try")] == [second.id]  # every word, name or data
    assert library.list_runs("nothing like it") == []

    assert library.rename(first.id, "  Shop   model, final ").name == "Shop model, final"
    assert library.get(first.id).name == "Shop model, final"
    with pytest.raises(LTSIError, match="needs a name"):
        library.rename(first.id, "   ")

    folder, log = library.run_folder(first.id), library.log_path(first.id)
    assert folder.is_dir() and log.read_bytes() == LOG
    library.delete(first.id)
    assert not folder.exists() and not log.exists()  # no other run used that log
    assert [e.id for e in library.list_runs()] == [second.id]
    with pytest.raises(LTSIError, match="no saved run"):
        library.get(first.id)
    assert sorted(p.name for p in (library_folder / "runs").iterdir()) == [second.id]  # nothing left behind


def test_open_run_gives_the_same_weights_and_metrics(tiny_fitted_run):
    run = tiny_fitted_run
    library = RunLibrary()
    entry = library.add_run(run, "to reopen", LOG, "events.csv")
    opened = RunLibrary().open_run(entry.id)  # another instance: only the disk is shared
    saved, loaded = run.model.state_dict(), opened.model.state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[key], loaded[key]) for key in saved)
    assert opened.metrics == run.metrics
    assert fingerprint(opened.seqs) == fingerprint(run.seqs)


def test_the_same_log_stored_twice_is_one_file(tiny_fitted_run, library_folder):
    library = RunLibrary()
    one = library.add_run(tiny_fitted_run, "one", LOG, "events.csv")
    two = library.add_run(tiny_fitted_run, "two", LOG, "copy of events.csv")
    stored = sorted((library_folder / "logs").iterdir())
    assert [p.name for p in stored] == [f"{hashlib.sha256(LOG).hexdigest()}.csv"]
    assert library.log_path(one.id) == library.log_path(two.id) == stored[0]
    library.delete(one.id)
    assert stored[0].read_bytes() == LOG  # still used by "two"
    library.delete(two.id)
    assert not stored[0].exists()


def test_sessions_adding_at_once_all_land_in_the_index(tiny_fitted_run, library_folder):
    errors = []

    def add(number: int) -> None:
        try:
            RunLibrary().add_run(tiny_fitted_run, f"run {number}", LOG, "events.csv")
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(e.name for e in RunLibrary().list_runs()) == [f"run {n}" for n in range(4)]
    assert len(list((library_folder / "logs").iterdir())) == 1


def test_a_deleted_folder_is_reported_and_its_row_dropped(tiny_fitted_run):
    library = RunLibrary()
    kept = library.add_run(tiny_fitted_run, "kept", None, "")
    lost = library.add_run(tiny_fitted_run, "lost by hand", LOG, "events.csv")
    log = library.log_path(lost.id)
    shutil.rmtree(library.run_folder(lost.id))
    assert [e.name for e in library.drop_missing()] == ["lost by hand"]
    assert [e.id for e in library.list_runs()] == [kept.id] and not log.exists()

    shutil.rmtree(library.run_folder(kept.id))
    with pytest.raises(LTSIError, match="'kept' is gone: its folder .* was deleted or moved"):
        library.open_run(kept.id)
    assert library.list_runs() == []


def test_hostile_names_round_trip_as_text(tiny_fitted_run, library_folder):
    library = RunLibrary()
    entry = library.add_run(tiny_fitted_run, HOSTILE, LOG, "../../etc/passwd.c$v", data_name=HOSTILE)
    assert library.get(entry.id).name == HOSTILE and library.get(entry.id).data_name == HOSTILE
    assert [e.name for e in library.list_runs("drop table")] == [HOSTILE]
    assert library.rename(entry.id, HOSTILE + "'); --").name == HOSTILE + "'); --"
    # the stored log stays inside the library, named by its content only
    assert library.log_path(entry.id).parent == library_folder / "logs"
    assert library.log_path(entry.id).name == f"{entry.data_hash}.log"
    with sqlite3.connect(library_folder / INDEX) as connection:
        assert connection.execute("SELECT count(*) FROM runs").fetchone() == (1,)


def test_log_extension_keeps_letters_and_digits_only():
    assert log_extension("events.csv.gz") == "csv.gz"
    assert log_extension("ratings.dat") == "dat"
    assert log_extension("C:\\data\\log.TSV") == "tsv"
    assert log_extension("../../x/../passwd") == "log"
    assert log_extension("a.c$v") == "log"


# ---------------------------------------------------------------------------------------------
# The dashboard side


def library_page() -> None:
    from dashboard.library import render_library

    render_library()


def autosave_twice() -> None:
    from dashboard import library, state

    active = state.run()
    library.autosave(active, *library.training_log(active))
    library.autosave(active, *library.training_log(active))


def test_autosave_twice_saves_once_and_without_a_log_when_none_was_uploaded(tiny_fitted_run):
    from dataclasses import replace

    from dashboard import state

    dataset = state.read_dataset(LOG, "my events.csv", "upload")
    run = replace(tiny_fitted_run, seqs=dataset.sequences()[0])  # as a training on this dataset returns it
    at = AppTest.from_function(autosave_twice, default_timeout=TIMEOUT)
    at.session_state["dataset"] = dataset
    at.session_state["run"] = ActiveRun(run, "Trained on my events.csv (10:00)")
    at.session_state["library_log"] = None
    at.run()
    ok(at)
    entries = RunLibrary().list_runs()
    assert [(e.name, e.data_name) for e in entries] == [("Trained on my events.csv (10:00)", "my events.csv")]
    assert entries[0].data_hash is None  # no log was remembered: saved without it
    assert at.session_state["run"].library_id == entries[0].id


def remember_then_autosave() -> None:
    from dashboard import library, state

    library.remember_log(state.dataset().source[0], "my events.csv")
    active = state.run()
    library.autosave(active, *library.training_log(active))


def test_autosave_stores_the_remembered_log_of_the_run_data(tiny_fitted_run):
    from dataclasses import replace

    from dashboard import state

    dataset = state.read_dataset(LOG, "my events.csv", "upload")
    at = AppTest.from_function(remember_then_autosave, default_timeout=TIMEOUT)
    at.session_state["dataset"] = dataset
    at.session_state["run"] = ActiveRun(replace(tiny_fitted_run, seqs=dataset.sequences()[0]), "with its log")
    at.run()
    ok(at)
    (entry,) = RunLibrary().list_runs()
    assert entry.data_hash == hashlib.sha256(LOG).hexdigest()
    assert RunLibrary().log_path(entry.id).read_bytes() == LOG


def test_library_section_lists_opens_renames_and_deletes(tiny_fitted_run, library_folder):
    library = RunLibrary()
    older = library.add_run(tiny_fitted_run, "older", LOG, "events.csv")
    hostile = library.add_run(tiny_fitted_run, HOSTILE, None, "", data_name="demo")

    at = ok(AppTest.from_function(library_page, default_timeout=TIMEOUT).run())  # a new session: a reload
    table = at.dataframe[0].value
    assert list(table["Name"]) == [HOSTILE, "older"] and list(table["Data"]) == ["demo", "events.csv"]
    assert list(table["Users"]) == [tiny_fitted_run.seqs.n_users] * 2
    assert table["LTSI NDCG@10"].iloc[1] == pytest.approx(hand_scores(tiny_fitted_run)["ltsi"][0])

    at.selectbox(key="library_pick").set_value(older.id).run()
    at.button(key="library_open").click().run()
    ok(at)
    active = at.session_state["run"]
    assert active.library_id == older.id and active.name == "older"
    assert "Opened **older**" in at.success[0].value

    at.selectbox(key="library_pick").set_value(hostile.id).run()
    at.text_input(key="library_new_name").input("renamed *safely*").run()
    at.button(key="library_rename").click().run()
    ok(at)
    assert library.get(hostile.id).name == "renamed *safely*"
    assert md_escape("renamed *safely*") in at.success[0].value

    at.button(key="library_delete").click().run()
    assert "for good?" in at.warning[0].value and library.get(hostile.id)  # asked first, nothing deleted yet
    at.button(key="library_delete_yes").click().run()
    ok(at)
    assert [e.id for e in library.list_runs()] == [older.id]
    assert list(at.dataframe[0].value["Name"]) == ["older"]

    at.text_input(key="library_query").input("no such run").run()
    assert "No saved run matches" in at.info[0].value


def test_opening_a_run_whose_folder_is_gone_says_so(tiny_fitted_run):
    library = RunLibrary()
    entry = library.add_run(tiny_fitted_run, "vanishing", None, "")
    at = ok(AppTest.from_function(library_page, default_timeout=TIMEOUT).run())
    shutil.rmtree(library.run_folder(entry.id))
    at.button(key="library_open").click().run()
    assert "vanishing" in at.error[0].value and "deleted or moved" in at.error[0].value
    assert "run" not in at.session_state or at.session_state["run"] is None

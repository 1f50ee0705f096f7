"""Defects a reviewer found walking the Data page in a browser: filter choices carried over from the log loaded
before, the sidebar gone after a failed upload, command-line options named in the dashboard's errors (and no
way there to choose another column), a number in scientific notation, an axis title over its tick labels."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from test_cli import assert_one_line_error, invoke
from test_dashboard import app, ok

from dashboard import figures
from ltsi.columns import ColumnError, detect_columns
from ltsi.events import load_events

DEMO_TYPES = ["cart", "purchase", "view"]  # the e-commerce demo's event types


def shop_log(kinds: tuple[str, ...]) -> bytes:
    """20 users with 6 events each, one a day from 2021-03-01, event types `kinds` in turn."""
    rows = "".join(
        f"u{u:02d},i{(u + k) % 9},2021-03-0{k + 1} 10:{u:02d}:00,{kinds[k % len(kinds)]}\n"
        for u in range(20)
        for k in range(6)
    )
    return ("user,item,time,event\n" + rows).encode()


def upload(at, name: str, data: bytes):
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_events").set_value((name, data, "text/csv")).run()
    return at


def data_page_on_the_demo():
    at = app()
    at.switch_page("views/data.py").run()  # the e-commerce demo is loaded
    assert sorted(at.multiselect(key="map_event_types").value) == DEMO_TYPES
    return at


# ---- 1. the filter form starts from the new log, not from the choices made on the one before


@pytest.mark.parametrize(
    "kinds",
    [("buy", "cart", "view"), ("click", "like")],  # two types shared with the demo; none shared
)
def test_every_event_type_of_a_new_log_is_kept_by_default_and_apply_removes_none(kinds):
    at = upload(data_page_on_the_demo(), "shop.csv", shop_log(kinds))
    ok(at)
    assert sorted(at.multiselect(key="map_event_types").value) == sorted(kinds)
    assert at.date_input(key="map_dates").value == (dt.date(2021, 3, 1), dt.date(2021, 3, 6))  # not the demo's

    at.button(key="FormSubmitter:mapping_form-Apply").click().run()
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows kept"], metrics["Rows dropped"]) == ("120", "0")
    assert at.session_state["dataset"].filters is None
    assert not [i for i in at.info if "Filters removed" in i.value]


def test_choices_made_on_one_log_do_not_start_the_form_of_the_next():
    at = data_page_on_the_demo()
    at.number_input(key="map_min_events").set_value(4)
    at.multiselect(key="map_event_types").set_value(["purchase"])
    at.button(key="FormSubmitter:mapping_form-Apply").click().run()
    ok(at)
    assert list(at.session_state["dataset"].filters.event_types) == ["purchase"]
    at.run()  # the same log: the analyst's choices stay while it is active
    assert at.number_input(key="map_min_events").value == 4
    assert at.multiselect(key="map_event_types").value == ["purchase"]

    upload(at, "shop.csv", shop_log(("purchase", "view")))
    ok(at)
    assert at.number_input(key="map_min_events").value == 1  # what the new log was read with
    assert sorted(at.multiselect(key="map_event_types").value) == ["purchase", "view"]


# ---- 2. the sidebar's panel stays when a page stops early


def sidebar_text(at) -> str:
    return " ".join([m.value for m in at.sidebar.markdown] + [c.value for c in at.sidebar.caption])


def test_a_failed_upload_keeps_the_active_data_in_the_sidebar():
    at = upload(data_page_on_the_demo(), "missing_user.csv", b"item_id,timestamp\ni0,1700000000\ni1,1700000060\n")
    assert not at.exception and len(at.error) == 1
    assert "The data in use is still" in at.info[0].value
    text = sidebar_text(at)
    assert "Active data" in text and "E-commerce demo" in text and "Active model" in text


def test_a_page_that_stops_for_want_of_a_model_keeps_the_sidebar():
    at = app()
    at.switch_page("views/users.py").run()  # no model: the page stops after saying so
    ok(at)
    text = sidebar_text(at)
    assert "Active data" in text and "Active model" in text


# ---- 3. column errors: neutral in the library, the option on the command line, the form in the dashboard


def test_a_missing_column_is_a_column_error_naming_no_command_line_option():
    frame = pd.DataFrame({"item_id": ["i0", "i1"], "timestamp": [1700000000, 1700000060]})
    with pytest.raises(ColumnError) as caught:
        detect_columns(frame)
    error = caught.value
    assert (error.role, error.columns) == ("user", ["item_id", "timestamp"])
    assert str(error) == (
        "No user column was found (columns: item_id, timestamp). Name the column that identifies the user."
    )


def test_every_row_dropped_for_its_times_is_a_column_error_on_the_time_column():
    log = b"user_id,item_id,timestamp,when\n" + b"".join(
        f"u{u},i{u},yesterday,{1700000000 + u}\n".encode() for u in range(5)
    )
    with pytest.raises(ColumnError) as caught:
        load_events(log, name="times.csv")
    error = caught.value
    assert error.role == "timestamp" and error.columns == ["user_id", "item_id", "timestamp", "when"]
    assert error.chosen == {"user": "user_id", "item": "item_id", "timestamp": "timestamp"}
    assert str(error).endswith("Check the time column 'timestamp', or choose another one.")
    assert "--" not in str(error)


@pytest.mark.parametrize(
    "content, option",
    [
        (b"item,timestamp\ni,1600000000\n", "--user-col"),
        (b"user_id,item_id,timestamp\nu0,i0,yesterday\nu1,i1,yesterday\n", "--time-col"),
    ],
)
def test_the_command_line_names_the_option_that_chooses_the_column(tmp_path, content, option):
    path = tmp_path / "log.csv"
    path.write_bytes(content)
    line = assert_one_line_error(invoke("validate", path))
    assert option in line


def test_the_data_page_offers_the_column_choice_after_a_column_error():
    log = b"user_id,item_id,timestamp,when\n" + b"".join(
        f"u{u % 4},i{u % 7},yesterday,{1700000000 + 60 * u}\n".encode() for u in range(24)
    )
    at = upload(data_page_on_the_demo(), "times.csv", log)
    assert not at.exception and len(at.error) == 1
    message = at.error[0].value
    assert "--" not in message and "Choose the columns below and read the file again." in message
    time_box = at.selectbox(key="upload_col_timestamp")
    assert time_box.value == "timestamp" and "when" in time_box.options

    time_box.set_value("when")
    at.button(key="FormSubmitter:upload_columns_form-Read the file with these columns").click().run()
    ok(at)
    dataset = at.session_state["dataset"]
    assert dataset.name == "times.csv" and dataset.report.mapping.timestamp == "when"
    assert {m.label: m.value for m in at.metric}["Rows kept"] == "24"
    assert at.selectbox(key="map_timestamp").value == "when"  # the page's own form now


# ---- 4. a plain number, not 2.75061e+07


def test_small_numbers_as_times_are_said_with_separators():
    log = "user,item,timestamp\n" + "".join(f"u{u},i{u % 5},{60 + 27_506_040 * (u % 2)}\n" for u in range(10))
    notes = load_events(log.encode(), name="checkins.csv").report.notes
    note = next(n for n in notes if "small numbers" in n)
    assert "(60 to 27,506,100)" in note and "e+" not in note


# ---- 5. the dropped-rows chart has room for its axis title below the tick labels


@pytest.mark.parametrize("reasons", [1, 4])
def test_the_dropped_rows_axis_title_sits_below_its_tick_labels(reasons):
    dropped = {f"reason {k}": 100 * (k + 1) for k in range(reasons)}
    layout = figures.dropped_rows(dropped, 147_938).to_dict()["layout"]
    margin, xaxis = layout["margin"], layout["xaxis"]
    assert xaxis["title"]["text"] == "rows, of 147,938 read"
    assert xaxis["automargin"] and xaxis["title"]["standoff"] >= 8
    assert margin["b"] >= 56  # tick labels (about 20 px), the gap, the title (about 18 px)
    assert layout["height"] - margin["t"] - margin["b"] >= 30 * reasons  # the bars keep their room

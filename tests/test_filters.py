"""Filters before training (ltsi.filters): a date range, event types and a minimum rating, counted per
reason in the report; the dashboard's Dataset with filters; the Data page's filter widgets."""

from __future__ import annotations

import datetime as dt

import pytest
from test_dashboard import app, ok

from dashboard import state
from ltsi.errors import LTSIError
from ltsi.event_log import reason_few_events, reason_low_rating
from ltsi.events import load_events
from ltsi.filters import (
    EventFilter,
    apply_filters,
    effective_filter,
    filter_from_text,
    log_days,
    reason_after,
    reason_before,
    reason_event_type,
)

# Three users over five days, three event types, ratings 1-5 (c's first event has none)
LOG = """user,item,time,event,rating
a,x,2024-01-01 10:00:00,view,5
a,y,2024-01-02 10:00:00,cart,3
a,z,2024-01-03 10:00:00,purchase,4
a,x,2024-01-05 23:59:00,view,2
b,y,2024-01-01 08:00:00,view,1
b,z,2024-01-04 09:00:00,purchase,5
c,x,2024-01-03 12:00:00,view,
c,w,2024-01-04 12:00:00,cart,4
c,y,2024-01-05 12:00:00,purchase,5
"""
JAN = {day: dt.date(2024, 1, day) for day in range(1, 8)}


@pytest.fixture(scope="module")
def log():
    return load_events(LOG.encode(), name="shop.csv")


def pairs(filtered) -> list[tuple[str, str]]:
    return sorted(zip(filtered.events["user_id"], filtered.events["item_id"]))


# ---------------------------------------------------------------------------------------------
# Each filter on its own, hand-counted


def test_first_day_removes_the_events_before_it(log):
    kept = apply_filters(log, EventFilter(start=JAN[2]))
    before = reason_before(JAN[2])
    assert before == "event is before 2024-01-02, the first day chosen"
    assert kept.report.dropped == {before: 2}  # a's x and b's y, both on January 1st
    assert [e["item_id"] for e in kept.report.examples[before]] == ["x", "y"]
    assert (kept.report.rows_read, kept.report.rows_kept, kept.report.n_users) == (9, 7, 3)
    assert kept.report.time_min.date() == JAN[2]
    assert len(log.events) == 9 and log.report.dropped == {}  # the loaded log is left as it was


def test_last_day_keeps_the_whole_day(log):
    kept = apply_filters(log, EventFilter(end=JAN[4]))
    assert kept.report.dropped == {reason_after(JAN[4]): 2}  # a's x at 23:59 and c's y, on January 5th
    assert ("a", "x") in pairs(kept) and kept.report.time_max.date() == JAN[4]
    # January 5th at 23:59 is still the 5th: a last day of the 5th keeps every event
    assert apply_filters(log, EventFilter(end=JAN[5])).report.rows_kept == 9


def test_event_types_remove_the_types_left_out(log):
    kept = apply_filters(log, EventFilter(event_types=["view"]))
    left_out = reason_event_type(["cart", "purchase"])
    assert left_out == "event type is not one of those chosen ('cart', 'purchase')"
    assert kept.report.dropped == {left_out: 5}
    assert kept.report.event_counts == {"view": 4} and list(kept.events["event"].cat.categories) == ["view"]
    assert kept.report.filter_note == (
        "Filters removed 5 events (56%) and 0 users: 5 of event types 'cart', 'purchase'."
    )


def test_minimum_rating_removes_the_low_and_the_unrated(log):
    kept = apply_filters(log, EventFilter(min_rating=4))
    assert kept.report.dropped == {reason_low_rating(4): 4}  # a's 3 and 2, b's 1, c's blank
    assert kept.report.n_users == 3 and kept.report.min_rating == 4.0
    assert "Only ratings of at least 4 are kept: 4 events with a lower or no rating were removed." in (
        kept.report.data_notes
    )


def test_combined_filters_count_each_row_once_under_its_first_reason(log):
    filters = EventFilter(start=JAN[2], end=JAN[4], event_types=("purchase", "cart"))
    kept = apply_filters(log, filters, min_events=2)
    # before: a's x, b's y; after: a's last x, c's y; a view in between: c's x; then b (z) and c (w) are
    # left with one event each, fewer than 2: only a's y and z remain
    assert kept.report.dropped == {
        reason_before(JAN[2]): 2,
        reason_after(JAN[4]): 2,
        reason_event_type(["view"]): 1,
        reason_few_events(2): 2,
    }
    assert pairs(kept) == [("a", "y"), ("a", "z")]
    assert kept.report.rows_dropped == 7 and (kept.report.n_users, kept.report.n_items) == (1, 2)
    assert kept.report.filter_note == (
        "Filters removed 7 events (78%) and 2 users: 2 before 2024-01-02, 2 after 2024-01-04, "
        "1 of event type 'view', 2 of users left with fewer than 2 events."
    )


def test_filters_add_to_what_loading_dropped(log):
    loaded = load_events(LOG.encode(), name="shop.csv", min_events=3)  # b has only 2 events
    assert loaded.report.dropped == {reason_few_events(3): 2}
    kept = apply_filters(loaded, EventFilter(start=JAN[2]), min_events=3)
    # a keeps y, z, last x (3); c keeps x, w, y (3): only a's first x goes, b was gone already
    assert kept.report.dropped == {reason_few_events(3): 2, reason_before(JAN[2]): 1}
    assert kept.report.filter_note == "Filters removed 1 event (14%) and 0 users: 1 before 2024-01-02."


def test_a_filter_that_keeps_everything_changes_nothing(log):
    assert apply_filters(log, EventFilter()) is log
    kept = apply_filters(log, EventFilter(start=JAN[1], end=JAN[7]))
    assert kept.report.rows_kept == 9 and kept.report.dropped == {}
    assert kept.report.filter_note == "The filters removed no events: every event passes them."


# ---------------------------------------------------------------------------------------------
# Errors: nothing left, a filter that cannot apply, a filter that makes no sense


def test_nothing_left_says_which_filters_and_what_to_change(log):
    filters = EventFilter(start=JAN[2], event_types=["view"], min_rating=5)  # the only view rated 5 is on the 1st
    with pytest.raises(LTSIError) as error:
        apply_filters(log, filters)
    assert str(error.value) == (
        "No usable rows: no event is from 2024-01-02 to the end and is of event type 'view' and has a rating "
        "of at least 5. Widen the dates, choose more event types or lower the minimum rating."
    )
    with pytest.raises(LTSIError, match="no event is of event type 'cart' from a user with 2 or more such events"):
        apply_filters(log, EventFilter(event_types=["cart"]), min_events=2)  # a and c have one cart each


def test_filters_that_cannot_apply_say_why(log):
    with pytest.raises(LTSIError, match="no event type 'buy'; its event types are 'cart', 'purchase', 'view'"):
        apply_filters(log, EventFilter(event_types=["buy", "view"]))
    in_file_order = load_events(b"user,item\na,x\na,y\nb,x\n", name="order.csv", mapping={"timestamp": None})
    with pytest.raises(LTSIError, match="no time column .* cannot be filtered by date"):
        apply_filters(in_file_order, EventFilter(start=JAN[2]))
    with pytest.raises(LTSIError, match="needs a rating column"):
        apply_filters(in_file_order, EventFilter(min_rating=3))


def test_a_filter_refuses_choices_that_make_no_sense():
    with pytest.raises(LTSIError, match=r"first day \(2024-01-04\) is after the last day \(2024-01-02\)"):
        EventFilter(start=JAN[4], end=JAN[2])
    with pytest.raises(LTSIError, match="Choose at least one event type"):
        EventFilter(event_types=[])
    with pytest.raises(LTSIError, match="as a list, not as the text 'view'"):
        EventFilter(event_types="view")
    with pytest.raises(LTSIError, match="must be a finite number"):
        EventFilter(min_rating=float("inf"))
    with pytest.raises(LTSIError, match="first day must be a date, not '2024-01-02'"):
        EventFilter(start="2024-01-02")


def test_equal_choices_make_equal_filters_and_keys():
    one = EventFilter(start=dt.datetime(2024, 1, 2, 15, 30), event_types=["view", "cart", "view"], min_rating=4)
    other = EventFilter(start=JAN[2], event_types=("cart", "view"), min_rating=4.0)
    assert one == other and one.key() == other.key() == "from 2024-01-02; types cart|view; rating 4.0"
    assert EventFilter(start=JAN[3]).key() != one.key() and EventFilter().key() == ""
    assert not EventFilter().active and EventFilter(min_rating=1).active


# ---------------------------------------------------------------------------------------------
# The report's words


def test_the_report_says_what_the_filters_removed(log):
    filters = EventFilter(start=JAN[2], event_types=["view", "purchase"])
    report = apply_filters(log, filters).report
    text = report.to_text()
    sentence = "Filters removed 4 events (44%) and 0 users: 2 before 2024-01-02, 2 of event type 'cart'."
    assert f"Filters:  {sentence}" in text
    assert "event is before 2024-01-02, the first day chosen" in text and "e.g. user_id='a', item_id='x'" in text
    as_dict = report.to_dict()
    assert as_dict["filter_note"] == sentence and as_dict["rows_dropped"] == 4
    assert as_dict["filters"] == {
        "start": "2024-01-02",
        "end": None,
        "event_types": ["purchase", "view"],
        "min_rating": None,
    }
    assert log.report.to_dict()["filters"] is None and log.report.filter_note is None


def test_small_shares_and_many_event_types_stay_short():
    rows = "".join(f"u{u},i{k},{1_700_000_000 + 60 * k},type{k % 8}\n" for u in range(30) for k in range(8))
    rows += "late,i0,1800000000,type0\n"  # one event in 2027 among 240 in 2023
    many = load_events(("user,item,time,event\n" + rows).encode(), name="many.csv")
    last_day = log_days(many)[0]
    late = apply_filters(many, EventFilter(end=last_day)).report.filter_note
    assert late == f"Filters removed 1 event (under 1%) and 1 user: 1 after {last_day.isoformat()}."
    reason = next(iter(apply_filters(many, EventFilter(event_types=["type0"])).report.dropped))
    assert reason == ("event type is not one of those chosen ('type1', 'type2', 'type3', 'type4', 'type5' and 2 more)")


# ---------------------------------------------------------------------------------------------
# Choices from widgets and from the command line


def test_effective_filter_leaves_out_what_keeps_the_whole_log(log):
    whole = EventFilter(start=JAN[1], end=JAN[5], event_types=["view", "cart", "purchase"], min_rating=1)
    assert effective_filter(whole, log) is None  # the widgets' defaults: the log as read
    narrowed = EventFilter(start=JAN[2], end=JAN[5], event_types=["view", "buy"], min_rating=1)
    assert effective_filter(narrowed, log) == EventFilter(start=JAN[2], event_types=["view"])
    assert effective_filter(EventFilter(min_rating=2.5), log) == EventFilter(min_rating=2.5)


def test_filter_from_text_reads_the_command_line_options():
    assert filter_from_text("2024-01-02", None, " purchase, cart ,") == EventFilter(
        start=JAN[2], event_types=("cart", "purchase")
    )
    assert not filter_from_text(None, None, None).active
    with pytest.raises(LTSIError, match="--until must be a date like 2020-01-31, not '02/01/2024'"):
        filter_from_text(None, "02/01/2024", None)
    with pytest.raises(LTSIError, match="--event-types needs at least one event type"):
        filter_from_text(None, None, " , ")


# ---------------------------------------------------------------------------------------------
# The dashboard's Dataset: filtered sequences, another key


def test_a_filtered_dataset_has_fewer_events_and_its_own_key():
    dataset = state.read_dataset(LOG.encode(), "shop.csv", "upload")
    filtered = state.with_filters(dataset, EventFilter(event_types=["view"]))
    seqs, _ = filtered.sequences()
    assert (len(seqs.item_ids), len(dataset.sequences()[0].item_ids)) == (4, 9)
    assert filtered.key != dataset.key == dataset.source_key == filtered.source_key
    assert filtered.as_read is dataset.log and filtered.report.rows_kept == 4
    again = state.with_filters(filtered, EventFilter(min_rating=4))  # filters the log as read, not the filtered one
    assert again.report.dropped == {reason_low_rating(4): 4} and again.key not in (dataset.key, filtered.key)
    cleared = state.with_filters(again, None)
    assert cleared.log is dataset.log and cleared.key == dataset.key and cleared.filters is None


# ---------------------------------------------------------------------------------------------
# The Data page


def shop_log() -> bytes:
    """30 users with 7 events each, one a day from 2024-01-01; types view, cart, purchase in turn."""
    kinds = ("view", "cart", "purchase")
    rows = "".join(
        f"u{u:02d},i{(u + k) % 10},2024-01-0{k + 1} 10:{u:02d}:00,{kinds[k % 3]}\n" for u in range(30) for k in range(7)
    )
    return ("user,item,time,event\n" + rows).encode()


def test_data_page_filters_change_the_report_and_the_data_trained_on():
    at = app()
    at.switch_page("views/data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_events").set_value(("shop.csv", shop_log(), "text/csv"))
    at.run()
    ok(at)
    assert at.metric[1].value == "210" and not [i for i in at.info if "Filters removed" in i.value]
    assert at.date_input(key="map_dates").value == (JAN[1], JAN[7])
    assert sorted(at.multiselect(key="map_event_types").value) == ["cart", "purchase", "view"]

    at.date_input(key="map_dates").set_value((JAN[2], JAN[6]))
    at.multiselect(key="map_event_types").set_value(["cart", "purchase"])
    at.button(key="FormSubmitter:mapping_form-Apply").click().run()
    ok(at)
    # days 2-6 keep events 1-5 of each user; of those, event 3 is a view: 4 events per user are left
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows kept"], metrics["Rows dropped"], metrics["Event types"]) == ("120", "90", "2")
    sentence = (
        "Filters removed 90 events (43%) and 0 users: 30 before 2024-01-02, 30 after 2024-01-06, "
        "30 of event type 'view'."
    )
    assert sentence in [i.value for i in at.info]
    dataset = at.session_state["dataset"]
    assert dataset.filters == EventFilter(start=JAN[2], end=JAN[6], event_types=["cart", "purchase"])
    assert at.date_input(key="map_dates").value == (JAN[2], JAN[6])  # the page shows the filters in use

    at.switch_page("views/train.py").run()
    ok(at)
    trained_on = at.session_state["dataset"]
    assert trained_on is dataset and len(trained_on.sequences()[0].item_ids) == 120

"""Data-shape notes (bulk-entered bursts, sessions as users, ratings), the minimum-rating filter, several
genres per item, a category column of the event log, and the Data/Model figures that the user study found
hard to read (20-colour item map, full-width bar for one dropped row, 2 / 100 / 5 log ticks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_dashboard import app, ok

from dashboard import figures
from dashboard.figures.model import MAP_COLOURS, OTHER, OTHER_COLOUR
from ltsi.column_content import rating_scale
from ltsi.data_notes import burst_note
from ltsi.errors import LTSIError
from ltsi.event_log import reason_few_events, reason_low_rating
from ltsi.events import keep_ratings_at_least, load_events
from ltsi.items import load_items

DAY = 86_400
START = 1_600_000_000  # 2020-09-13 12:26:40 UTC
MINUTE_START = START - START % 60  # the start of that minute


def csv(rows: list[tuple], header: str) -> bytes:
    return (header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)).encode()


def spread_log(n_users: int = 12, per_user: int = 15) -> list[tuple]:
    """Control: each user has `per_user` events a day apart (no bursts, months of history)."""
    return [(f"u{u}", f"i{(u + k) % 30}", START + k * DAY + u) for u in range(n_users) for k in range(per_user)]


def notes_of(rows: list[tuple], header: str = "user,item,time", **options) -> list[str]:
    return load_events(csv(rows, header), name="log.csv", **options).report.data_notes


# ---------------------------------------------------------------------------------------------
# Bursts: events entered in bulk


def test_burst_note_counts_the_events_in_bulk_entered_minutes():
    rows = spread_log()  # 12 users x 15 = 180 events, none in a burst
    # planted: a user rates 20 items within one minute (3 s apart), another rates 10 (a burst needs 11)
    rows += [("bulk", f"b{k}", MINUTE_START + 3 * k) for k in range(20)]
    rows += [("nearly", f"c{k}", MINUTE_START + 3 * k) for k in range(10)]
    notes = notes_of(rows)
    burst = [n for n in notes if "bursts" in n]
    assert len(burst) == 1
    assert "(20 of 210)" in burst[0] and burst[0].startswith("10% of the events")  # 20 / 210 = 9.5%
    assert "order inside such bursts is unknown" in burst[0]
    assert not [n for n in notes_of(spread_log()) if "bursts" in n]


def test_burst_note_needs_the_same_user_and_the_same_minute():
    # 20 users each with one event at the same second: a busy minute, but no one entered anything in bulk
    crowd = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(20)],
            "timestamp": pd.to_datetime([MINUTE_START] * 20, unit="s", utc=True),
        }
    )
    assert burst_note(crowd) is None
    one_user = crowd.assign(user_id="u0")
    assert "(20 of 20)" in burst_note(one_user)
    # the same user, 11 events, but the 11th one minute later: two groups of 10 and 1
    split = one_user.head(11).copy()
    split.loc[10, "timestamp"] += pd.Timedelta(minutes=1)
    assert burst_note(split) is None


def test_no_burst_or_session_note_when_file_order_is_the_time():
    rows = [(f"u{u}", f"i{k}") for u in range(12) for k in range(3)]  # invented times 1 s apart
    assert notes_of(rows, "user,item", mapping={"timestamp": None}) == []


# ---------------------------------------------------------------------------------------------
# Sessions as users


def test_session_note_on_a_click_session_log_and_not_on_long_histories():
    # planted: 30 "users" who are sessions: 4 clicks, 2 minutes apart (a 6-minute span)
    sessions = [(f"s{s}", f"i{(s + k) % 9}", START + s * DAY + 120 * k) for s in range(30) for k in range(4)]
    notes = [n for n in notes_of(sessions) if "sessions" in n]
    assert len(notes) == 1
    assert "half of the 30 user ids with two or more events have at most 4 events, within 6 minutes" in notes[0]
    assert "'long-term interest' means earlier in the same visit" in notes[0]
    assert not [n for n in notes_of(spread_log()) if "sessions" in n]  # 15 events over two weeks
    # short spans but long histories (a user rating 65 films in 49 minutes, as in MovieLens) are people
    raters = [(f"u{u}", f"i{k}", START + u * DAY + 45 * k) for u in range(12) for k in range(40)]
    assert not [n for n in notes_of(raters) if "sessions" in n]


# ---------------------------------------------------------------------------------------------
# Ratings: the note and the minimum-rating filter

RATED = [  # user, item, rating, time
    ("a", "x", 5, START),
    ("a", "y", 2, START + DAY),
    ("a", "z", 4, START + 2 * DAY),
    ("b", "x", 1, START),
    ("b", "y", 3, START + DAY),
    ("b", "z", "", START + 2 * DAY),  # no rating
    ("c", "x", 4, START),
    ("c", "w", 5, START + DAY),
]


def test_rating_scale_reads_ratings_not_prices_or_counts():
    assert rating_scale(np.array([1.0, 5.0, 3.0, np.nan]), "rating") == (1.0, 5.0)
    assert rating_scale(np.array([0.5, 4.5, 5.0]), "column_3") == (0.5, 5.0)  # halves, judged by content
    assert rating_scale(np.array([1.0, 2.0, 3.0]), "quantity") is None  # a count, whatever its numbers
    assert rating_scale(np.array([12.99, 3.5, 7.0]), "value") is None  # fractions: prices
    assert rating_scale(np.array([4.0, 4.0]), "rating") is None  # a constant says nothing
    assert rating_scale(np.array([1.0, 5.0]), None) is None


def test_rating_note_suggests_a_minimum_and_what_it_keeps():
    log = load_events(csv(RATED, "user,item,rating,time"), name="ratings.csv")
    assert log.report.rating_range == (1.0, 5.0)
    (note,) = [n for n in log.report.data_notes if "ratings" in n]
    # 4 is the lowest rating in the top quarter of 1-5; 4 of the 8 events are rated 4 or 5
    assert "The column 'rating' holds ratings from 1 to 5" in note
    assert "at least 4 would keep 50% of the events" in note
    prices = [(u, i, f"{9.99 + k:.2f}", t) for k, (u, i, _, t) in enumerate(RATED)]
    priced = load_events(csv(prices, "user,item,price,time"), name="shop.csv").report
    assert priced.rating_range is None and not [n for n in priced.data_notes if "rating" in n]


def test_min_rating_drops_and_counts_the_low_and_unrated_rows():
    log = load_events(csv(RATED, "user,item,rating,time"), name="ratings.csv", min_rating=4)
    r = log.report
    low = reason_low_rating(4)
    assert low == "rating is below 4 or missing"
    assert r.dropped == {low: 4} and (r.rows_read, r.rows_kept) == (8, 4)  # 2, 1, 3 and the blank one
    assert sorted(zip(log.events["user_id"], log.events["item_id"])) == [("a", "x"), ("a", "z"), ("c", "w"), ("c", "x")]
    assert (r.n_users, r.n_items, r.min_rating) == (2, 3, 4.0)  # user b has no rating of 4 or more
    assert [e["item_id"] for e in r.examples[low]] == ["y", "x", "y", "z"]
    assert "Only ratings of at least 4 are kept: 4 events with a lower or no rating were removed." in r.data_notes
    assert "rating is below 4 or missing" in r.to_text() and r.to_dict()["min_rating"] == 4.0


def test_min_rating_then_min_events_drops_users_left_too_short():
    full = load_events(csv(RATED, "user,item,rating,time"), name="ratings.csv", min_events=2)
    assert full.report.rows_kept == 8  # everyone has 2 or more events
    # ratings >= 3: a keeps x, z; b keeps only y (then fewer than 2 events); c keeps x, w
    kept = keep_ratings_at_least(full, 3, min_events=2)
    assert kept.report.dropped == {reason_low_rating(3): 3, reason_few_events(2): 1}
    assert sorted(kept.events["user_id"].unique()) == ["a", "c"] and kept.report.rows_kept == 4
    assert kept.report.event_counts == {"interaction": 4}
    assert full.report.rows_kept == 8 and len(full.events) == 8  # the loaded log is left as it was
    # ratings of 5: a and c keep one each, fewer than 2: nothing is left, and the message says what to do
    with pytest.raises(LTSIError, match="no event has a rating of at least 5 from a user with 2 or more such events"):
        keep_ratings_at_least(full, 5, min_events=2)


def test_min_rating_needs_a_rating_column_and_a_number():
    unrated = load_events(csv(spread_log(), "user,item,time"), name="clicks.csv")
    with pytest.raises(LTSIError, match="needs a rating column"):
        keep_ratings_at_least(unrated, 4)
    rated = load_events(csv(RATED, "user,item,rating,time"), name="ratings.csv")
    with pytest.raises(LTSIError, match="must be a finite number"):
        keep_ratings_at_least(rated, float("nan"))
    with pytest.raises(LTSIError, match="must be a number"):
        keep_ratings_at_least(rated, "4")


# ---------------------------------------------------------------------------------------------
# Categories: several genres kept; the event log's own category column


def test_several_genres_are_kept_with_the_first_as_main_category():
    items = load_items(b"item_id,title,genres\n1,Toy Story,Animation|Children's|Comedy\n2,Heat,Action\n3,Blank,\n")
    assert items["category"].tolist() == ["Animation | Children's | Comedy", "Action", "unknown"]
    assert items["main_category"].tolist() == ["Animation", "Action", "unknown"]
    shop = load_items(b"item_id,title,category\np1,Red shoe,shoes\n")  # one category each: no main_category
    assert list(shop.columns) == ["item_id", "title", "category"]


ECOMMERCE = [  # event_time, event_type, product_id, category_code, user_id (REES46-like column names)
    (START, "view", "p1", "electronics.phone", "u1"),
    (START + 60, "view", "p1", "electronics.phone", "u2"),
    (START + 120, "cart", "p1", "electronics.audio", "u1"),  # p1 is mostly a phone
    (START + 180, "view", "p2", "", "u1"),  # p2 never has a category
    (START + 240, "view", "p3", "home.kitchen", "u2"),
]


def test_a_category_column_of_the_log_builds_the_item_table():
    log = load_events(csv(ECOMMERCE, "event_time,event_type,product_id,category_code,user_id"), name="shop.csv")
    assert log.report.mapping.category == "category_code"
    assert "known category column name" in log.report.mapping.reasons["category"]
    table = log.items.set_index("item_id")["category"].to_dict()
    assert table == {"p1": "electronics.phone", "p2": "unknown", "p3": "home.kitchen"}
    assert any("'category_code'" in n and "2 of the 3 items have one" in n for n in log.report.notes)
    # left out explicitly: no item table; an item table given wins over the column
    bare = load_events(
        csv(ECOMMERCE, "event_time,event_type,product_id,category_code,user_id"),
        name="shop.csv",
        mapping={"category": None},
    )
    assert bare.items is None and bare.report.mapping.category is None
    given = load_events(
        csv(ECOMMERCE, "event_time,event_type,product_id,category_code,user_id"),
        name="shop.csv",
        items=b"item_id,title,category\np1,Phone X,phones\n",
    )
    assert given.items["category"].tolist() == ["phones"]


def test_a_category_column_under_another_name_can_be_mapped():
    rows = [(u, i, START + k, c) for k, (u, i, c) in enumerate([("a", "x", "toys"), ("b", "x", "toys")])]
    log = load_events(csv(rows, "user,item,time,shelf"), name="log.csv", mapping={"category": "shelf"})
    assert log.report.mapping.reasons["category"] == "given explicitly"
    assert log.items.to_dict("records") == [{"item_id": "x", "title": "x", "category": "toys"}]


# ---------------------------------------------------------------------------------------------
# Figures


def test_the_item_map_colours_the_eight_biggest_of_twenty_categories():
    sizes = np.arange(20, 0, -1)  # category c0 has 20 items, c19 has 1
    cats = np.repeat([f"c{c}" for c in range(20)], sizes)
    points = pd.DataFrame({"item_id": [f"i{k}" for k in range(len(cats))], "x": 0.0, "y": 0.0, "category": cats})
    fig = figures.item_map(points)
    colours = {trace.marker.color for trace in fig.data}
    assert len(colours) <= 9 and OTHER_COLOUR in colours
    coloured = {t.name: t for t in fig.data if t.name != OTHER}
    assert sorted(coloured, key=lambda n: int(n[1:])) == [f"c{c}" for c in range(8)]
    assert {t.marker.color for t in coloured.values()} == set(MAP_COLOURS)
    other = next(t for t in fig.data if t.name == OTHER)
    assert len(other.x) == sizes[8:].sum() and "c19" in set(other.customdata)  # the hover names the real one
    assert fig.data[0].name == OTHER  # drawn first, under the coloured points; the legend lists it last
    assert max(t.legendrank for t in fig.data) == other.legendrank
    assert "the 8 biggest of 20 categories" in fig.layout.title.text


def test_the_item_map_colours_by_the_main_category_when_there_is_one():
    points = pd.DataFrame(
        {
            "item_id": ["1", "2", "3"],
            "x": [0.0, 1.0, 2.0],
            "y": 0.0,
            "category": ["Action | Comedy", "Action", "Drama | Action"],
            "main_category": ["Action", "Action", "Drama"],
        }
    )
    fig = figures.item_map(points)
    assert [(t.name, len(t.x)) for t in fig.data] == [("Action", 2), ("Drama", 1)]
    assert "biggest" not in fig.layout.title.text


def test_one_dropped_row_of_ten_thousand_is_a_sliver_of_the_axis():
    fig = figures.dropped_rows({"user is missing": 1}, 10_000)
    assert list(fig.data[0].x) == [1]
    assert tuple(fig.layout.xaxis.range) == (0, 10_000)  # the bar is 1/10,000 of the axis, not all of it
    assert fig.data[0].text == ("1 (<0.1%)",)
    half = figures.dropped_rows({"user is missing": 50, "exact duplicate of an earlier row": 50}, 200)
    assert tuple(half.layout.xaxis.range) == (0, 200) and "50 (25.0%)" in half.data[0].text


def test_log_axes_tick_at_powers_of_ten_written_short():
    counts = np.repeat(np.arange(1500), np.maximum(1, (3000 / (np.arange(1500) + 1)).astype(int)))
    events = pd.DataFrame({"user_id": "u", "item_id": [f"i{k}" for k in counts]})
    fig = figures.item_popularity(events)
    x, y = fig.layout.xaxis, fig.layout.yaxis
    assert x.type == "log" and list(x.tickvals) == [1, 10, 100, 1000]  # 1,500 items
    assert list(x.ticktext) == ["1", "10", "100", "1k"]
    assert y.type == "log" and list(y.ticktext) == ["1", "10", "100", "1k"]  # the top item has 3,000 events
    from dashboard.figures.data import short_count

    assert [short_count(n) for n in (1, 1000, 10**6, 25 * 10**5)] == ["1", "1k", "1M", "2.5M"]


# ---------------------------------------------------------------------------------------------
# The Data page


def test_data_page_shows_the_notes_and_applies_a_minimum_rating():
    rows = [(u, i, r, t) for u, i, r, t in RATED] + [
        (f"r{u}", f"m{k}", 1 + (u + k) % 5, MINUTE_START + u * DAY + 2 * k) for u in range(3) for k in range(12)
    ]  # three raters who rate 12 films within one minute each: a burst note
    at = app()
    at.switch_page("views/data.py").run()
    at.radio(key="data_source").set_value("upload").run()
    at.file_uploader(key="upload_events").set_value(("ratings.csv", csv(rows, "user,item,rating,time"), "text/csv"))
    at.run()
    ok(at)
    notes = " ".join(i.value for i in at.info)
    assert "come in bursts" in notes and "holds ratings from 1 to 5" in notes
    assert [s.label for s in at.selectbox][5] == "Item category"
    at.number_input(key="map_min_rating").set_value(4.0)
    at.button(key="FormSubmitter:mapping_form-Apply").click().run()
    ok(at)
    dataset = at.session_state["dataset"]
    assert (dataset.events["value"] >= 4).all() and dataset.report.min_rating == 4.0
    # below 4 or blank: 4 of RATED; of the raters' 12 ratings 1 + (u + k) % 5, those of 1-3: 8, 8 and 7
    removed = 4 + 8 + 8 + 7
    assert dataset.report.dropped == {"rating is below 4 or missing": removed}
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows dropped"] == f"{removed}" and metrics["Rows kept"] == f"{len(rows) - removed}"
    assert f"{removed} events with a lower or no rating were removed" in " ".join(i.value for i in at.info)

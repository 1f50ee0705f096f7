"""Data: pick a demo, upload a log or open one on the server; column mapping and filters; validation report;
summary charts."""

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import figures, library, state, widget_state, widgets
from dashboard.state import Keys
from dashboard.text import md_escape, plural
from ltsi.columns import ColumnError
from ltsi.filters import EventFilter, effective_filter, log_days
from ltsi.server_sources import allowed_folders, enable_note
from ltsi.times import UNIT_NONE

SOURCES = {"ecommerce": "E-commerce demo", "movielens": "MovieLens 100K", "upload": "Upload a file"}
SERVER_SOURCES = {"server": "A file or folder on the server", "sql": "A SQL query"}
DEFAULT_SAMPLE_USERS = 100_000
NONE = "(none)"
ROLE_LABELS = {
    "user": "User",
    "item": "Item",
    "timestamp": "Time",
    "event": "Event type",
    "value": "Value",
    "category": "Item category",
}
ROLE_HELP = {
    "user": "Who did it: a user, customer, visitor or session id. Required.",
    "item": "What it was about: a product, movie, song or article id. Required.",
    "timestamp": "When: epoch seconds/ms/µs/ns or a date-time text. Without it, file order is time order.",
    "event": "What kind of event: view, click, cart, purchase, rating… Optional.",
    "value": "A number per event: rating, price, dwell time… Optional; ratings can be filtered below.",
    "category": "The item's category, when the log has a column for it (e.g. category_code). Optional; "
    "an item table, when given, is used instead.",
}
MAPPING_FORM_KEYS = (
    *(f"map_{role}" for role in ROLE_LABELS),
    "map_min_events",
    "map_dayfirst",
    "map_dates",
    "map_event_types",
    "map_min_rating",
)
SERVER_FILTER_KEYS = ("server_dates", "server_event_types")
UPLOAD_COLUMN_KEYS = tuple(f"upload_col_{role}" for role in ROLE_LABELS)
UPLOAD_TYPES = ["csv", "tsv", "txt", "dat", "parquet", "pq", "json", "jsonl", "gz", "zip", "bz2", "xz"]


def chosen_days(value: tuple | dt.date | None) -> tuple[dt.date | None, dt.date | None]:
    """(first, last) day of the date-range picker; while only one end is picked, the other is open."""
    if value is None:
        return None, None
    if isinstance(value, dt.date):
        return value, None
    days = tuple(value) + (None, None)
    return days[0], days[1]


def date_range(days: tuple[dt.date, dt.date] | None, in_use, key: str) -> tuple[dt.date | None, dt.date | None]:
    """The "Dates to keep" picker over the log's (first, last) day, starting from the filter in use; without a time
    column (`days` None) a caption says why there is none."""
    if days is None:
        st.caption("No time column: the events cannot be kept by date.")
        return None, None
    first, last = days
    return chosen_days(
        st.date_input(
            "Dates to keep",
            value=(in_use.start or first, in_use.end or last),
            min_value=first,
            max_value=last,
            key=key,
            help="Events before the first day or after the last day (UTC) are removed. The whole log by default.",
        )
    )


def mapping_text(mapping) -> str:
    """One line per role: the column read for it and why (markdown)."""
    return "  \n".join(
        f"**{ROLE_LABELS[r]}** ← {md_escape(getattr(mapping, r))} — {md_escape(mapping.reasons.get(r, ''))}"
        if getattr(mapping, r)
        else f"**{ROLE_LABELS[r]}** ← none — {md_escape(mapping.reasons.get(r, 'not found'))}"
        for r in ROLE_LABELS
    )


def column_boxes(
    columns: list[str], mapped: dict[str, str | None], reasons: dict[str, str] | None, prefix: str
) -> dict[str, str | None]:
    """One selectbox per role over the file's columns, two rows of three, starting at the `mapped` column
    (a role not mapped starts at the first column, or "(none)" where a role may be left out); `reasons` say
    in each help why the column in use was chosen. Role -> the column chosen (None: left out)."""
    boxes = [*st.columns(3), *st.columns(3)]  # six selectboxes side by side are too narrow
    chosen = {}
    for box, role in zip(boxes, ROLE_LABELS):
        options = list(columns) if role in ("user", "item") else [NONE, *columns]
        value = mapped.get(role)
        now = f"  \nNow: {md_escape(reasons.get(role, '')) or 'not found'}." if reasons is not None else ""
        with box:
            picked = st.selectbox(
                ROLE_LABELS[role],
                options,
                index=options.index(value) if value in options else 0,
                key=f"{prefix}_{role}",
                help=f"{ROLE_HELP[role]}{now}",
            )
        chosen[role] = None if picked == NONE else picked
    return chosen


def column_retry_form(error: ColumnError, digest: str) -> None:
    """After a file could not be read for want of a usable user, item or time column: the columns to read
    it with, as the analyst chooses them (kept for this file; the next run reads it with them)."""
    widget_state.forget_choices_of_another_log("upload_columns", digest, UPLOAD_COLUMN_KEYS)
    with st.form("upload_columns_form", border=False):
        chosen = column_boxes(error.columns, error.chosen, None, "upload_col")
        if st.form_submit_button("Read the file with these columns", icon=":material/refresh:"):
            st.session_state[Keys.UPLOAD_COLUMNS] = (digest, chosen)
            st.rerun()


def server_filters(current: state.Dataset) -> None:
    """Dates and event types to keep from a log on the server: "Apply" scans it again with them."""
    server = current.server
    in_use = current.filters or EventFilter()
    widget_state.forget_choices_of_another_log("server_filters", current.reading_key, SERVER_FILTER_KEYS)
    with st.expander("Filters", expanded=current.filters is not None, icon=":material/filter_alt:"):
        st.caption(
            "Keep only some events (before training); the report below counts what is removed. The columns are "
            "recognised from their names; to choose them yourself, rename them in a SQL query (e.g. "
            "SELECT customer AS user_id, ...)."
        )
        with st.form("server_filters_form", border=False):
            f1, f2 = st.columns([2, 3])
            with f1:
                start, end = date_range(server.days, in_use, "server_dates")
            event_types = None
            with f2:
                if len(server.event_types) > 1:
                    event_types = st.multiselect(
                        "Event types to keep",
                        list(server.event_types),
                        default=list(in_use.event_types or server.event_types),
                        key="server_event_types",
                        help="Events of the types left out are removed, e.g. keep only purchases.",
                    )
            if st.form_submit_button("Apply", icon=":material/refresh:"):
                with widgets.guard("reading the log again with the filters"):
                    chosen = EventFilter(start=start, end=end, event_types=event_types)
                    if server.days is not None and (start, end) == server.days:  # the whole log: no date filter
                        chosen = EventFilter(event_types=event_types)
                    if event_types is not None and set(event_types) == set(server.event_types):
                        chosen = EventFilter(start=chosen.start, end=chosen.end)
                    with st.spinner("Reading the log on the server again…"):
                        state.set_dataset(state.with_filters(current, chosen))
                    st.rerun()
        st.markdown(mapping_text(current.report.mapping))


def server_source_form(kind: str, folders: tuple) -> None:
    """The path (or query) and the sample size of a log on the server; "Open" scans it into the active data."""
    inside = ", ".join(md_escape(folder) for folder in folders)
    with st.form(f"{kind}_form", border=False):
        if kind == "server":
            asked = st.text_input(
                "File, folder or pattern on the server",
                key=Keys.SERVER_PATH,
                placeholder=f"{folders[0]}/events/*.parquet",
                help=f"Parquet or CSV files (a folder means every file in it) inside: {inside}.",
            )
        else:
            asked = st.text_area(
                "SQL query",
                key=Keys.SERVER_SQL,
                placeholder=f"SELECT user_id, item_id, ts, event FROM read_parquet('{folders[0]}/events/*.parquet')",
                help="One SELECT over read_parquet('...') or read_csv('...') of files inside: "
                f"{inside}. One row per event; the columns are recognised as for a file.",
            )
        c1, c2 = st.columns(2)
        sample = c1.number_input(
            "Users to keep (a random sample; 0 keeps all)",
            min_value=0,
            value=st.session_state.get(Keys.SERVER_SAMPLE, DEFAULT_SAMPLE_USERS),
            step=10_000,
            help="A large log is quicker to explore and train on through a sample of its users (the same users "
            "every time). 0 reads every user.",
        )
        min_events = c2.number_input("Min. events per user", 1, 1000, value=1, step=1, key=f"{kind}_min_events")
        opened = st.form_submit_button("Open", icon=":material/folder_open:")
    if opened:
        st.session_state[Keys.SERVER_SAMPLE] = int(sample)
        with widgets.guard("opening the log on the server"):
            with st.spinner("Reading the log on the server…"):
                state.set_dataset(
                    state.open_server_source(
                        path=asked if kind == "server" else "",
                        sql=asked if kind == "sql" else None,
                        sample_users=int(sample) or None,
                        min_events=int(min_events),
                    )
                )
            st.rerun()


st.title("Data")
st.caption(
    "One row per event: who (user), what (item), when (time), and optionally the kind of event. "
    "Pick a demo or upload your own log; the report below says what was read and what was dropped."
)

current = state.dataset()
folders = allowed_folders()
offered = {**SOURCES, **SERVER_SOURCES} if folders else SOURCES
if st.session_state.get(Keys.DATA_SOURCE) not in offered:  # first visit, or the server sources were closed
    kept = current is not None and current.kind in offered
    st.session_state[Keys.DATA_SOURCE] = current.kind if kept else "ecommerce"
source = st.radio(
    "Source",
    list(offered),
    format_func=offered.get,
    horizontal=True,
    key=Keys.DATA_SOURCE,
    label_visibility="collapsed",
)
if not folders:
    st.caption(f"Logs too big to upload can be read from files on the server. {md_escape(enable_note())}")

if source in SERVER_SOURCES:
    server_source_form(source, folders)
    if current is None or current.kind != source:
        st.info(
            "Give the files to read and open them. Only folders the operator allowed can be read.",
            icon=":material/dns:",
        )
        st.stop()
elif source in state.DEMOS:
    if current is None or current.kind != source:
        with widgets.guard("loading the demo"):
            state.set_dataset(state.load_demo(source))
            current = state.dataset()
else:
    left, right = st.columns(2)
    with left:
        upload = st.file_uploader(
            "Event log",
            type=UPLOAD_TYPES,
            key="upload_events",
            help="CSV/TSV (any of , ; tab |), Parquet, JSON lines or MovieLens .dat, optionally gzip/zip. "
            "Up to 1 GB here; for bigger logs use the command line (`python -m ltsi validate`).",
        )
    with right:
        item_upload = st.file_uploader(
            "Item table (optional)",
            type=UPLOAD_TYPES,
            key="upload_items",
            help="item id + title/name + category/genres: makes every chart readable.",
        )
    if upload is not None:
        data = upload.getvalue()
        items = item_upload.getvalue() if item_upload is not None else None
        key = state.digest(data)
        items_key = state.digest(items) if items is not None else None
        loaded_items_key = (
            state.digest(current.source[2])
            if current is not None and current.source and current.source[2] is not None
            else None
        )
        if current is None or current.kind != "upload" or current.source_key != key or loaded_items_key != items_key:
            asked_key, asked_columns = st.session_state.get(Keys.UPLOAD_COLUMNS, (None, None))
            column_error = None
            with widgets.guard("reading the file"):
                try:
                    state.set_dataset(
                        state.read_dataset(
                            data,
                            upload.name,
                            "upload",
                            items,
                            item_upload.name if item_upload is not None else None,
                            mapping=asked_columns if asked_key == key else None,  # chosen after a failure
                        )
                    )
                except ColumnError as error:  # another column may do: the form below offers the choice
                    column_error = error
            if column_error is not None:
                st.error(
                    f"{md_escape(column_error)} Choose the columns below and read the file again.",
                    icon=":material/error:",
                )
                column_retry_form(column_error, key)
            if state.dataset() is current:  # the file could not be read (the error is above): show no stale report
                still = f" The data in use is still **{md_escape(current.name)}**." if current is not None else ""
                st.info(f"Nothing was loaded from {md_escape(upload.name)}.{still}", icon=":material/info:")
                st.stop()
            current = state.dataset()
            library.remember_log(data, upload.name)  # so a run trained on it is stored with its data
    elif current is None or current.kind != "upload":
        st.info(
            "Drop a file above. The demos are one click away if you just want to look around.",
            icon=":material/upload_file:",
        )
        current = None

if current is None:
    st.stop()

report = current.report
if current.server is not None:
    server_filters(current)
else:
    mapping = report.mapping
    as_read = current.as_read  # the filters' choices are among the events before the filters
    in_use = current.filters or EventFilter()

    # ---- column mapping and filters
    with st.expander(
        "Columns, reading options and filters",
        expanded=current.kind == "upload" or current.filters is not None,
        icon=":material/view_column:",
    ):
        st.caption(
            "Columns are detected automatically from their names and contents; change any of them, or keep only "
            "some events, and apply."
        )
        widget_state.forget_choices_of_another_log("mapping", current.reading_key, MAPPING_FORM_KEYS)
        with st.form("mapping_form", border=False):
            chosen = column_boxes(current.columns, mapping.columns(), mapping.reasons, "map")
            o1, o2 = st.columns([1, 3])
            with o1:
                min_events = st.number_input(
                    "Min. events per user",
                    1,
                    1000,
                    value=current.min_events,
                    step=1,
                    key="map_min_events",
                    help="Users with fewer events are dropped (and counted in the report), also after the filters.",
                )
            with o2:
                day_options = {
                    "auto": "automatic",
                    "day": "day first (31/12/2025)",
                    "month": "month first (12/31/2025)",
                }
                day_values = {"auto": None, "day": True, "month": False}
                now = {None: "auto", True: "day", False: "month"}[current.dayfirst]
                dayfirst = day_values[
                    st.radio(
                        "Ambiguous dates like 02/01/2025",
                        list(day_options),
                        format_func=day_options.get,
                        index=list(day_options).index(now),
                        horizontal=True,
                        key="map_dayfirst",
                    )
                ]
            st.markdown("**Keep only some events** (before training; the report below counts what is removed)")
            f1, f2, f3 = st.columns([2, 3, 1])
            with f1:
                days = log_days(as_read) if as_read.report.timestamp_unit != UNIT_NONE else None
                start, end = date_range(days, in_use, "map_dates")
            with f2:
                types = [str(t) for t in as_read.events["event"].cat.categories]
                event_types = None
                if len(types) > 1:  # one type (or none mapped): nothing to choose
                    event_types = st.multiselect(
                        "Event types to keep",
                        types,
                        default=list(in_use.event_types or types),
                        key="map_event_types",
                        help="Events of the types left out are removed, e.g. keep only purchases. All by default.",
                    )
            with f3:
                scale = as_read.report.rating_range
                min_rating = None
                if scale is not None:  # only a value column of ratings gets the filter
                    low, high = scale
                    step = 0.5 if low % 1 or high % 1 else 1.0
                    min_rating = st.number_input(
                        "Keep only ratings of at least",
                        low,
                        high,
                        value=in_use.min_rating if in_use.min_rating is not None else low,
                        step=step,
                        key="map_min_rating",
                        help="Events with a lower rating (or none) are removed before training and counted in the "
                        f"report. {low:g} keeps every rated event.",
                    )
            if st.form_submit_button("Apply", icon=":material/refresh:"):
                with widgets.guard("re-reading the file"):
                    reread = state.reread(current, chosen, int(min_events), dayfirst)
                    chosen_filter = EventFilter(
                        start=start,
                        end=end,
                        event_types=event_types,  # none ticked: the filter says to choose one (not "keep all")
                        min_rating=None if min_rating is None else float(min_rating),
                    )
                    reread = state.with_filters(reread, effective_filter(chosen_filter, reread.as_read))
                    state.set_dataset(reread)
                    st.rerun()
                st.warning(
                    "These settings were not applied: the mapping and the report below are still those of the "
                    "last successful reading.",
                    icon=":material/warning:",
                )
        st.markdown(mapping_text(mapping))

# ---- validation report
st.subheader("Validation report")
m = st.columns(6)
m[0].metric("Rows read", f"{report.rows_read:,}")
m[1].metric("Rows kept", f"{report.rows_kept:,}")
m[2].metric("Rows dropped", f"{report.rows_dropped:,}")
m[3].metric("Users", f"{report.n_users:,}")
m[4].metric("Items", f"{report.n_items:,}")
m[5].metric("Event types", f"{len(report.event_counts):,}")
delimiter = {None: "", "\t": ", tab-separated", "::": ", '::'-separated"}.get(
    report.delimiter, f", delimiter '{md_escape(report.delimiter)}'"
)
when = f"{report.time_min:%Y-%m-%d} to {report.time_max:%Y-%m-%d}" if report.time_min is not None else "–"
st.caption(
    f"**{md_escape(report.source)}**: {md_escape(report.file_format)}, {md_escape(report.encoding)}{delimiter}"
    f"{', header row' if report.has_header else ', no header row'} · time {when} · "
    f"time unit: {md_escape(report.timestamp_unit)}"
)

if current.sampled_out:
    st.info(
        f"This is a sample: {plural(report.n_users, 'user')} drawn at random from the log (the same ones every "
        f"time), with all their events. The rows of the other users "
        f"({plural(current.sampled_out, 'row')}) are counted as dropped below; everything shown and trained here "
        "is about the sample.",
        icon=":material/casino:",
    )
elif current.server is not None and current.server.sample_users is not None:
    st.caption(f"Every user of the log is here: it has no more than {current.server.sample_users:,} users.")

if report.dropped:
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(figures.dropped_rows(report.dropped, report.rows_read), key="dropped_chart")
    with right:
        st.markdown("**Examples of dropped rows** (row = line in the file)")
        for reason, count in report.dropped.items():
            with st.expander(f"{md_escape(reason)}: {plural(count, 'row')}"):
                examples = report.examples.get(reason, [])
                if examples:
                    st.dataframe(pd.DataFrame(examples).astype(str), hide_index=True)
                else:
                    st.caption("no examples recorded")
else:
    st.success("Every row was kept: nothing was missing, unreadable or duplicated.", icon=":material/check_circle:")
if report.filter_note:
    st.info(md_escape(report.filter_note), icon=":material/filter_alt:")
if report.notes:
    st.info("\n".join(f"- {md_escape(note)}" for note in report.notes), icon=":material/info:")
if report.data_notes:
    st.markdown("**What the data looks like**")
    st.info("\n".join(f"- {md_escape(note)}" for note in report.data_notes), icon=":material/insights:")

# ---- summary charts
st.subheader("What is in the log")
events = current.chart_events()  # a server source: built from its sequences (no value column)
charts = current.cached(
    "figures",
    lambda: [
        figures.events_over_time(events),
        figures.event_types(events),
        figures.events_per_user(events),
        figures.item_popularity(events),
    ],
)
top = st.columns([3, 2])
top[0].plotly_chart(charts[0], key="chart_time")
top[1].plotly_chart(charts[1], key="chart_types")
bottom = st.columns(2)
bottom[0].plotly_chart(charts[2], key="chart_users")
bottom[1].plotly_chart(charts[3], key="chart_items")

with st.expander("First rows of the validated table"):
    preview = events.head(200).astype({"user_id": str, "item_id": str})
    if "value" in preview and current.events["value"].isna().all():  # the log has no value column: no column of blanks
        preview = preview.drop(columns="value")
    if current.items is not None:
        preview = preview.merge(current.items[["item_id", "title", "category"]], on="item_id", how="left")
    st.dataframe(preview, hide_index=True)

if st.button("Next: train a model", type="primary", icon=":material/arrow_forward:", key="data_next"):
    st.switch_page("views/train.py")

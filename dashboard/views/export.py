"""Export: recommendations for every user (CSV), the run folder (zip), a one-user HTML report."""

import streamlit as st

from dashboard import explaining, exporting, report, widgets
from dashboard.state import Keys
from dashboard.text import file_slug, md_escape
from ltsi.errors import LTSIError

st.title("Export")
st.caption("Everything is generated when you click a button, from the active model of this session.")
active = widgets.require_run("export")
widgets.quality_badge(active)

PREVIEW_USERS = 3
LISTED_USERS = 200  # with very many users, the picker lists this many and any id can be typed
seqs = active.run.seqs
slug = file_slug(active.name)


def known_user(user: str | None) -> bool:
    try:
        seqs.user_index(user)
    except LTSIError:
        return False
    return True


def pick_report_user(default: str) -> str:
    """The report's user; with more users than a list can carry to the browser, the list shows a few and any id
    can be typed (an unknown one falls back to `default`, with a warning)."""
    if seqs.n_users <= widgets.MAX_SELECTBOX_USERS:
        users = list(seqs.users)
        return st.selectbox("User", users, index=users.index(default), key=Keys.EXPORT_USER)
    typed = st.session_state.get(Keys.EXPORT_USER)  # a typed id reaches the state before the page is drawn
    if not known_user(typed):
        st.session_state[Keys.EXPORT_USER] = default
        if typed:
            st.warning(f"There is no user {md_escape(typed)}; the report is about {md_escape(default)}.")
    options = list(dict.fromkeys([st.session_state[Keys.EXPORT_USER], default, *seqs.users[:LISTED_USERS]]))
    return st.selectbox("User (type an id)", options, key=Keys.EXPORT_USER, accept_new_options=True)


# ---- recommendations for all users
with st.container(border=True):
    st.subheader("Recommendations for every user (CSV)")
    c1, c2, c3 = st.columns([1, 2, 2], vertical_alignment="bottom")
    k = c1.number_input("Items per user", 1, 100, 10, key=Keys.EXPORT_K)
    rule = explaining.seen_rule(active)
    if Keys.HIDE_SEEN not in st.session_state:  # one switch per session, shared with the Users page
        st.session_state[Keys.HIDE_SEEN] = rule.hide  # its default follows the data (ltsi.seen_items.seen_rule)
    exclude_seen = c2.toggle(
        "Hide items already in the history",
        key=Keys.HIDE_SEEN,
        help="The same switch as on the Users page. Off: a repeat purchase or re-watch can be recommended, as "
        "in the evaluation. " + rule.reason,
    )
    too_big = seqs.n_users * (len(seqs.items) - 1) > exporting.MAX_CSV_SCORES  # hours of scoring in the page
    c3.download_button(
        "Download recommendations (CSV)",
        data=lambda: exporting.recommendations_csv(active, int(k), exclude_seen),
        file_name=f"ltsi_recommendations_{slug}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="export_csv",
        type="primary",
        disabled=too_big,
    )
    if too_big:
        st.info(
            f"{seqs.n_users:,} users × {len(seqs.items) - 1:,} items is too much to score here. Download the run "
            "below and stream every user's list to Parquet from the command line: `ltsi recommend RUN_DIR --all "
            "--out recs.parquet --k 10` (in chunks of users, on a GPU when there is one).",
            icon=":material/terminal:",
        )
    n_preview = min(PREVIEW_USERS, seqs.n_users)
    with widgets.guard("counting the rows"):
        st.caption(
            f"{exporting.export_caption(active, int(k), exclude_seen)}. {rule.reason} Columns: user_id, rank, item_id, "
            "score, probability (and title, category when an item table is known), after each user's whole "
            "history. Text cells that start with = + - or @ get a leading ' so that spreadsheet programs do not "
            "run them as formulas. The file is prepared when you click (the button spins meanwhile). Preview of "
            + ("the only user:" if seqs.n_users == 1 else f"the first {n_preview} users:")
        )
    with widgets.guard("previewing the recommendations"), st.spinner("Preparing the preview…"):
        st.dataframe(
            exporting.recommendations_preview(active, int(k), exclude_seen, n_users=n_preview),
            hide_index=True,
            key="export_preview",
        )

# ---- the run folder
with st.container(border=True):
    st.subheader("The trained model (run folder as .zip)")
    st.download_button(
        "Download the run (.zip)",
        data=lambda: exporting.run_zip(active),
        file_name=f"ltsi_{slug}.zip",
        mime="application/zip",
        on_click="ignore",
        icon=":material/folder_zip:",
        key="export_zip",
    )
    st.caption(
        "model.safetensors (weights) + JSON (configuration, vocabularies, metrics, a manifest of file hashes) + "
        "history.csv. Load it "
        "again on the Train page, or from the command line: `python -m ltsi evaluate RUN_DIR`. "
        "Loading never unpickles anything."
    )

# ---- one user's HTML report
with st.container(border=True):
    st.subheader("One user's report for a stakeholder (HTML)")
    default = st.session_state.get(Keys.USER)
    c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
    with c1:
        user = pick_report_user(default if known_user(default) else seqs.users[0])
    held = explaining.heldout(active, user)
    end = held["end"] if held is not None else None  # the report's view: the history before the held-out event
    book = st.session_state.get(Keys.SCENARIOS, {}).get((user, end))
    saved = [s.name for s in book.saved] if book is not None else []
    picked = c1.selectbox(
        "Scenario saved on the Users page",
        [None, *saved],
        format_func=lambda n: "none" if n is None else n,
        key="export_scenario",
        disabled=not saved,
    )
    scenario = book.named(picked) if picked else None
    c2.download_button(
        "Download the HTML report",
        data=lambda: report.user_report(active, user, k=int(k), hide_seen=exclude_seen, scenario=scenario),
        file_name=f"ltsi_user_{file_slug(user, 'user')}.html",
        mime="text/html",
        on_click="ignore",
        icon=":material/description:",
        key="export_html",
    )
    st.caption(
        "One small self-contained file (no scripts, opens offline): which history it explains, the timeline, the "
        "top recommendations (the same as this user's rows in the CSV above, with these settings), the model's "
        "test results and its quality check. A scenario saved on the Users page (same user, the view before the "
        "held-out event) can be included. To report the item you clicked, use the button on the Users page."
    )

"""Compare: the active model beside another one (metrics, quality, one user's timeline and list), or two users of
the active model beside each other (timelines, mix of interests, lists, what drives both)."""

import pandas as pd
import streamlit as st

from dashboard import explaining, figures, widgets
from dashboard.exporting import load_run_zip
from dashboard.figures.compare import shared_drivers_chart
from dashboard.library import open_saved, run_library
from dashboard.state import ActiveRun, Keys
from dashboard.text import METRIC_K, gate_words, md_escape, plural
from ltsi import compare
from ltsi.items import item_label

K = 10  # the length of the compared top lists (as on the Users page, whose explanations are reused from the cache)
MAX_DRIVER_TARGETS = 3  # top recommendations per user that "shared drivers" can explain (each one is attributed)

st.title("Compare")
st.caption("Put the active model beside another one, or two users beside each other, and see what differs.")
active = widgets.require_run("compare")
with widgets.guard("checking the model's quality"):
    widgets.quality_badge(active)

# the same switch as on the Users page: both sides of a comparison leave out (or keep) already-had items alike
hide_seen = bool(st.session_state.get(Keys.HIDE_SEEN, explaining.seen_rule(active).hide))
seen_note = (
    "Items a user already had are left out of both lists (as set on the Users page)."
    if hide_seen
    else "Items a user already had can be in both lists (as set on the Users page)."
)


def item_text(run: ActiveRun, item_id: str) -> str:
    """The item's title and id as plain text (for figures, which escape it themselves)."""
    return item_label(item_id, explaining.item_titles(run).get(item_id))


def pick_user(label: str, users: list[str], key: str, default: str) -> str:
    """A user picker; with very many users the list shows 200 of them and any id can be typed."""
    many = len(users) > widgets.MAX_SELECTBOX_USERS  # a selectbox sends all its options to the browser
    known = set(users)  # once: with a million users, each set costs a noticeable moment
    options = list(dict.fromkeys([default, *users[:200]])) if many else users
    if st.session_state.get(key) not in known:
        st.session_state[key] = default
    if many and st.session_state[key] not in options:
        options = [st.session_state[key], *options]
    chosen = st.selectbox(f"{label} (type part of an id)" if many else label, options, key=key, accept_new_options=many)
    if chosen not in known:
        st.warning(f"There is no user {md_escape(chosen)}; showing {md_escape(default)}.", icon=":material/warning:")
        return default
    return chosen


def top_explained(run: ActiveRun, user: str):
    """The user's explanation for today's top recommendation (the whole history), cached per run."""
    return explaining.explanation(run, user, None, None, K, exclude_seen=hide_seen)


def heatmap(run: ActiveRun, user: str, key: str) -> None:
    """The user's timeline with the attention and the attribution to their top recommendation (under `run`)."""
    exp = top_explained(run, user)
    top = exp.recommendations["item_id"].iat[0]
    fig = figures.user_heatmap(
        exp.for_target(top), figures.heatmap_signals(item_text(run, top)), timeline=exp.timeline_for(top)
    )
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


def marked_list(recs: pd.DataFrame, marks: pd.Series, column: str) -> None:
    """A top list with a column that says where each item is in the other list."""
    table = recs.copy()
    table.insert(1, column, table["item_id"].astype(str).map(marks).fillna("").to_numpy())
    show = [c for c in ["rank", column, "title", "category", "item_id", "score"] if c in table]
    st.dataframe(table[show], hide_index=True, column_config={"score": st.column_config.NumberColumn(format="%.3f")})


def overlap_words(diff: pd.DataFrame, a: str, b: str) -> str:
    counts = compare.overlap_counts(diff)
    return (
        f"{plural(counts['both'], 'item')} in both lists ({counts['moved']} of them at another rank), "
        f"{counts['only A']} only in {a}'s, {counts['only B']} only in {b}'s."
    )


# ---------------------------------------------------------------------------------------------
# Two runs


def choose_other_run() -> None:
    """Open another model for the comparison: a saved run of the library, or an uploaded run zip."""
    source = st.radio(
        "Compare the active model with",
        ["a saved run", "an uploaded run (.zip from the Export page)"],
        key="compare_source",
        horizontal=True,
    )
    if source == "a saved run":
        entries = [e for e in run_library().list_runs() if e.id != active.library_id]
        if not entries:
            st.info(
                "There is no other saved run yet: every model trained on the Train page is saved there. "
                "Or upload a run zip.",
                icon=":material/info:",
            )
            return
        by_id = {e.id: e for e in entries}
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        picked = left.selectbox(
            "Saved run",
            list(by_id),
            key="compare_pick",
            format_func=lambda i: (
                f"{by_id[i].name} · {by_id[i].data_name or 'unnamed data'} · {by_id[i].created.replace('T', ' ')[:16]}"
            ),
        )
        if right.button("Compare", key="compare_open", type="primary", width="stretch"):
            with widgets.guard("opening the saved run"):
                st.session_state[Keys.COMPARE_RUN] = open_saved(picked)
    else:
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        upload = left.file_uploader("Run zip", type="zip", key="compare_zip")
        if right.button("Compare", key="compare_upload", type="primary", width="stretch", disabled=upload is None):
            with widgets.guard("opening the uploaded run"):
                st.session_state[Keys.COMPARE_RUN] = load_run_zip(upload.getvalue(), upload.name)


def number_format(column: str) -> st.column_config.NumberColumn:
    """Scores with four decimals; a change with its sign."""
    return st.column_config.NumberColumn(format="%+.4f" if column.endswith("change") else "%.4f")


def quality_box(run: ActiveRun, name: str) -> None:
    quality = widgets.quality_of(run)
    lines = [f"**{name}**: {md_escape(quality.headline)}", *(md_escape(w) for w in quality.warnings)]
    widgets.QUALITY_BOXES[quality.level]("  \n".join(lines), icon=widgets.QUALITY_ICONS[quality.level])


def two_runs(other: ActiveRun) -> None:
    st.markdown(f"**A** = {md_escape(active.name)} (the active model) · **B** = {md_escape(other.name)}")
    if other.run is active.run or (other.library_id is not None and other.library_id == active.library_id):
        st.info("B is the active model itself: pick another run to see differences.", icon=":material/info:")
    same = compare.same_data(active.run, other.run)
    users = compare.common_users(active.run, other.run)
    shared_items = compare.common_items(active.run, other.run)
    if not same:
        st.info(
            "The two models were trained on different data, so their test results come from different test "
            f"events. Only what both know is compared below: {plural(len(users), 'user')} and "
            f"{plural(len(shared_items), 'item')} are in both.",
            icon=":material/info:",
        )

    st.subheader("Test results")
    metrics = [f"{m}@{METRIC_K}" for m in ("HR", "NDCG", "MRR")]
    table = compare.metrics_side_by_side(active.run, other.run, metrics)
    if table.empty:
        st.caption("Neither model has stored test results.")
    else:
        st.dataframe(
            table,
            hide_index=True,
            column_config={c: number_format(c) for c in table if c != "model"},
            key="compare_metrics",
        )
        st.caption(
            "Each model's score on every user's held-out last event (higher is better); “change” is B minus A. "
            "Besides LTSI, each run lists its variants and the simple methods (most popular items, the items "
            "that most often follow the last one) on the same events. An empty cell: that run has no such row."
        )
    a_box, b_box = st.columns(2)
    with a_box, widgets.guard("checking model A"):
        quality_box(active, "A")
    with b_box, widgets.guard("checking model B"):
        quality_box(other, "B")

    st.subheader("One user under both models")
    if not users:
        st.warning("No user is in both models' data, so there is no user to compare.", icon=":material/warning:")
        return
    default = st.session_state.get(Keys.USER) if st.session_state.get(Keys.USER) in set(users) else users[0]
    user = pick_user("User (in both models' data)", users, "compare_runs_user", default)
    st.caption(f"Recommendations after the user's whole history. {seen_note}")
    with widgets.guard("explaining the user under both models"):
        exp_a, exp_b = top_explained(active, user), top_explained(other, user)
        recs_a, recs_b = exp_a.recommendations, exp_b.recommendations
        if not same:  # items only one model knows cannot be compared: ranks among the shared items
            recs_a, recs_b = compare.within_items(recs_a, shared_items), compare.within_items(recs_b, shared_items)
        diff = compare.topk_diff(recs_a, recs_b)
        marks = compare.change_words(diff).set_axis(diff["item_id"].to_numpy())
        st.markdown(overlap_words(diff, "A", "B"))
        left, right = st.columns(2)
        with left:
            st.markdown("**A** (the active model)")
            marked_list(recs_a, marks, "A → B")
            heatmap(active, user, f"compare_heatmap_a_{user}")
        with right:
            st.markdown("**B**")
            marked_list(recs_b, marks, "A → B")
            heatmap(other, user, f"compare_heatmap_b_{user}")
        st.caption(
            "“A → B”: how each item moves from A's list to B's (“up 2 in B”: B ranks it two places nearer the top; "
            "“only in A”: B does not recommend it). "
            "Each timeline shows its own model's attention and what pushed its own top recommendation: blue "
            "events pushed it up, red ones down."
            + (
                " Items only one model knows are left out and the others ranked again, so a list can be "
                f"shorter than {K}."
                if not same
                else ""
            )
        )


# ---------------------------------------------------------------------------------------------
# Two users


def two_users() -> None:
    users = list(active.run.seqs.users)
    if len(users) < 2:
        st.info("The data has a single user: there is nobody to compare with.", icon=":material/info:")
        return
    first = st.session_state.get(Keys.USER) if st.session_state.get(Keys.USER) in set(users) else users[0]
    second = next(u for u in users if u != first)
    left, right = st.columns(2)
    with left:
        user_a = pick_user("User A", users, "compare_user_a", first)
    with right:
        user_b = pick_user("User B", users, "compare_user_b", second)
    if user_a == user_b:
        st.info("Pick two different users.", icon=":material/info:")
        return
    st.caption(f"Recommendations after each user's whole history. {seen_note}")
    with widgets.guard("explaining the two users"):
        exp_a, exp_b = top_explained(active, user_a), top_explained(active, user_b)
        diff = compare.topk_diff(exp_a.recommendations, exp_b.recommendations)
        marks = compare.change_words(diff).set_axis(diff["item_id"].to_numpy())
        st.markdown(overlap_words(diff, "A", "B"))
        left, right = st.columns(2)
        for column, user, exp, name in ((left, user_a, exp_a, "A"), (right, user_b, exp_b, "B")):
            with column:
                st.markdown(
                    f"**{name}: {md_escape(user)}** · {plural(exp.n_history, 'event')} · share of long-term interest:",
                    help=gate_words(exp.gate),
                )
                gate = figures.gate_bar(exp.gate)
                st.plotly_chart(gate, key=f"compare_gate_{name}", config={"displayModeBar": False})
                marked_list(exp.recommendations, marks, "A → B")
                heatmap(active, user, f"compare_user_heatmap_{name}_{user}")
        st.caption(
            "“A → B”: whether both users get the item, and where (“up 2 in B”: two places nearer the top for B; "
            "“only in A”: only user A gets it). Each timeline shows what pushed that user's top recommendation: "
            "blue events pushed it up, red ones down."
        )

    st.subheader("What drives both users' recommendations")
    n = st.slider(
        "Top recommendations to explain per user",
        1,
        MAX_DRIVER_TARGETS,
        1,
        key="compare_driver_targets",
        help="Each further recommendation is explained separately: about half a second more per user.",
    )
    with widgets.guard("finding what drives both users"):
        rows_a, rows_b = (driver_rows(user, n) for user in (user_a, user_b))
        drivers = compare.shared_drivers(rows_a, rows_b, items=active.run.items, k=5)
        st.plotly_chart(
            shared_drivers_chart(drivers, f"A: {user_a}", f"B: {user_b}"),
            key="compare_drivers",
            config={"displayModeBar": False},
        )
        recommendation = "top recommendation" if n == 1 else f"top {n} recommendations"
        st.caption(
            f"The items, categories and event types in both histories that pushed up each user's "
            f"{recommendation}: each bar is that driver's share of everything that moved the user's scores "
            "(blue and red events together). Only drivers that push up both users are shown, strongest first."
        )


def driver_rows(user: str, n: int) -> pd.DataFrame:
    """Per-event attribution rows for the user's top `n` recommendations (each explained once, cached)."""
    top = top_explained(active, user).recommendations["item_id"].head(n)
    rows = [
        explaining.explanation(active, user, None, item if i else None, K, exclude_seen=hide_seen).for_target(item)
        for i, item in enumerate(top)
    ]
    return pd.concat(rows, ignore_index=True)


runs_tab, users_tab = st.tabs(["Two runs", "Two users"])
with runs_tab:
    choose_other_run()
    other_run = st.session_state.get(Keys.COMPARE_RUN)
    if other_run is None:
        st.caption("Open a saved run or upload a run zip to put it beside the active model.")
    else:
        if st.button("Stop comparing", key="compare_forget", icon=":material/close:"):
            st.session_state.pop(Keys.COMPARE_RUN, None)
            st.rerun()
        with widgets.guard("comparing the two models"):
            two_runs(other_run)
with users_tab:
    two_users()

"""Items: why one item is recommended to so many people: who gets it, what drives it, its neighbours, its weeks."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import explaining, exporting, widgets
from dashboard.figures import items as item_figures
from dashboard.state import Keys
from dashboard.text import md_escape, plural
from ltsi import insights, item_analysis

K = 10
MAX_OPTIONS = 200  # a selectbox sends all its options to the browser on every run
MAX_TABLE_ROWS = 1000  # so does a table: the users who get a popular item are shown by rank, the first 1,000
MAX_DRIVER_USERS = 100  # Integrated Gradients per user is slow: the drivers come from a sample
PICK = "item_pick"  # the item selectbox (widget identity; the chosen item lives in Keys.ITEM)
USER_PICK = "item_user_pick"  # the selectbox of a user who gets the item
USERS_LIST = "item_users_list"  # the list (run, item, seen switch) whose user the box holds
USERS_TABLE = "item_users_table"  # + its version: a new version is a table with no row ticked
USERS_TABLE_VERSION = "item_users_table_version"
NEAREST_TABLE = "item_nearest_table"

st.title("Items")
active = widgets.require_run("items")
widgets.quality_badge(active)
st.caption("Pick an item to see who gets it in their top 10, which past items push it up, and its neighbours.")

seqs = active.run.seqs
rule = explaining.seen_rule(active)


catalogue = explaining.catalogue(active)

# ---- the seen-items switch (shared with the Users and Export pages)
if Keys.HIDE_SEEN not in st.session_state:  # the default follows the data (one rule: ltsi.seen_items.seen_rule)
    st.session_state[Keys.HIDE_SEEN] = rule.hide

# ---- choose an item: one search box narrows the list
left, right = st.columns([2, 3], vertical_alignment="bottom")
with right:
    hide_seen = st.toggle("Hide items already in the history", key=Keys.HIDE_SEEN, help=md_escape(rule.reason))
# Every user's top 10 scores the whole catalogue per user: a big log is ranked on a seeded sample of users
ranked_users = None  # None: every user
if seqs.n_users > insights.scored_users(len(seqs.items) - 1):
    ranked_users = active.cached(
        ("item-ranked-users",),
        lambda: [seqs.users[u] for u in insights.sample_users(seqs, None, insights.scored_users(len(seqs.items) - 1))],
    )
n_ranked = seqs.n_users if ranked_users is None else len(ranked_users)
lists_word = "sampled top-10 list" if ranked_users is not None else "top-10 list"
recommendations = pd.DataFrame(columns=["user_id", "rank", "item_id", "score"])
with widgets.guard("ranking every user's recommendations"):
    # the Export page's CSV rows (of the sampled users on a big log), cached
    recommendations = exporting.all_recommendations(active, K, hide_seen, users=ranked_users)
reach = recommendations["item_id"].value_counts()  # item id -> users who get it in their top 10
if not catalogue.has(str(st.session_state.get(Keys.ITEM))):  # start on the item most users get (or the first)
    st.session_state[Keys.ITEM] = str(reach.index[0]) if len(reach) else catalogue.first(1)[0]

with left:
    query = st.text_input(
        "Find an item (part of its id or title)", key=Keys.ITEM_QUERY, placeholder="type part of an id or a title"
    ).strip()
current = st.session_state[Keys.ITEM]
if query:  # the shown item if it matches, then the items most users get: the likely reason to look one up
    matches, n_matches = catalogue.search(query, MAX_OPTIONS, first=[current, *reach.index.astype(str)])
else:
    matches = reach.index.astype(str)[:MAX_OPTIONS].tolist() or catalogue.first(MAX_OPTIONS)
    n_matches = len(matches)
keep_current = not query or current in matches  # a search that misses the shown item moves to its first match
options = list(dict.fromkeys([current] * keep_current + matches[:MAX_OPTIONS])) or [current]
if st.session_state.get(PICK) not in options:
    st.session_state[PICK] = current if current in options else options[0]
with left:
    item = st.selectbox(
        "Item",
        options,
        key=PICK,
        help="The list: the item shown, then the items most users get. Type in the search box to narrow it.",
        format_func=lambda i: f"{catalogue.label(i)} · in {plural(int(reach.get(i, 0)), lists_word)}",
    )
    if query and not matches:
        st.caption(f"No item has “{md_escape(query)}” in its id or title; the list shows the item shown before.")
    elif query:
        shown = f" (the list shows the first {MAX_OPTIONS})" if n_matches > MAX_OPTIONS else ""
        st.caption(f"{plural(n_matches, 'item')} with “{md_escape(query)}” in the id or title{shown}.")
st.session_state[Keys.ITEM] = item
name = md_escape(catalogue.label(item))
st.caption(
    (
        "Items a user already had are left out of that user's top 10 (as in the exported CSV). "
        if hide_seen
        else "Items a user already had can be in that user's top 10 (as in the exported CSV). "
    )
    + md_escape(rule.reason)
)

# ---- (a) who gets it
st.subheader("Who gets it in their top 10")
getters = pd.DataFrame(columns=["user_id", "rank", "score"])
with widgets.guard("finding who gets this item"):
    getters = active.cached(
        ("item-who-gets", item, K, hide_seen),
        lambda: item_analysis.who_gets(active.run, item, K, hide_seen, recommendations=recommendations),
    )
    of_whom = (
        f"{n_ranked:,}"
        if ranked_users is None
        else f"the {n_ranked:,} users of a random sample (of {seqs.n_users:,} users: ranking the whole catalogue "
        "for everyone would take too long here)"
    )
    st.markdown(
        f"**{name}** is in the top {K} of **{plural(len(getters), 'user')}** of {of_whom} "
        f"({len(getters) / max(n_ranked, 1):.1%}), after each user's whole history. It has "
        f"{plural(catalogue.events_of(item), 'event')} in the log."
    )
    groups = item_analysis.reach_by_history_length(seqs, getters["user_id"].tolist(), among=ranked_users)
    st.plotly_chart(item_figures.reach_by_history_length(groups, K), key="item_reach", config={"displayModeBar": False})
    st.caption(
        ("Sampled users" if ranked_users is not None else "Users")
        + " grouped by how many events they have in the log. Each bar: the share of that group who get this "
        "item in their top 10 (hover for the counts). A bar much higher than the others means the item is "
        "pushed mostly to that kind of user."
    )

if len(getters):
    shown = getters.head(MAX_TABLE_ROWS)  # sorted by rank: the users for whom the item ranks highest
    lengths = seqs.lengths[[seqs.user_index(u) for u in shown["user_id"]]]
    table = shown.assign(events=lengths)[["user_id", "rank", "score", "events"]]

    def untick_users_table() -> None:
        """A new version of the table: no row ticked, so no tick disagrees with the user in the box."""
        st.session_state[USERS_TABLE_VERSION] = st.session_state.get(USERS_TABLE_VERSION, 0) + 1

    # The box keeps its user across reruns, and the browser keeps showing the label it last had: on another
    # list (item, seen switch or run) the user and its rank differ, so the box starts on the new list's first
    # user (set here, so the browser is sent the new label) and the table with no row ticked.
    shown_list = (id(active.run), item, hide_seen)  # id: the run object, the same for as long as it is active
    if st.session_state.get(USERS_LIST) != shown_list or st.session_state.get(USER_PICK) not in set(table["user_id"]):
        st.session_state[USERS_LIST] = shown_list
        st.session_state[USER_PICK] = table["user_id"].iat[0]
        untick_users_table()
    table_key = f"{USERS_TABLE}_{st.session_state.get(USERS_TABLE_VERSION, 0)}"

    def pick_user_row() -> None:
        """A clicked row of the users table picks that user below."""
        selection = st.session_state.get(table_key)
        rows = getattr(getattr(selection, "selection", None), "rows", None)
        if rows is None and isinstance(selection, dict):
            rows = selection.get("selection", {}).get("rows")
        if rows:
            st.session_state[USER_PICK] = table["user_id"].iat[rows[0]]

    st.dataframe(
        table,
        hide_index=True,
        key=table_key,
        on_select=pick_user_row,
        selection_mode="single-row",
        height=min(38 + 35 * len(table), 320),
        column_config={
            "rank": st.column_config.NumberColumn("rank of this item", format="%d"),
            "score": st.column_config.NumberColumn(format="%.3f"),
            "events": st.column_config.NumberColumn("events in the log", format="%d"),
        },
    )
    c1, c2, c3 = st.columns([2, 1, 2], vertical_alignment="bottom")
    ranks = dict(zip(table["user_id"], table["rank"]))
    listed = table["user_id"].head(MAX_OPTIONS).tolist()  # in the table's order, with a user clicked lower down
    listed += [st.session_state[USER_PICK]] if st.session_state[USER_PICK] not in listed else []
    user = c1.selectbox(
        "User (or click a row above)",
        listed,
        key=USER_PICK,
        on_change=untick_users_table,  # a user picked here, not the row ticked above
        format_func=lambda u: f"{u} · rank {ranks.get(u, '?')}",
    )
    opened = c2.button("Open this user", key="item_open_user", icon=":material/person_search:")
    explained = c3.button(
        "Explain this item for this user",
        key="item_explain_user",
        icon=":material/manage_search:",
        type="primary",
        help="Opens the Users page on this user's recommendations after the whole history, with this item in "
        "the attribution row of the heatmap.",
    )
    if opened or explained:
        st.session_state[Keys.USER] = user
        st.session_state[Keys.USER_PICK] = user
        st.session_state[Keys.EVALUATION_VIEW] = False  # the whole history: the list in which the item was found
        if explained:  # the Users page's target: (…, user, end (None: whole history), its seen switch, item)
            st.session_state[Keys.TARGET] = ("target", user, None, hide_seen, item)
        st.switch_page("views/users.py")
    if len(getters) > len(table):
        st.caption(
            f"The table shows the first {len(table):,} of these {plural(len(getters), 'user')} (those whose list "
            f"has the item highest); the user list beside, the first {min(len(table), MAX_OPTIONS)}."
        )
    st.caption(
        "Users sorted by the item's rank in their list (1 = their top recommendation). Open one to see their "
        "timeline; “Explain” also shows which of their events pushed this item up."
    )
else:
    st.info(f"No user gets this item in their top {K}.", icon=":material/info:")

# ---- (b) which past items drive it
st.subheader("Which past items push it up")
# Integrated Gradients scores the catalogue at every step of every user: a big catalogue gets fewer users, and
# smaller batches (about 64 M scores at once)
n_catalogue = len(seqs.items) - 1
driver_users = min(MAX_DRIVER_USERS, max(10, insights.scored_users(n_catalogue) // 5))
driver_batch = int(np.clip(2**26 // (16 * n_catalogue), 1, 64))
if len(getters):
    with widgets.guard("explaining this item"), st.spinner("Attributing the item's score…"):
        drivers = active.cached(
            ("item-drivers", item, K, hide_seen),
            lambda: item_analysis.item_drivers(
                active.run, item, getters["user_id"].tolist(), driver_users, batch_size=driver_batch
            ),
        )
        st.plotly_chart(item_figures.item_drivers(drivers), key="item_drivers", config={"displayModeBar": False})
        sampled, given = drivers.attrs.get("n_users", 0), drivers.attrs.get("of_users", 0)
        over = (
            f"a random sample of {sampled:,} of the {given:,} users who get it"
            if sampled < given
            else f"all {plural(given, 'user')} who get it"
        )
        st.caption(
            f"For {over}, the item's score is split over the events the model reads (Integrated Gradients); each "
            "event's part is credited to the event's item. Each bar: that past item's share of everything that "
            "pushed the score up (hover for in how many users). Items that pushed it down are left out."
        )
else:
    st.caption("Nobody gets it, so there is no score to explain here. Open a user on the Users page instead.")

# ---- (c) nearest items


def pick_nearest_row() -> None:
    """A clicked row of the neighbours table shows that item instead."""
    selection = st.session_state.get(NEAREST_TABLE)
    rows = getattr(getattr(selection, "selection", None), "rows", None)
    if rows is None and isinstance(selection, dict):
        rows = selection.get("selection", {}).get("rows")
    shown = st.session_state.get(Keys.ITEM)
    if rows and catalogue.has(shown):
        neighbour = active.cached(("item-nearest", shown), lambda: item_analysis.nearest_items(active.run, shown))
        st.session_state[Keys.ITEM] = neighbour["item_id"].iat[rows[0]]
        st.session_state[PICK] = st.session_state[Keys.ITEM]
        st.session_state[Keys.ITEM_QUERY] = ""  # so the picked item is in the list


st.subheader("Items the model treats alike")
with widgets.guard("finding similar items"):
    nearest = active.cached(("item-nearest", item), lambda: item_analysis.nearest_items(active.run, item))
    shown_columns = [c for c in ("item_id", "title", "category", "similarity", "popularity") if c in nearest]
    st.dataframe(
        nearest[shown_columns],
        hide_index=True,
        key=NEAREST_TABLE,
        on_select=pick_nearest_row,
        selection_mode="single-row",
        column_config={
            "similarity": st.column_config.ProgressColumn(format="%.2f", min_value=-1.0, max_value=1.0),
            "popularity": st.column_config.NumberColumn("events in the log", format="%d"),
        },
    )
    st.caption(
        "The items whose vector in the model (the one that scores them) points the same way as this item's: a "
        "similarity of 1 means the model treats them as the same, 0 as unrelated. Click a row to show that item."
    )

# ---- (d) its popularity over time
st.subheader("Its events over time")
with widgets.guard("counting the item's events"):
    weekly = active.cached(("item-weekly", item), lambda: item_analysis.popularity_over_time(active.run, item, "W"))
    st.plotly_chart(item_figures.popularity_over_time(weekly), key="item_weekly", config={"displayModeBar": False})
    st.caption(
        "The item's events per week over the whole log, by event type (weeks start on Monday). Compare with "
        "the count above: an item many users get but few recently used may be carried by old popularity."
    )

"""Users: a user's timeline as a heatmap (attention, long-term weight, attribution), gate, recommendations, what-if."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import explaining, figures, report, widgets
from dashboard.state import Keys
from dashboard.text import GLOSSARY, file_slug, fmt_rank, gate_words, md_escape, plural, split_words
from ltsi.errors import LTSIError
from ltsi.items import item_label
from ltsi.scenarios import Edit, Scenario

K = 10
LISTED_USERS = 200  # a search lists this many of its matches (a selectbox sends its options to the browser)

st.title("Users")
active = widgets.require_run("users")
widgets.quality_badge(active)
with st.popover("What do these words mean?", icon=":material/help:"):
    st.markdown("\n".join(f"- **{term}**: {meaning}" for term, meaning in GLOSSARY.items()))

seqs = active.run.seqs
rule = explaining.seen_rule(active)
cfg = active.run.model_config
lags = cfg.transition_lags if getattr(cfg, "transitions", False) else 0  # events that carry a transition term
titles = explaining.item_titles(active)


def item_text(item_id: str) -> str:
    """The item's title and id as plain text (for the figures, which escape it themselves)."""
    return item_label(item_id, titles.get(item_id))


def item_name(item_id: str) -> str:
    """The item's title and id as Markdown-safe text (both come from the data)."""
    return md_escape(item_text(item_id))


# ---- choose a user: suggestions + searchable picker
picks = {}
with widgets.guard("finding interesting users"):
    picks = explaining.suggestions(active)
users = seqs.users  # a tuple: no per-run copies of a million ids (lookups go through seqs.has_user)
if not seqs.has_user(st.session_state.get(Keys.USER) or ""):  # start on a test hit: the held-out item is in the list
    first = picks.get("Test hit") or next(iter(picks.values()), None)
    st.session_state[Keys.USER] = first[0] if first else users[0]


def choose(user_id: str) -> None:
    st.session_state[Keys.USER] = user_id
    st.session_state[Keys.USER_PICK] = user_id


if picks:
    st.caption("Users worth a look (click one; hover for why):")
    cols = st.columns(len(picks))
    for col, (label, (uid, why)) in zip(cols, picks.items()):
        col.button(
            f"{label}: {md_escape(uid)}",
            key=f"pick_{label}",
            help=md_escape(why),
            on_click=choose,
            args=(uid,),
            width="stretch",
        )


def n_events(user_id: str) -> int:
    return int(seqs.offsets[seqs.user_index(user_id) + 1] - seqs.offsets[seqs.user_index(user_id)])


many = len(users) > widgets.MAX_SELECTBOX_USERS  # a selectbox sends all its options to the browser on every run


def find_typed_user() -> None:
    """A typed id (or part of one) in the one search box: pick the user, or the first of those that match."""
    typed = str(st.session_state.get(Keys.USER_PICK) or "")
    if not typed:  # the box was cleared: stay on the shown user
        st.session_state[Keys.USER_PICK] = st.session_state[Keys.USER]
        return
    if seqs.has_user(typed):
        st.session_state[Keys.USER] = typed
        return
    st.session_state[Keys.USER_QUERY] = typed  # the page lists the users that match it
    matches, _ = explaining.find_users(active, typed, LISTED_USERS)
    st.session_state[Keys.USER_PICK] = matches[0] if matches else st.session_state[Keys.USER]


query = str(st.session_state.get(Keys.USER_QUERY) or "") if many else ""
if many:  # list a few users (the matches of the last search); any id can be typed
    matches, n_matches = explaining.find_users(active, query, LISTED_USERS) if query else (users, len(users))
    suggested = [uid for uid, _ in picks.values()]
    options = list(dict.fromkeys([st.session_state[Keys.USER], *suggested, *matches[:LISTED_USERS]]))
else:
    options = users
if st.session_state.get(Keys.USER_PICK) not in options:
    st.session_state[Keys.USER_PICK] = st.session_state[Keys.USER]
left, right = st.columns([2, 3], vertical_alignment="bottom")
with left:
    user = st.selectbox(
        "User (type part of an id and press Enter)" if many else "User (type to search)",
        options,
        key=Keys.USER_PICK,
        format_func=lambda u: f"{u} · {plural(n_events(u), 'event')}" if seqs.has_user(u) else str(u),
        accept_new_options=many,
        on_change=find_typed_user if many else None,
    )
    if many and query:
        found = plural(n_matches, "user")
        st.caption(
            f"{found} with “{md_escape(query)}” in the id; the list shows the first {LISTED_USERS}."
            if n_matches > LISTED_USERS
            else f"{found} with “{md_escape(query)}” in the id."
        )
if not seqs.has_user(user):  # typed without the callback (it resolves every typed id): stay on the shown user
    user = st.session_state[Keys.USER]
st.session_state[Keys.USER] = user
held = explaining.heldout(active, user)
with right:
    st.session_state.setdefault(Keys.EVALUATION_VIEW, True)  # (another page may set it: no value= here then)
    evaluation = st.toggle(
        "Hide the user's last event and check whether the model predicts it",
        key=Keys.EVALUATION_VIEW,
        disabled=held is None,
        help="On: the model sees every event but the last, and the recommendations are compared "
        "with that held-out event (how the model was tested). Off: the whole history, as "
        "for a recommendation made today.",
    )
    if Keys.HIDE_SEEN not in st.session_state:  # the default follows the data (one rule: ltsi.seen_items.seen_rule)
        st.session_state[Keys.HIDE_SEEN] = rule.hide
    hide_seen = st.toggle("Hide items already in the history", key=Keys.HIDE_SEEN, help=md_escape(rule.reason))
end = held["end"] if (held is not None and evaluation) else None
st.caption(
    (
        "Items the user already had are left out of the recommendations. "
        if hide_seen
        else "Items the user already had can be recommended again. "
    )
    + rule.reason
)

# ---- which item the attribution row explains (a clicked recommendation, the held-out item, else the top one)
target_key = ("target", user, end, hide_seen)  # a clicked row belongs to one list: this user, view and switch
chosen = st.session_state.get(Keys.TARGET)
target_item = chosen[-1] if isinstance(chosen, tuple) and chosen[:-1] == target_key else None

with widgets.guard("explaining this user"):
    base = explaining.explanation(active, user, end, None, K, exclude_seen=hide_seen)
    recs = base.recommendations
    top_item = recs["item_id"].iat[0]
    target_item = target_item or top_item
    exp = (
        base
        if target_item == top_item
        else explaining.explanation(active, user, end, target_item, K, exclude_seen=hide_seen)
    )
    rows = exp.for_target(target_item)
    target_row = exp.targets[exp.targets["target_item"] == target_item].iloc[0]

    # the what-if table's unticked rows (its widget state is known before it is drawn again below)
    window = rows.sort_values("position", ascending=False).reset_index(drop=True)  # most recent first
    editor_key = Keys.what_if(user, end)
    edits = (st.session_state.get(editor_key) or {}).get("edited_rows", {})
    removed = tuple(
        sorted(
            int(window["position"].iat[int(i)])
            for i, change in edits.items()
            if change.get("keep") is False and int(i) < len(window)
        )
    )
    # the other changes (add, move, cut) and the saved scenarios of this user and view
    book = st.session_state.setdefault(Keys.SCENARIOS, {}).setdefault((user, end), explaining.UserScenarios())
    changes = tuple(Edit.remove(p) for p in removed) + book.edits  # unticked events first, then the changes in order
    edited, change_error = None, None
    if changes:
        try:
            edited = explaining.edited_history(active, user, end, changes)
        except LTSIError as error:  # e.g. an event a change refers to was unticked afterwards
            change_error = str(error)
    # events the what-if leaves out (unticked or cut off), greyed in the heatmap
    left_out = removed if edited is None else tuple(sorted(set(range(exp.n_history)) - set(edited.positions)))

    # ---- summary: why the explained item scored as it did (its own split; the overall mix only as help)
    g = float(exp.gate)
    s1, s2 = st.columns([2, 3])
    with s1:
        st.markdown(
            split_words(target_row, f"**{item_name(target_item)}**"),
            help=gate_words(g)
            + " Each part is what it adds to the score compared with knowing nothing about the user."
            + (
                f" The recent items' transitions: for each of the last {plural(lags, 'event')}, how often its "
                "item was directly followed by this item in training."
                if lags
                else " This model does not count transitions or popularity."
            ),
        )
    with s2:
        n_hist = exp.n_history
        if exp.n_window < n_hist:
            window_note = f"the model reads the last {exp.n_window:,} of them"
        else:
            window_note = "the model reads it" if n_hist == 1 else "the model reads all of them"
        if n_hist < n_events(user):  # the held-out event is hidden: say how many the model sees
            seen = f"{n_hist:,} before the held-out one ({window_note})"
        else:
            seen = window_note
        st.markdown(f"**{md_escape(user)}** has {plural(n_events(user), 'event')}; {seen}.")
        if held is not None and evaluation:
            rank = explaining.heldout_rank(active, user, exclude_seen=hide_seen)
            if not np.isfinite(rank):  # hidden: the held-out item is one the user already had
                st.markdown(
                    f"Held-out next event: **{item_name(held['item_id'])}** — :orange[hidden], because the user "
                    "already had it (switch off “Hide items already in the history” to see its rank)."
                )
            else:
                verdict = f":green[in the top {K}]" if rank <= K else f":orange[not in the top {K}]"
                st.markdown(
                    f"Held-out next event: **{item_name(held['item_id'])}** — {verdict}, ranked "
                    f"{fmt_rank(rank)} of {plural(len(seqs.items) - 1, 'item')}."
                )
            if target_item != held["item_id"] and st.button(
                "Explain the held-out item", key="explain_heldout", icon=":material/manage_search:"
            ):
                st.session_state[Keys.TARGET] = (*target_key, held["item_id"])
                st.rerun()
        elif held is None:
            st.caption("This user has fewer than 3 events, so no event was held out for testing.")
        if target_item != top_item and st.button(
            "Back to the top recommendation", key="explain_top", icon=":material/undo:"
        ):
            st.session_state[Keys.TARGET] = (*target_key, top_item)
            st.rerun()

    # ---- the heatmap
    fig = figures.user_heatmap(
        rows,
        figures.heatmap_signals(item_text(target_item)),
        removed=left_out,
        timeline=exp.timeline_for(target_item),
    )
    clicked = st.plotly_chart(
        fig, key=f"heatmap_{user}_{end}", on_select="rerun", selection_mode="points", config={"displayModeBar": False}
    )
    transitions_note = (
        f" For each of the last {plural(lags, 'event')} it also counts, exactly, how often its item was directly "
        "followed by this item in training. The item's own popularity does not depend on the history, so no "
        "event carries it."
        if lags
        else ""
    )
    st.caption(
        f"Attribution: how much each event pushed the score of {item_name(target_item)} (score "
        f"{float(target_row['score']):.2f}, rank {fmt_rank(float(target_row['rank']))}) up or down, through its "
        f"item, event type and time since the previous event.{transitions_note} Together the events add up to "
        "the score minus the score when knowing nothing about the user (an estimate, off by "
        f"{abs(float(target_row['delta'])):.2g})."
        + (" Grey columns are left out in the what-if below." if left_out else "")
    )

    points = getattr(getattr(clicked, "selection", None), "points", None) or []
    if points:
        pos = points[0].get("customdata", points[0].get("x"))
        pos = int(pos[0] if isinstance(pos, (list, tuple)) else pos)
        hit = rows[rows["position"] == pos]
        if len(hit):
            e = hit.iloc[0]
            term = float(e.get("attribution_transitions", 0.0))
            of_which = f" (of which its transition term {term:+.3f})" if np.isfinite(term) and term else ""
            st.info(
                f"**Event #{pos}**: {item_name(e['item_id'])} · {md_escape(e['event'])} · "
                f"{pd.Timestamp(e['timestamp']):%Y-%m-%d %H:%M}  \nshort-term attention "
                f"{e['short_attention']:.3f} · long-term weight {e['long_attention']:.3f} · attribution "
                f"{e['attribution']:+.3f}{of_which}. Untick it in the what-if table below to see the list "
                "without it.",
                icon=":material/touch_app:",
            )

    # ---- recommendations (click a row to explain it)
    st.subheader("Top recommendations")
    st.caption("Click a row: the attribution row of the heatmap switches to that item.")
    table = recs.copy()
    if not hide_seen:  # say which recommended items the user already had
        had = set(seqs.items.decode(seqs.item_ids[seqs.offsets[seqs.user_index(user)] :][: exp.n_history]))
        table.insert(1, "already had", np.where(table["item_id"].isin(had), "yes", ""))
    if held is not None and evaluation:
        table.insert(1, "held-out", np.where(table["item_id"] == held["item_id"], "✔ next event", ""))
    table.insert(1, "explained", np.where(table["item_id"] == target_item, "◀ in heatmap", ""))
    columns = ["rank", "explained", "held-out", "already had", "title", "category", "item_id", "score"]
    show = [c for c in columns if c in table]
    recs_key = Keys.recommendations(user, end) + ("_unseen" if hide_seen else "")  # row numbers differ per list

    def pick_recommendation() -> None:
        selection = st.session_state.get(recs_key)
        picked = getattr(getattr(selection, "selection", None), "rows", None)
        if picked is None and isinstance(selection, dict):
            picked = selection.get("selection", {}).get("rows")
        st.session_state[Keys.TARGET] = (*target_key, recs["item_id"].iat[picked[0]] if picked else top_item)

    st.dataframe(
        table[show],
        hide_index=True,
        key=recs_key,
        on_select=pick_recommendation,
        selection_mode="single-row",
        column_config={
            "score": st.column_config.NumberColumn(format="%.3f"),
            "explained": st.column_config.TextColumn("explained", width="small"),
        },
    )

    # ---- what-if: untick events (the table), add an item, move an event, cut at a date; keep it as a scenario
    st.subheader("What if the history had been different?")
    st.caption(
        "Untick events (most recent first) to remove them, or add an item, move an event or cut the history at a "
        "date below: the recommendations and the explained item's rank change at once. Events left out turn grey "
        "in the heatmap."
    )
    editor = pd.DataFrame(
        {
            "keep": True,
            "#": window["position"].to_numpy(),
            "item": [item_text(i) for i in window["item_id"]],
            "event": window["event"].astype(str).to_numpy(),
            "time": pd.to_datetime(window["timestamp"]).dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
            "attribution": window["attribution"].round(3).to_numpy(),
        }
    )
    st.data_editor(
        editor,
        hide_index=True,
        key=editor_key,
        disabled=["#", "item", "event", "time", "attribution"],
        column_config={"keep": st.column_config.CheckboxColumn("keep", width="small")},
        height=min(38 + 35 * len(editor), 320),
    )

    events_now = exp.timeline.set_index("position")  # every event of the explained history, by its number
    shown = edited if edited is not None else explaining.edited_history(active, user, end, ())
    present = [int(p) for p in shown.positions[::-1] if p >= 0]  # events still in the edited history, newest first

    def event_label(position: int) -> str:
        e = events_now.loc[position]
        return f"#{position} · {item_text(e['item_id'])} · {e['event']} · {pd.Timestamp(e['timestamp']):%Y-%m-%d}"

    def place_label(position: int) -> str:
        if position == exp.n_history:
            return "at the end (after the last event)"
        return f"just before {event_label(position)}"

    def add_change(change: Edit) -> None:
        """Apply `change` after the others if the history still makes sense; else say why."""
        try:
            explaining.edited_history(active, user, end, changes + (change,))
        except LTSIError as error:
            st.warning(md_escape(error), icon=":material/warning:")
            return
        book.edits = (*book.edits, change)
        st.rerun()

    wid = f"{user}_{end}"  # the change widgets belong to one user and view
    with st.container(border=True):
        kind = st.segmented_control(
            "Change the history",
            ["Add an item", "Move an event", "Cut the history at a date"],
            default="Add an item",
            key=f"wi_kind_{wid}",
        )
        if kind == "Add an item":
            c1, c2, c3, c4 = st.columns([2, 3, 1, 3], vertical_alignment="bottom")
            query = c1.text_input("Find an item (part of its id or title)", key=f"wi_find_{wid}")
            found = explaining.find_items(active, query)
            item = c2.selectbox(
                f"Item ({plural(len(found), 'match', 'matches')}, most popular first)",
                found,
                format_func=item_text,
                key=f"wi_item_{wid}",
            )
            event_types = list(seqs.event_types.tokens[1:])
            common = seqs.event_types.tokens[int(np.bincount(seqs.event_ids).argmax())]
            kind_of = c3.selectbox("As a", event_types, index=event_types.index(common), key=f"wi_event_{wid}")
            where = c4.selectbox("Where", [exp.n_history, *present], format_func=place_label, key=f"wi_where_{wid}")
            if not found:
                st.caption(f"No item has “{md_escape(query)}” in its id or title.")
            if st.button("Add this item", key=f"wi_add_{wid}", disabled=not found, icon=":material/add:"):
                add_change(Edit.insert(where, item, kind_of))
        elif kind == "Move an event":
            c1, c2 = st.columns(2, vertical_alignment="bottom")
            moving = c1.selectbox("Event to move", present, format_func=event_label, key=f"wi_move_{wid}")
            places = [p for p in [*present, exp.n_history] if p != moving]  # default: before the latest other event
            to = c2.selectbox("Put it", places, format_func=place_label, key=f"wi_to_{wid}")
            st.caption("A moved event gets a time half-way between its new neighbours, so the time gaps stay real.")
            move = st.button(
                "Move this event", key=f"wi_do_move_{wid}", disabled=moving is None, icon=":material/swap_vert:"
            )
            if move:
                add_change(Edit.move(moving, to))
        elif kind == "Cut the history at a date":
            days = pd.to_datetime(exp.timeline["timestamp"]).dt.date
            day = st.date_input(
                "Keep only the events up to this day (included)",
                value=days.iat[-1],
                min_value=days.iat[0],
                max_value=days.iat[-1],
                key=f"wi_cut_{wid}",
            )
            if st.button("Cut the history here", key=f"wi_do_cut_{wid}", icon=":material/content_cut:"):
                add_change(Edit.truncate(pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)))

        if book.edits:
            lines = explaining.scenario_words(active, user, end, book.edits)
            st.markdown(
                "**Changes so far** (applied in this order, after the unticked events):\n"
                + "\n".join(f"{i}. {md_escape(line)}" for i, line in enumerate(lines, 1))
            )
            u1, u2, _ = st.columns([1, 1, 2])
            if u1.button("Undo the last change", key=f"wi_undo_{wid}", icon=":material/undo:"):
                book.edits = book.edits[:-1]
                st.rerun()
            if u2.button("Clear the changes", key=f"wi_clear_{wid}", icon=":material/delete_sweep:"):
                book.edits = ()
                st.rerun()

    if change_error is not None:
        st.warning(
            f"{md_escape(change_error)} Undo the change that needs it, or tick the event again.",
            icon=":material/warning:",
        )
    elif changes:
        w = explaining.what_if_edits(active, user, end, changes, target_item, K, exclude_seen=hide_seen)
        it = w.item
        shift = it["rank_after"] - it["rank_before"]
        direction = "falls" if shift > 0 else ("rises" if shift < 0 else "stays")
        lead = f"Without {plural(len(removed), 'event')}" if not book.edits else "With these changes"
        st.markdown(
            f"{lead}, **{item_name(target_item)}** {direction}: {fmt_rank(it['rank_before'])} → "
            f"**{fmt_rank(it['rank_after'])}** (score {it['score_before']:.2f} → {it['score_after']:.2f})."
        )
        c1, c2 = st.columns(2)
        cols_ = [c for c in ["rank", "title", "item_id", "score"] if c in w.before]
        with c1:
            st.markdown("**Before**")
            st.dataframe(w.before[cols_], hide_index=True, key="whatif_before")
        with c2:
            st.markdown("**After**")
            after_table = w.after[cols_].copy()
            new = set(w.after["item_id"]) - set(w.before["item_id"])
            after_table.insert(1, "new", ["★" if i in new else "" for i in w.after["item_id"]])
            st.dataframe(after_table, hide_index=True, key="whatif_after")

        s1, s2 = st.columns([3, 1], vertical_alignment="bottom")
        title = s1.text_input(
            "Keep these changes as a scenario named", key=f"wi_name_{wid}", placeholder="e.g. without the last purchase"
        )
        if s2.button("Save the scenario", key=f"wi_save_{wid}", icon=":material/bookmark_add:"):
            try:
                book.save(Scenario(title, changes))
            except LTSIError as error:
                st.warning(md_escape(error), icon=":material/warning:")

    in_report = None
    if book.saved:
        st.markdown(f"**Saved scenarios of {md_escape(user)}** (in this view; kept until the tab is closed)")
        for scenario in book.saved:
            try:
                sw = explaining.what_if_edits(active, user, end, scenario.edits, target_item, K, exclude_seen=hide_seen)
                moved = f"{fmt_rank(sw.item['rank_before'])} → {fmt_rank(sw.item['rank_after'])}"
            except LTSIError as error:
                moved = f"cannot be scored: {error}"
            with st.expander(f"{md_escape(scenario.name)}: {item_name(target_item)} {md_escape(moved)}"):
                words = explaining.scenario_words(active, user, end, scenario.edits)
                st.markdown("\n".join(f"{i}. {md_escape(line)}" for i, line in enumerate(words, 1)))
                if st.button("Delete this scenario", key=f"wi_delete_{wid}_{scenario.name}", icon=":material/delete:"):
                    book.saved = [s for s in book.saved if s.name != scenario.name]
                    st.rerun()
        names = [s.name for s in book.saved]
        in_report = st.selectbox(
            "Scenario in the report",
            [None, *names],
            index=len(names),
            format_func=lambda n: "none" if n is None else n,
            key=f"wi_report_{wid}",
        )

    # ---- this view as a file for a stakeholder
    st.download_button(
        "Download this view as a report",
        data=lambda: report.user_report(
            active,
            user,
            target_item=None if target_item == top_item else target_item,
            evaluation=evaluation,
            removed=removed if len(removed) < exp.n_history else (),
            hide_seen=hide_seen,
            k=K,
            scenario=book.named(in_report) if in_report else None,
        ),
        file_name=f"ltsi_user_{file_slug(user, 'user')}.html",
        mime="text/html",
        on_click="ignore",
        icon=":material/description:",
        key="users_report",
        help="One small HTML file (no scripts, opens offline): the item explained, the history used, the what-if, the "
        "scenario chosen above and the seen-items rule as on this page, with the model's test results and its quality "
        "check.",
    )

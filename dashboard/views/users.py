"""Users: a user's timeline as a heatmap (attention, long-term weight, attribution), gate, recommendations, what-if."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import explaining, figures, report, widgets
from dashboard.state import Keys
from dashboard.text import GLOSSARY, file_slug, fmt_rank, gate_words, md_escape, plural, split_words
from ltsi.items import item_label

K = 10

st.title("Users")
active = widgets.require_run("users")
widgets.quality_badge(active)
with st.popover("What do these words mean?", icon=":material/help:"):
    st.markdown("\n".join(f"- **{term}**: {meaning}" for term, meaning in GLOSSARY.items()))

seqs, items = active.run.seqs, active.run.items
rule = explaining.seen_rule(active)
cfg = active.run.model_config
lags = cfg.transition_lags if getattr(cfg, "transitions", False) else 0  # events that carry a transition term
titles = None
if items is not None and "title" in items:
    titles = items.drop_duplicates("item_id").set_index("item_id")["title"]


def item_text(item_id: str) -> str:
    """The item's title and id as plain text (for the figures, which escape it themselves)."""
    return item_label(item_id, titles.get(item_id) if titles is not None else None)


def item_name(item_id: str) -> str:
    """The item's title and id as Markdown-safe text (both come from the data)."""
    return md_escape(item_text(item_id))


# ---- choose a user: suggestions + searchable picker
picks = {}
with widgets.guard("finding interesting users"):
    picks = explaining.suggestions(active)
users = list(seqs.users)
known = set(users)
if st.session_state.get(Keys.USER) not in known:  # start on a test hit: the held-out item is in the list
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

lengths = dict(zip(seqs.users, seqs.lengths))
many = len(users) > widgets.MAX_SELECTBOX_USERS  # a selectbox sends all its options to the browser on every run


def find_typed_user() -> None:
    """A typed id (or part of one) in the one search box: pick the user, or the first of those that match."""
    typed = str(st.session_state.get(Keys.USER_PICK) or "")
    if not typed:  # the box was cleared: stay on the shown user
        st.session_state[Keys.USER_PICK] = st.session_state[Keys.USER]
        return
    if typed in known:
        st.session_state[Keys.USER] = typed
        return
    st.session_state[Keys.USER_QUERY] = typed  # the page lists the users that match it
    matches = [u for u in users if typed.lower() in u.lower()]
    st.session_state[Keys.USER_PICK] = matches[0] if matches else st.session_state[Keys.USER]


query = str(st.session_state.get(Keys.USER_QUERY) or "") if many else ""
if many:  # list a few users (the matches of the last search); any id can be typed
    matches = [u for u in users if query.lower() in u.lower()] if query else users
    suggested = [uid for uid, _ in picks.values()]
    options = list(dict.fromkeys([st.session_state[Keys.USER], *suggested, *matches[:200]]))
else:
    matches, options = users, users
if st.session_state.get(Keys.USER_PICK) not in options:
    st.session_state[Keys.USER_PICK] = st.session_state[Keys.USER]
left, right = st.columns([2, 3], vertical_alignment="bottom")
with left:
    user = st.selectbox(
        "User (type part of an id and press Enter)" if many else "User (type to search)",
        options,
        key=Keys.USER_PICK,
        format_func=lambda u: f"{u} · {plural(lengths[u], 'event')}" if u in lengths else str(u),
        accept_new_options=many,
        on_change=find_typed_user if many else None,
    )
    if many and query:
        found = plural(len(matches), "user")
        st.caption(
            f"{found} with “{md_escape(query)}” in the id; the list shows the first 200."
            if len(matches) > 200
            else f"{found} with “{md_escape(query)}” in the id."
        )
if user not in known:  # typed without the callback (it resolves every typed id): stay on the shown user
    user = st.session_state[Keys.USER]
st.session_state[Keys.USER] = user
held = explaining.heldout(active, user)
with right:
    evaluation = st.toggle(
        "Hide the user's last event and check whether the model predicts it",
        value=True,
        key=Keys.EVALUATION_VIEW,
        disabled=held is None,
        help="On: the model sees every event but the last, and the recommendations are compared "
        "with that held-out event (how the model was tested). Off: the whole history, as "
        "for a recommendation made today.",
    )
    if Keys.HIDE_SEEN not in st.session_state:  # the default follows the data (one rule: ltsi.sequences.seen_rule)
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
            window_note = f"the model reads the last {exp.n_window} of them"
        else:
            window_note = "the model reads it" if n_hist == 1 else "the model reads all of them"
        if n_hist < lengths[user]:  # the held-out event is hidden: say how many the model sees
            seen = f"{n_hist} before the held-out one ({window_note})"
        else:
            seen = window_note
        st.markdown(f"**{md_escape(user)}** has {plural(lengths[user], 'event')}; {seen}.")
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
        removed=removed,
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
        + (" Grey columns are left out in the what-if below." if removed else "")
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

    # ---- what-if
    st.subheader("What if some events had not happened?")
    st.caption(
        "Untick events (most recent first) and see how the recommendations and the explained item's rank "
        "change. Removed events also turn grey in the heatmap."
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
    if removed:
        if len(removed) >= exp.n_history:
            st.warning("Keep at least one event.", icon=":material/warning:")
        else:
            w = explaining.what_if(active, user, end, removed, target_item, K, exclude_seen=hide_seen)
            it = w.item
            change = it["rank_after"] - it["rank_before"]
            direction = "falls" if change > 0 else ("rises" if change < 0 else "stays")
            st.markdown(
                f"Without {plural(len(removed), 'event')}, "
                f"**{item_name(target_item)}** {direction}: {fmt_rank(it['rank_before'])} → "
                f"**{fmt_rank(it['rank_after'])}** (score {it['score_before']:.2f} → "
                f"{it['score_after']:.2f})."
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
        ),
        file_name=f"ltsi_user_{file_slug(user, 'user')}.html",
        mime="text/html",
        on_click="ignore",
        icon=":material/description:",
        key="users_report",
        help="One small HTML file (no scripts, opens offline): the item explained, the history used, the what-if and "
        "the seen-items rule as on this page, with the model's test results and its quality check.",
    )

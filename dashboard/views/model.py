"""Model: what the trained model learned overall (global explanation views)."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import figures, widgets
from dashboard.state import Keys
from dashboard.text import fmt_rank, md_escape, plural, small_catalogue_note
from ltsi import insights, slice_drivers, slices
from ltsi.baselines import BASELINES

RECENCY_USERS = 1000  # users sampled for attention by recency
ATTRIBUTION_USERS = 40  # users whose top recommendation is attributed (IG: slow; 40 keeps the page under 2 s)
SEGMENT_USERS = 30  # users of one group whose top recommendation is attributed (as above)
IG_STEPS = 8  # Integrated-Gradients steps for these summaries: pooled over many users, the per-user error averages out
CUSTOM = "custom"  # the slicing radio's own-filter choice (the others are ltsi.slices.SliceBy names)
LISTED_USERS = 1000  # a group lists its best-ranked users, up to this many
VALUE_CHOICES = 200  # a custom filter offers the most frequent values of a text column, up to this many

st.title("Model")
st.caption("What the model does across all users, not just one.")
active = widgets.require_run("model")
quality = None  # stays None when the check fails (the guard says why): the charts still show
with widgets.guard("checking the model's quality"):
    widgets.quality_badge(active)
    quality = widgets.quality_of(active)  # the badge's, from the run's cache

model, seqs, items = active.run.model, active.run.seqs, active.run.items
cfg = active.run.model_config
results = active.run.table()


def users_phrase(cap: int) -> str:
    """'all 12 users' or 'a sample of 1,000 of 5,000 users': who a global view is computed over."""
    if seqs.n_users <= cap:
        return "the only user" if seqs.n_users == 1 else f"all {plural(seqs.n_users, 'user')}"
    return f"a sample of {cap:,} of {plural(seqs.n_users, 'user')}"


if results is not None and len(results):
    st.plotly_chart(figures.metrics_comparison(results), key="model_metrics")
    note = small_catalogue_note(len(seqs.items) - 1)
    if note:
        st.info(note, icon=":material/info:")

left, right = st.columns(2)
with left, widgets.guard("computing attention by recency"):
    recency = active.cached(
        ("attention-by-recency",), lambda: insights.attention_by_recency(model, seqs, max_users=RECENCY_USERS)
    )
    st.plotly_chart(figures.attention_by_recency(recency.head(30)), key="model_recency")
    if quality is not None and quality.attention_uniform:
        st.warning(
            "The short-term attention is spread evenly over the recent events for nearly every user: it does "
            "not single out any of them, so its weights here say nothing about which recent event mattered.",
            icon=":material/warning:",
        )
    window = min(cfg.short_window, cfg.max_len)  # a window longer than the history read is the whole of it
    st.caption(
        f"Mean weight on the event *k* steps back, over {users_phrase(RECENCY_USERS)}. Short-term attention "
        f"only sees the last {plural(window, 'event')}; the long-term weights spread over the whole history "
        f"read (up to {plural(cfg.max_len, 'event')})."
    )
with right, widgets.guard("computing the gate distribution"):
    gates = active.cached(("gates",), lambda: insights.gate_distribution(model, seqs, max_users=insights.GATE_USERS))
    st.plotly_chart(figures.gate_distribution(gates["gate"]), key="model_gates")
    gate_users = users_phrase(insights.GATE_USERS)
    if quality is not None and quality.gate_saturated:
        st.warning(
            "Nearly every user is at 0% or at 100% here: the model gives everyone the same mix of short-term "
            "and long-term interest, so this share does not tell users apart.",
            icon=":material/warning:",
        )
    st.caption(
        f"The gate after each user's last event, over {gate_users}: 0% = only the last few events matter, "
        "100% = only the lasting taste. A wide spread means the model treats users differently."
    )

left, right = st.columns(2)
with left, widgets.guard("computing attributions by event type"):
    who = users_phrase(ATTRIBUTION_USERS)
    with st.spinner(f"Attributing the top recommendation of {who}…"):
        by_type = active.cached(
            ("event-type-attribution",),
            lambda: insights.event_type_attribution(model, seqs, max_users=ATTRIBUTION_USERS, n_steps=IG_STEPS),
        )
    st.plotly_chart(figures.attribution_by_event_type(by_type), key="model_event_types")
    if len(by_type) <= 1:
        kind = f" ({md_escape(by_type['event'].iat[0])})" if len(by_type) else ""
        st.caption(
            f"This log has a single event type{kind}, so it gets all of the attribution of the top "
            f"recommendation of {who}: the chart says something only for logs with several kinds of event."
        )
    else:
        counts = (
            " Attribution here is Integrated Gradients over each event's item, event type and time gap plus, "
            f"for the last {plural(cfg.transition_lags, 'event')}, their transition term (how often their items "
            "were directly followed by the recommended item in training); hover a bar for the split."
            if getattr(cfg, "transitions", False)
            else " Hover a bar for how it splits over the item, the event type and the time gap."
        )
        st.caption(
            "Share of the (absolute) attribution that goes to each event type, for the "
            f"top recommendation of {who}, beside that type's share of the events. Above its share: that "
            f"kind of event weighs more than its frequency.{counts}"
        )
with right, widgets.guard("computing the item map"):
    points = active.cached(
        ("item-map",), lambda: insights.item_map(model, seqs, items, max_items=insights.SAMPLE_ITEMS)
    )
    st.plotly_chart(figures.item_map(points), key="model_item_map")
    variance = points.attrs.get("explained_variance")
    share = f" (the two axes keep {sum(variance):.0%} of the variance)" if variance else ""
    of_items = points.attrs.get("of_items", len(points))
    drawn = (
        f"A sample of {len(points):,} of the {of_items:,} items, each drawn at its embedding"
        if len(points) < of_items
        else "Every item's embedding"
    )
    colour_by = "main_category" if "main_category" in points else "category"  # what the map colours by
    named = points[colour_by].dropna().astype(str) if colour_by in points else points["item_id"].iloc[:0]
    categories = named[named != ""].nunique()  # item_info leaves "" where an item has no category
    if categories > 1:
        colours = "colours are categories from the item table."
    elif categories == 1:
        colours = "the item table names a single category, so the colours say little."
    elif items is None:
        colours = "all in one colour: no item table was given (one with a category column colours the map)."
    else:
        colours = "all in one colour: the item table has no categories."
    st.caption(
        f"{drawn}, the vector that scores it, projected to 2-D by PCA{share}. Items the model "
        f"treats alike lie close; {colours}"
    )


# ---- where the model does well or poorly: test metrics by group of tested users
st.divider()
st.subheader("Where the model does well or poorly")
st.caption(
    "The test score of LTSI and of the simple baselines, for groups of the tested users: each group is cut by "
    "the user's held-out (last, hidden) event, the one every model tries to predict."
)


def slicing_words(name: str) -> str:
    return "a filter of my own" if name == CUSTOM else slices.SliceBy[name].value


def custom_groups() -> tuple[pd.Series, tuple] | None:
    """The analyst's own filter as two groups (matching users, the rest) and its cache key; None until it is set."""
    columns = slices.filter_columns(active.run)
    column = st.selectbox("Column of the held-out event (or of its item)", columns, key="slice_column")
    found = active.cached(("heldout-values", column), lambda: slices.heldout_values(active.run, column))
    numbers = pd.to_numeric(found, errors="coerce") if column != "timestamp" else found
    if column == "timestamp" or (numbers.notna().mean() > 0.9 and numbers.nunique() > 10):  # a range
        if column == "timestamp":
            low, high = (value.date() for value in (found.min(), found.max()))
        else:
            low, high = float(numbers.min()), float(numbers.max())
        if low == high:
            st.caption(f"Every held-out event has the same {md_escape(column)}: nothing to filter.")
            return None
        chosen = st.slider("Between", low, high, (low, high), key=f"slice_range_{column}")
        return slices.custom_slice(active.run, column, between=chosen), (column, "between", *chosen)
    frequent = found.astype(str).value_counts().index[:VALUE_CHOICES].tolist()
    picked = st.multiselect(
        "Values (the most frequent first)", frequent, default=frequent[:1], key=f"slice_values_{column}"
    )
    if not picked:
        st.caption("Pick at least one value.")
        return None
    return slices.custom_slice(active.run, column, picked), (column, "in", *sorted(picked))


with widgets.guard("comparing the models by group of users"):
    run = active.run
    choices = [by.name for by in active.cached(("slicings",), lambda: slices.available_slicings(run))] + [CUSTOM]
    slicing = st.radio(
        "Cut the tested users by", choices, key=Keys.SLICE_BY, format_func=slicing_words, horizontal=True
    )
    ranks = active.cached(("heldout-ranks",), lambda: slices.heldout_ranks(run))
    models = [name for name in ("LTSI", *BASELINES) if name in ranks]
    # events before each held-out one; the test cases list users in user order (both splits make them so)
    tested_at = np.searchsorted(run.split.test.users, [seqs.user_index(u) for u in ranks.index])
    heldout_ends = pd.Series(run.split.test.ends[tested_at], index=ranks.index)
    ranked, tested = len(ranks), ranks.attrs.get("of_users", len(ranks))
    if ranked < tested:
        if ranks.attrs.get("saved"):  # the ranks behind the metrics table, kept with the run: no scoring here
            sampled = ", itself on a sample" if len(run.test_ranks) < tested else ""
            why = f"The ranks here are those of the run's test evaluation{sampled}, and"
        else:
            why = f"Every model ranks the whole catalogue of {plural(len(seqs.items) - 1, 'item')} for each user, so"
        st.caption(
            f"{why} this section is computed on a random sample of {ranked:,} of the {tested:,} tested users; the "
            "groups, counts and scores below are those of the sample."
        )
    if slicing == CUSTOM:
        custom = custom_groups()
        groups, key = (slices.filter_as_slices(custom[0]), custom[1]) if custom else (None, None)
    else:
        among = ranks.index if ranked < tested else None  # ranked on a sample: the groups of the sampled users
        groups = active.cached(
            ("slices", slicing), lambda: slices.tested_user_slices(run, slices.SliceBy[slicing], among=among)
        )
        key = (slicing,)
    if groups is not None and ranked < tested:  # (a custom filter's groups cover every tested user)
        groups = groups[groups.index.isin(ranks.index)]
    labels = [] if groups is None else [label for label in groups.cat.categories if (groups == label).any()]
    if len(labels) == 1:  # one group compares nothing (e.g. by kind of event when every held-out one is a purchase)
        of_sample = " of the sample" if ranked < tested else ""
        st.info(
            f"Cut by {slicing_words(slicing)}, every tested user{of_sample} is in the same group "
            f"(“{md_escape(labels[0])}”), so there is nothing to compare here. Pick another way to cut them.",
            icon=":material/info:",
        )
    elif groups is not None:
        metrics = active.cached(
            ("slice-metrics", key), lambda: slices.slice_metrics(run, groups, ranks=ranks, models=models)
        )
        everyone = pd.Series("all tested users", index=ranks.index)
        overall = active.cached(
            ("slice-metrics", "everyone"), lambda: slices.slice_metrics(run, everyone, ranks=ranks, models=models)
        )
        verdicts = slices.slice_verdicts(metrics)
        st.plotly_chart(figures.slice_metrics_chart(metrics, models=models), key="model_slices")
        st.markdown(slices.verdict_sentence(slices.slice_verdicts(overall), verdicts, quote=md_escape))
        st.caption(
            "NDCG@10: how high each model ranked the item the user really picked next (1 = first place, 0 = not in "
            "its top 10), averaged over the group's users. The thin lines are the 95% range: the values the score "
            "could take with other users of the same kind (resampled 200 times). Where two ranges overlap, the "
            "difference may be chance, above all in small groups (the user count is under each group)."
        )
        with st.expander("The numbers"):
            table = metrics.rename(columns={"slice": "group", "n_users": "users"})
            st.dataframe(
                table,
                hide_index=True,
                column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[3:]},
            )
        losing = verdicts.loc[~verdicts["wins"], "slice"].tolist()
        weakest = metrics[metrics["model"] == "LTSI"].sort_values("NDCG@10")["slice"].tolist()
        if st.session_state.get(Keys.SLICE) not in labels:  # start on a group LTSI loses, else its weakest
            st.session_state[Keys.SLICE] = (losing or weakest or labels)[0]

    if labels:
        # ---- one group: its users, and what drives their recommendations
        if st.session_state.get(Keys.SLICE) not in labels:
            st.session_state[Keys.SLICE] = labels[0]
        chosen = st.selectbox("Look closer at one group", labels, key=Keys.SLICE)
        members = groups.index[(groups == chosen).to_numpy()]
        listed = ranks.loc[members].sort_values("LTSI", kind="stable").head(LISTED_USERS)
        if st.session_state.get("slice_user") not in listed.index:  # the previous group's user: start on this one's
            st.session_state.pop("slice_user", None)
        left, right = st.columns([2, 3], gap="large")
        with left:
            shown = pd.DataFrame(
                {
                    "user": listed.index,
                    "events before": heldout_ends.loc[listed.index].to_numpy(),
                    **{f"held-out rank ({name})": listed[name].map(fmt_rank) for name in models},
                }
            )
            st.dataframe(shown, hide_index=True, height=260)
            user = st.selectbox(
                "User",
                listed.index.tolist(),
                key="slice_user",
                format_func=lambda u: f"{u} · held-out item ranked {fmt_rank(listed.at[u, 'LTSI'])} by LTSI",
            )
            if st.button("Open this user in the Users view", key="slice_open_user", icon=":material/person_search:"):
                st.session_state[Keys.USER] = user
                st.session_state[Keys.USER_PICK] = user
                st.switch_page("views/users.py")
            first = f", the first {len(listed):,} listed" if len(listed) < len(members) else ""
            st.caption(f"{plural(len(members), 'user')} in this group{first}, best ranked by LTSI first.")
        with right:
            explained = st.radio(
                "Explain",
                slice_drivers.TARGETS,
                key="slice_explain",
                format_func=lambda t: "their top recommendation" if t == "top" else "the item they really picked next",
                horizontal=True,
            )
            sample = min(len(members), SEGMENT_USERS)
            who = f"a sample of {sample} of {len(members):,} users" if sample < len(members) else "its users"
            who = "its only user" if len(members) == 1 else who
            what = "top recommendation" if explained == "top" else "held-out item"
            with st.spinner(f"Attributing the {what} of {who}…"):
                drivers = active.cached(
                    ("segment-drivers", key, chosen, explained),
                    lambda: slice_drivers.segment_drivers(
                        run, list(members), max_users=SEGMENT_USERS, n_steps=IG_STEPS, target=explained
                    ),
                )
            st.plotly_chart(figures.segment_drivers_chart(drivers), key="model_slice_drivers")
            st.caption(
                f"For {who}, from the events before their held-out one: what the score of their "
                f"{'top recommendation' if explained == 'top' else 'real next item'} owes to long-term interest, "
                "short-term interest, items that often follow the recent ones and popularity, and how its attribution "
                "spreads over how recent the events are, their kind and their items' category. Each panel adds up to "
                "100%; compare groups to see what sets one apart. The real next item tells why the model ranked it "
                "where it did, the top recommendation what it relies on instead."
            )

"""Model: what the trained model learned overall (global explanation views)."""

import streamlit as st

from dashboard import figures, widgets
from dashboard.text import md_escape, plural, small_catalogue_note
from ltsi import insights

RECENCY_USERS = 1000  # users sampled for attention by recency
ATTRIBUTION_USERS = 100  # users whose top recommendation is attributed (Integrated Gradients: slow)

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
    gates = active.cached(("gates",), lambda: insights.gate_distribution(model, seqs))
    st.plotly_chart(figures.gate_distribution(gates["gate"]), key="model_gates")
    if quality is not None and quality.gate_saturated:
        st.warning(
            "Nearly every user is at 0% or at 100% here: the model gives everyone the same mix of short-term "
            "and long-term interest, so this share does not tell users apart.",
            icon=":material/warning:",
        )
    st.caption(
        "The gate after each user's last event: 0% = only the last few events matter, 100% = only the "
        "lasting taste. A wide spread means the model treats users differently."
    )

left, right = st.columns(2)
with left, widgets.guard("computing attributions by event type"):
    who = users_phrase(ATTRIBUTION_USERS)
    with st.spinner(f"Attributing the top recommendation of {who}…"):
        by_type = active.cached(
            ("event-type-attribution",),
            lambda: insights.event_type_attribution(model, seqs, max_users=ATTRIBUTION_USERS, n_steps=16),
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
    points = active.cached(("item-map",), lambda: insights.item_map(model, seqs, items))
    st.plotly_chart(figures.item_map(points), key="model_item_map")
    variance = points.attrs.get("explained_variance")
    share = f" (the two axes keep {sum(variance):.0%} of the variance)" if variance else ""
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
        f"Every item's embedding, the vector that scores it, projected to 2-D by PCA{share}. Items the model "
        f"treats alike lie close; {colours}"
    )

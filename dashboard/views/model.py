"""Model: what the trained model learned overall (global explanation views)."""

import streamlit as st

from dashboard import figures, state

st.title("Model")
st.caption("What the model does across all users, not just one.")
active = state.require_run("model")

from ltsi import explain  # noqa: E402

model, seqs, items = active.model, active.seqs, active.items

if active.results is not None and len(active.results):
    st.plotly_chart(figures.metrics_comparison(active.results), key="model_metrics")

left, right = st.columns(2)
with left, state.guard("computing attention by recency"):
    recency = active.cached(("attention-by-recency",), lambda: explain.attention_by_recency(model, seqs, max_users=1000))
    st.plotly_chart(figures.attention_by_recency(recency.head(30)), key="model_recency")
    st.caption("Mean weight on the event *k* steps back, over 1,000 users. Short-term attention only sees the last "
               f"{active.model_config.short_window} events; the long-term weights spread over the whole history.")
with right, state.guard("computing the gate distribution"):
    gates = active.cached(("gates",), lambda: explain.gate_distribution(model, seqs))
    st.plotly_chart(figures.gate_distribution(gates["gate"]), key="model_gates")
    st.caption("The gate after each user's last event: 0% = only the last few events matter, 100% = only the "
               "lasting taste. A wide spread means the model treats users differently.")

left, right = st.columns(2)
with left, state.guard("computing attributions by event type"):
    with st.spinner("Attributing the top recommendation of 100 users…"):
        by_type = active.cached(("event-type-attribution",), lambda: explain.event_type_attribution(
            model, seqs, max_users=100, n_steps=16))
    st.plotly_chart(figures.attribution_by_event_type(by_type), key="model_event_types")
    st.caption("Share of the (absolute) Integrated-Gradients attribution that goes to each event type, for the "
               "top recommendation of 100 users, beside that type's share of the events. Above its share: that "
               "kind of event weighs more than its frequency.")
with right, state.guard("computing the item map"):
    points = active.cached(("item-map",), lambda: explain.item_map(model, seqs, items))
    st.plotly_chart(figures.item_map(points), key="model_item_map")
    variance = points.attrs.get("explained_variance")
    share = f" (the two axes keep {sum(variance):.0%} of the variance)" if variance else ""
    st.caption(f"Every item's embedding, the vector that scores it, projected to 2-D by PCA{share}. Items the model "
               "treats alike lie close; colours are categories from the item table.")

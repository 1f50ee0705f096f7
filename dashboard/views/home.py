"""Start: what LTSI does, and a one-click path to the demo."""

import streamlit as st

from dashboard import state, widgets
from dashboard.state import Keys

st.title("Why did the model recommend that?")
st.markdown(
    "**LTSI** learns from a log of what users did (views, carts, purchases, ratings, …), in order. "
    "For every user it combines two kinds of interest: **short-term** (the last few events: what the "
    "user is doing right now) and **long-term** (the longer history it reads: their lasting taste). A learned "
    "*gate* decides how much of each goes into the next recommendation."
)
st.markdown(
    "This dashboard shows, for any user, **which past events the model looked at** (attention), "
    "**which ones actually pushed a recommendation up or down** (attributions), and **what happens to "
    "the list if you remove events** (what-if)."
)

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("See it in 10 seconds")
    st.markdown(
        "Open a synthetic shop with 1,000 users and 2,000 products and a model that is already trained. "
        "You land on a user's timeline with their recommendations."
    )
    if st.button("Open the demo", type="primary", icon=":material/play_arrow:", key="open_demo"):
        with widgets.guard("opening the demo"), st.spinner("Loading the demo data and model…"):
            state.start_demo()
            st.switch_page("views/users.py")
with right:
    st.subheader("Or use your own log")
    st.markdown(
        "Upload a CSV, TSV, Parquet or MovieLens `.dat` file with one row per event: a user column, an "
        "item column and (ideally) a time column. Columns are detected automatically; you can change them."
    )
    if st.button("Upload a log", icon=":material/upload:", key="go_data"):
        st.session_state[Keys.DATA_SOURCE] = "upload"  # open the Data page on its uploader, not on a demo
        st.switch_page("views/data.py")

st.divider()
st.subheader("How it works")
steps = st.columns(5)
for column, (title, text) in zip(
    steps,
    [
        ("1 · Data", "Upload or pick a demo. See what was read, what was dropped and why."),
        ("2 · Train", "Train LTSI with live progress and compare it with simple baselines."),
        ("3 · Users", "One user's timeline as a heatmap: attention, long-term weight and attribution per event."),
        ("4 · Model", "What the model learned overall: how far back it looks, long vs. short-term, item map."),
        ("5 · Export", "Recommendations for every user as CSV, the trained model, a one-user HTML report."),
    ],
):
    with column:
        st.markdown(f"**{title}**")
        st.caption(text)

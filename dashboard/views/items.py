"""Items: (being written)."""

import streamlit as st

st.title("Items")

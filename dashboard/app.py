"""The LTSI dashboard frame: page config, navigation over the views, the sidebar.

    streamlit run dashboard/app.py

Each view is a script in dashboard/views/; all logic lives in the `ltsi` package (installed with
`pip install -e .`, so no path set-up is needed here).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

# Before torch is imported (its OpenMP reads this once): by default its worker threads spin on a core after each
# operation, waiting for the next. Between a view's many small model passes that spinning took about a core from
# the browser drawing the page and from the page's own script (Model view at a million users: 2.9 s -> 2.1 s in
# bench/dashboard_timing.py); training in the dashboard is ~8% slower for it. `ltsi` on the command line keeps
# the default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st  # noqa: E402

from dashboard import training, widget_state, widgets  # noqa: E402

st.set_page_config(
    page_title="LTSI · why this recommendation",
    page_icon=str(Path(__file__).with_name("icon.png")),  # served by this server: no request leaves the machine
    layout="wide",
    initial_sidebar_state="expanded",
)

VIEWS = Path(__file__).parent / "views"
TIMING = os.environ.get("LTSI_DASHBOARD_TIMING") == "1"
pages = [
    st.Page(VIEWS / "home.py", title="Start", icon=":material/home:", default=True),
    st.Page(VIEWS / "data.py", title="Data", icon=":material/table_view:"),
    st.Page(VIEWS / "train.py", title="Train", icon=":material/model_training:"),
    st.Page(VIEWS / "users.py", title="Users", icon=":material/person_search:"),
    st.Page(VIEWS / "model.py", title="Model", icon=":material/hub:"),
    st.Page(VIEWS / "items.py", title="Items", icon=":material/inventory_2:"),
    st.Page(VIEWS / "compare.py", title="Compare", icon=":material/compare:"),
    st.Page(VIEWS / "export.py", title="Export", icon=":material/download:"),
]
page = st.navigation(pages, position="sidebar", expanded=True)

training.warm_up()
widget_state.keep_settings()
training.adopt_finished()  # a finished training becomes the active model, whichever page the user is on

started = time.perf_counter()
# The sidebar's panel is drawn before the page and again after it. After st.stop() no element can be drawn
# (Streamlit stops the run at the next one), so the first drawing is what stays when the page stops early;
# the second shows what the page just loaded.
with st.sidebar:
    panel = st.empty()
widgets.sidebar(page.title, panel)
try:
    page.run()
finally:
    widgets.sidebar(page.title, panel)
    if TIMING:  # LTSI_DASHBOARD_TIMING=1: one line per script run on the server's log (bench/dashboard_timing.py)
        print(f"ltsi-timing page={page.title} script_s={time.perf_counter() - started:.3f}", flush=True)

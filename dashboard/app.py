"""The LTSI dashboard frame: page config, navigation over the views, the sidebar.

    streamlit run dashboard/app.py

Each view is a script in dashboard/views/; all logic lives in the `ltsi` package.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import state  # noqa: E402

st.set_page_config(page_title="LTSI · why this recommendation", page_icon=":material/insights:", layout="wide",
                   initial_sidebar_state="expanded")

VIEWS = Path(__file__).parent / "views"
TIMING = os.environ.get("LTSI_DASHBOARD_TIMING") == "1"
pages = [
    st.Page(VIEWS / "home.py", title="Start", icon=":material/home:", default=True),
    st.Page(VIEWS / "data.py", title="Data", icon=":material/table_view:"),
    st.Page(VIEWS / "train.py", title="Train", icon=":material/model_training:"),
    st.Page(VIEWS / "users.py", title="Users", icon=":material/person_search:"),
    st.Page(VIEWS / "model.py", title="Model", icon=":material/hub:"),
    st.Page(VIEWS / "export.py", title="Export", icon=":material/download:"),
]
page = st.navigation(pages, position="sidebar", expanded=True)

state.warm_up()
state.keep_settings()

# A finished training becomes the active model, whichever page the user is on.
job = state.job()
if job is not None and job.state == "done" and not getattr(job, "adopted", False):
    state.set_run(job.result)
    job.adopted = True

started = time.perf_counter()
try:
    page.run()
finally:  # after the page, so the sidebar shows what the page just loaded (also after st.stop())
    state.sidebar(page.title)
    if TIMING:  # LTSI_DASHBOARD_TIMING=1: one line per script run on the server's log (bench/dashboard_timing.py)
        print(f"ltsi-timing page={page.title} script_s={time.perf_counter() - started:.3f}", flush=True)

"""Drawing shared by the pages: the error guard, the sidebar, the training status line, the "no model yet" stop
and the model's quality badge.

Everything here calls `st.*` and runs in the page's script thread.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING

import streamlit as st

from dashboard import state, training
from dashboard.state import ActiveRun, Dataset, log
from dashboard.text import md_escape, plural
from ltsi.errors import LTSIError

if TYPE_CHECKING:  # ltsi.quality and ltsi.runs import torch: loaded when first needed, not with every page
    from streamlit.delta_generator import DeltaGenerator

    from ltsi.quality import Quality

MAX_SELECTBOX_USERS = 5000  # more users than this: a search box narrows the Users page's picker down


@contextlib.contextmanager
def guard(what: str = "") -> Iterator[None]:
    """Show an `LTSIError` as `st.error(message)`; an unexpected error as a short message (logged in full).

    Streamlit's own control flow (rerun, stop, page switch) derives from BaseException and passes.
    """
    try:
        yield
    except LTSIError as error:
        st.error(md_escape(error), icon=":material/error:")  # messages name files, columns, ids
    except Exception as error:  # noqa: BLE001 - the last line of defence: no traceback on the page
        log.error("dashboard error%s:\n%s", f" ({what})" if what else "", traceback.format_exc())
        st.error(
            f"Something went wrong{f' while {what}' if what else ''}: {type(error).__name__}: {md_escape(error)}",
            icon=":material/error:",
        )


def require_run(page: str) -> ActiveRun:
    """The active model; without one, say so, offer the one-click demo (and Train), and stop the page."""
    active = state.run()
    if active is None:
        st.info(
            "There is no model yet. Open the demo (pre-trained, instant) or train one on the Train page.",
            icon=":material/info:",
        )
        c1, c2, _ = st.columns([1, 1, 3])
        if c1.button("Open the demo", type="primary", key=f"{page}_demo"):
            with guard("opening the demo"):
                state.start_demo()
                st.rerun()
        if c2.button("Go to Train", key=f"{page}_to_train"):
            st.switch_page("views/train.py")
        st.stop()
    data = state.dataset()
    if data is not None and not trained_on(active, data):
        st.info(
            f"The model shown ({md_escape(active.name)}) was trained on another log than the active data "
            f"({md_escape(data.name)}), so what it shows is about that other log. To see the active data, "
            "train a model on it on the Train page.",
            icon=":material/info:",
        )
    return active


def trained_on(active: ActiveRun, data: Dataset) -> bool:
    """Whether the active run was trained on exactly this dataset's sequences (same data fingerprint)."""
    from ltsi.runs import fingerprint

    ours = active.cached(("fingerprint",), lambda: fingerprint(active.run.seqs))
    try:
        theirs = data.cached(("fingerprint",), lambda: fingerprint(data.sequences()[0]))
    except LTSIError:  # no sequences can be built from this data, so no model was trained on it
        return False
    return ours == theirs


def quality_of(active: ActiveRun) -> Quality:
    """How far the active run can be trusted (`ltsi.quality.assess_run`), computed once per run."""
    from ltsi.quality import assess_run

    return active.cached(("quality",), lambda: assess_run(active.run))


QUALITY_BOXES = {"good": st.success, "caution": st.warning, "bad": st.error}
# the "bad" badge has its own icon: an error box with it is a verdict on the model, not a failure of the page
QUALITY_ICONS = {"good": ":material/verified:", "caution": ":material/warning:", "bad": ":material/report:"}


def quality_badge(active: ActiveRun, link: bool = True) -> None:
    """One box at the top of a page: how the model compares with the simple baselines on test events and
    any sign that its explanations mean nothing; green, amber or red by `Quality.level`. `link`: a link to the
    Train page's test results under it (not on the Train page itself)."""
    quality = quality_of(active)
    lines = [md_escape(quality.headline), *(md_escape(warning) for warning in quality.warnings)]
    QUALITY_BOXES[quality.level]("  \n".join(lines), icon=QUALITY_ICONS[quality.level])
    if link:
        st.page_link("views/train.py", label="Test results and training details", icon=":material/model_training:")


def gpu_summary() -> str:
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return f"GPU available: {name}"
    return f"No GPU: training runs on the CPU ({os.cpu_count()} cores)"


def sidebar(page: str, panel: DeltaGenerator) -> None:
    """The active dataset and model, on every page (and the training progress, except on the Train page,
    which shows it itself), in place of what `panel` (an `st.empty` in the sidebar) showed before."""
    with panel.container():
        st.markdown("**Active data**")
        d = state.dataset()
        if d is None:
            st.caption("none yet: pick a demo or upload a log on the Data page")
        else:
            r = d.report
            st.caption(
                f"{md_escape(d.name)}  \n{plural(r.rows_kept, 'event')} · {plural(r.n_users, 'user')} · "
                f"{plural(r.n_items, 'item')}"
            )
        st.markdown("**Active model**")
        a = state.run()
        if a is None:
            st.caption("none yet: train one or load the demo model on the Train page")
        else:
            ndcg = None
            results = a.run.table()
            if results is not None and "NDCG@10" in results:
                ltsi_rows = results[results["model"] == "LTSI"]
                ndcg = float(ltsi_rows["NDCG@10"].iat[0]) if len(ltsi_rows) else None
            extra = f"  \ntest NDCG@10 {ndcg:.3f}" if ndcg is not None else ""
            seqs = a.run.seqs
            counts = f"{plural(seqs.n_users, 'user')} · {plural(len(seqs.items) - 1, 'item')}"
            st.caption(f"{md_escape(a.name)}  \n{counts}{extra}")
        j = training.job()
        if j is not None and j.active:
            if page == "Train":
                st.caption(f":material/model_training: {j.state}: see the progress on this page")
            else:
                training_status()
        elif j is not None and j.awaiting and page != "Train":
            st.caption(
                ":material/timer: a training waits for your decision on the Train page: the time budget looks too short"
            )


@st.fragment(run_every=2.0)
def training_status() -> None:
    """Sidebar line while a model trains, on every page; when it is done, rerun the app to make it active."""
    j = training.job()
    if j is None or not j.active:
        st.rerun()
    st.caption(f":material/model_training: {j.state}: {md_escape(j.message)}")
    st.progress(j.fraction())

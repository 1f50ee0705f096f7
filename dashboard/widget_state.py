"""What the dashboard's widgets remember: settings kept across pages, choices forgotten with another log.

Streamlit keeps a keyed widget's value across script runs, but forgets it while a run does not draw the widget;
these two functions correct both ways, for the widgets that need it. Call them from the pages (session keys:
`dashboard.state.Keys`).
"""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from dashboard.state import Keys

# Settings the user expects to find as left after visiting another page (the keys of those widgets)
KEPT_SETTINGS = (
    Keys.TRAIN_DIM,
    Keys.TRAIN_MAX_LEN,
    Keys.TRAIN_EPOCHS,
    Keys.TRAIN_BUDGET,
    Keys.TRAIN_DEVICE,
    Keys.TRAIN_ABLATIONS,
    Keys.TRAIN_LR,
    Keys.TRAIN_BATCH,
    Keys.TRAIN_PATIENCE,
    Keys.TRAIN_WINDOW,
    Keys.TRAIN_SEED,
    Keys.TRAIN_THREADS,
    Keys.EXPORT_K,
    Keys.HIDE_SEEN,
)


def keep_settings() -> None:
    """Keep the settings widgets' values while their page is not shown.

    Streamlit forgets the state of a widget that a script run does not draw, so a visit to another
    page would reset the Train form; writing a value back to its key makes it user state, which is
    kept (Streamlit's documented way to retain widget values across pages). Call once per run.
    """
    for key in KEPT_SETTINGS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def forget_choices_of_another_log(form: str, log_key: str, widget_keys: Iterable[str]) -> None:
    """Drop the choices left in a form's widgets when they were made on another log than `log_key`.

    A widget with a key keeps its value across script runs, whatever its options or default become (also
    while a page that stopped early did not draw it): a choice made on one log would start the form of the
    next (event types it shares, its dates). Without them the widgets start from their defaults for this log.
    Call before drawing the form.
    """
    made_on = st.session_state.setdefault(Keys.CHOICES_LOG, {})
    if made_on.get(form) == log_key:
        return
    for key in widget_keys:
        st.session_state.pop(key, None)
    made_on[form] = log_key

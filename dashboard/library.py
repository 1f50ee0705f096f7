"""The run library in the dashboard: every trained model saved on its own, listed, opened, renamed and deleted.

The library itself (folder, index, files) is `ltsi.library`; this module is the Streamlit side: the
automatic save when a training finishes, the uploaded log kept for it, and the Train page's section.
A browser reload starts a new session, but the library is on disk: its list is still there and Open
makes a saved run the active model again.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from dashboard import state, widgets
from dashboard.state import ActiveRun, Keys, log
from dashboard.text import md_escape, plural
from ltsi.errors import LTSIError
from ltsi.library import LibraryEntry, RunLibrary
from ltsi.quality import versus_words


@dataclass(frozen=True)
class RememberedLog:
    """The last log uploaded in this session: saved with the runs trained on it."""

    key: str  # state.digest of the bytes: the `Dataset.key` of a dataset read from them
    data: bytes = field(repr=False)
    name: str  # the file name


def run_library() -> RunLibrary:
    """The library at its configured folder (read from LTSI_LIBRARY on every call)."""
    return RunLibrary()


def remember_log(data: bytes, name: str) -> None:
    """Keep an uploaded log in the session, so that a run trained on it can be saved with its data."""
    st.session_state[Keys.LIBRARY_LOG] = RememberedLog(state.digest(data), data, name)


def training_log(active: ActiveRun) -> tuple[bytes | None, str]:
    """The log `active` was trained on as (bytes, name) when the session still has it.

    (None, data name) when the data is a demo or was not uploaded in this session; (None, "") when the
    session's data is no longer the data the run was trained on (another log was opened meanwhile).
    """
    dataset = state.dataset()
    if dataset is None or not dataset.built(active.run.seqs):
        return None, ""
    remembered = st.session_state.get(Keys.LIBRARY_LOG)
    if remembered is not None and remembered.key == dataset.key:
        return remembered.data, dataset.name
    return None, dataset.name


def autosave(active: ActiveRun, log_bytes: bytes | None, log_name: str) -> None:
    """Save a just-trained run (with its log, when given) to the library, once: a run that is already
    there (saved before, or opened from it) is left as it is. A failed save is said, not raised: the
    model stays active in this session."""
    if active.library_id is not None:
        return
    try:
        entry = run_library().add_run(active.run, active.name, log_bytes, log_name or "")
    except (LTSIError, OSError) as error:
        st.warning(
            f"The model could not be saved to the run library, so it will be lost when this page is reloaded: "
            f"{md_escape(error)} Download it on the Export page to keep it.",
            icon=":material/warning:",
        )
        return
    active.library_id = entry.id
    st.toast(f"Saved to the run library as **{md_escape(entry.name)}**.", icon=":material/save:")


# ---------------------------------------------------------------------------------------------
# The Train page's section


def settings_words(settings: dict) -> str:
    """A saved run's settings in a few plain words: 'size 64 · history 50 · best epoch 7 of 30'."""
    model, train, training = (settings.get(part) or {} for part in ("model", "train", "training"))
    words = []
    if model.get("dim") is not None:
        words.append(f"size {model['dim']}")
    if model.get("max_len") is not None:
        words.append(f"history {model['max_len']}")
    if training.get("best_epoch") and train.get("epochs"):
        words.append(f"best epoch {training['best_epoch']} of {train['epochs']}")
    return " · ".join(words)


VERSUS = "vs simple methods"  # the column that says, in words, whether a saved run loses to a simple method


def library_table(entries: list[LibraryEntry]) -> pd.DataFrame:
    """The list the section shows: one row per saved run (shown with st.dataframe: text stays text).

    Few columns, so that the table fits the page; a run's settings and save time are said under the picker.
    """
    return pd.DataFrame(
        {
            "Name": [e.name for e in entries],
            "Data": [e.data_name for e in entries],
            "Users": [e.n_users for e in entries],
            "Items": [e.n_items for e in entries],
            "Events": [e.n_events for e in entries],
            "LTSI NDCG@10": [e.ltsi_ndcg for e in entries],
            VERSUS: [versus_words(e.ltsi_ndcg, e.baseline, e.baseline_ndcg, e.n_items) for e in entries],
        }
    )


# how the table is drawn: counts with thousands separators; widths in pixels that add up to about 860, so that
# the table fits the Train page (a long name is cut in its cell, and shown whole in the picker below)
LIBRARY_COLUMNS = {
    "Name": st.column_config.TextColumn(width=200),
    "Data": st.column_config.TextColumn(width=110),
    "Users": st.column_config.NumberColumn(format="localized", width=70),
    "Items": st.column_config.NumberColumn(format="localized", width=70),
    "Events": st.column_config.NumberColumn(format="localized", width=80),
    "LTSI NDCG@10": st.column_config.NumberColumn(format="%.4f", width=100),
    VERSUS: st.column_config.TextColumn(
        width=230,
        help="LTSI against the best simple method on the same held-out events (that method's NDCG@10 in "
        "brackets). A model below a simple method should not be trusted yet.",
    ),
}


def entry_details(entry: LibraryEntry) -> str:
    """What the table leaves out about one saved run: 'size 64 · history 50 · best epoch 7 of 30 · saved …'."""
    saved = f"saved {entry.created.replace('T', ' ')[:16]} UTC"
    return " · ".join(words for words in (settings_words(entry.settings), saved) if words)


def open_saved(entry_id: str) -> ActiveRun:
    """A saved run as the session's run type (not yet active: `state.set_run` makes it so)."""
    library = run_library()
    entry = library.get(entry_id)
    loaded = ActiveRun(library.open_run(entry_id), entry.name, folder=library.run_folder(entry_id))
    loaded.library_id = entry_id
    return loaded


def _act(what: str, action: Callable[[], str]) -> None:
    """Run a button's action (a callback: before the page is drawn); what it did, or why it failed, is said
    once on the next run (Keys.LIBRARY_NOTICE)."""
    try:
        st.session_state[Keys.LIBRARY_NOTICE] = ("success", action())
    except LTSIError as error:
        st.session_state[Keys.LIBRARY_NOTICE] = ("error", md_escape(error))
    except Exception as error:  # noqa: BLE001 - said on the page, logged in full
        log.error("run library error (%s):\n%s", what, traceback.format_exc())
        st.session_state[Keys.LIBRARY_NOTICE] = (
            "error",
            f"Something went wrong while {what}: {type(error).__name__}: {md_escape(error)}",
        )


def _open(entry_id: str) -> None:
    def action() -> str:
        opened = open_saved(entry_id)
        state.set_run(opened)
        return f"Opened **{md_escape(opened.name)}**: it is the active model now; Users, Model and Export show it."

    _act("opening the saved run", action)


def _rename(entry_id: str) -> None:
    def action() -> str:
        entry = run_library().rename(entry_id, st.session_state.get(Keys.LIBRARY_NEW_NAME, ""))
        active = state.run()
        if active is not None and active.library_id == entry_id:
            active.name = entry.name  # the sidebar shows the new name too
        st.session_state[Keys.LIBRARY_NEW_NAME] = ""
        return f"Renamed to **{md_escape(entry.name)}**."

    _act("renaming the saved run", action)


def _delete(entry_id: str) -> None:
    def action() -> str:
        library = run_library()
        name = library.get(entry_id).name
        library.delete(entry_id)
        active = state.run()
        if active is not None and active.library_id == entry_id:
            # it stays open in this session, from memory: its folder is gone
            active.library_id, active.folder = None, None
        st.session_state.pop(Keys.LIBRARY_DELETING, None)
        st.session_state.pop(Keys.LIBRARY_PICK, None)
        return f"Deleted **{md_escape(name)}** from the run library."

    _act("deleting the saved run", action)


def _ask_delete(entry_id: str) -> None:
    st.session_state[Keys.LIBRARY_DELETING] = entry_id


def _cancel_delete() -> None:
    st.session_state.pop(Keys.LIBRARY_DELETING, None)


def _entry_label(entry: LibraryEntry) -> str:
    return f"{entry.name} · {entry.data_name or 'unnamed data'} · {entry.created.replace('T', ' ')[:16]}"


def render_library() -> None:
    """The Train page's "Saved runs" section: search, list, and Open / Rename / Delete of one saved run."""
    library = run_library()
    st.subheader("Saved runs")
    st.caption(
        "Every model trained here is saved on this server by itself, so a page reload does not lose it. "
        f"Folder: {md_escape(library.root)}"
    )
    notice = st.session_state.pop(Keys.LIBRARY_NOTICE, None)
    if notice is not None:
        kind, words = notice
        (st.success if kind == "success" else st.error)(words, icon=":material/info:")
    with widgets.guard("reading the run library"):
        gone = library.drop_missing()
        if gone:
            names = ", ".join(f"**{md_escape(e.name)}**" for e in gone)
            st.warning(
                f"{plural(len(gone), 'saved run')} removed from the list because the folder was deleted or "
                f"moved: {names}.",
                icon=":material/warning:",
            )
        query = st.text_input(
            "Search saved runs", key=Keys.LIBRARY_QUERY, placeholder="part of a name or a data file's name"
        )
        entries = library.list_runs(query)
        if not entries:
            if query.strip():
                st.info("No saved run matches this search.", icon=":material/search_off:")
            else:
                st.info("No saved runs yet: a model is saved here when its training finishes.", icon=":material/info:")
            return
        _render_entries(entries)


def _render_entries(entries: list[LibraryEntry]) -> None:
    st.dataframe(library_table(entries), hide_index=True, key="library_table", column_config=LIBRARY_COLUMNS)
    st.caption(
        "NDCG@10 on each user's held-out last event: higher is better. The simple methods are the most popular "
        "items and the items that most often follow the user's last item; a model below one of them should not "
        "be trusted yet."
    )
    by_id = {entry.id: entry for entry in entries}
    if st.session_state.get(Keys.LIBRARY_PICK) not in by_id:  # deleted, or hidden by the search
        st.session_state.pop(Keys.LIBRARY_PICK, None)
    picked = st.selectbox(
        "Saved run", list(by_id), format_func=lambda entry_id: _entry_label(by_id[entry_id]), key=Keys.LIBRARY_PICK
    )
    entry = by_id[picked]
    st.caption(md_escape(entry_details(entry)))
    left, middle, right = st.columns([1, 3, 1], vertical_alignment="bottom")
    left.button(
        "Open",
        type="primary",
        icon=":material/folder_open:",
        key="library_open",
        on_click=_open,
        args=(entry.id,),
        width="stretch",
        help="Make this saved run the active model.",
    )
    with middle:
        name_box, rename_button = st.columns([3, 1], vertical_alignment="bottom")
        new_name = name_box.text_input("New name", key=Keys.LIBRARY_NEW_NAME, placeholder=entry.name)
        rename_button.button(
            "Rename",
            key="library_rename",
            on_click=_rename,
            args=(entry.id,),
            disabled=not new_name.strip(),
            width="stretch",
        )
    right.button(
        "Delete",
        icon=":material/delete:",
        key="library_delete",
        on_click=_ask_delete,
        args=(entry.id,),
        width="stretch",
    )
    if st.session_state.get(Keys.LIBRARY_DELETING) == entry.id:
        st.warning(
            f"Delete **{md_escape(entry.name)}** for good? Its model and its stored data go too (a log that "
            "another saved run also uses stays).",
            icon=":material/delete:",
        )
        yes, no, _ = st.columns([1, 1, 4])
        yes.button("Yes, delete", type="primary", key="library_delete_yes", on_click=_delete, args=(entry.id,))
        no.button("Cancel", key="library_delete_no", on_click=_cancel_delete)

"""Train: settings, a Train button (worker thread), live curves, Stop, results vs. baselines, load/save runs."""

import time
from dataclasses import fields

import streamlit as st
import torch

from dashboard import exporting, figures, library, state, training, widgets
from dashboard.state import Keys
from dashboard.text import (
    below_baseline_why,
    fmt_seconds,
    md_escape,
    plural,
    short_window_note,
    small_catalogue_note,
    stop_note,
)
from ltsi.devices import default_threads
from ltsi.model import ABLATIONS, ModelConfig
from ltsi.progress import eta_words
from ltsi.quality import versus_baselines
from ltsi.server_sources import allowed_folders, check_path
from ltsi.train_config import TrainConfig

st.title("Train")
st.caption(
    "LTSI learns to predict each user's next event from the events before it. History length and epochs "
    "are planned from the log unless you set them. Training stops by itself when the validation score "
    "stops improving (or at the time budget); the best weights are kept. "
    "The result is then tested on each user's held-out last event, beside two simple baselines."
)

dataset = state.dataset()
active = state.run()
job = training.job()

# ---- instant path: the pre-trained demo model
with st.container(border=True):
    left, right = st.columns([5, 2], vertical_alignment="center")
    with left:
        st.markdown(
            "**Pre-trained demo model**: trained on the e-commerce demo with the default settings and no "
            "time budget. Loads instantly with its own data."
        )
    with right:
        if st.button("Load demo model", icon=":material/bolt:", key="load_demo_run", width="stretch"):
            with widgets.guard("loading the demo model"):
                state.set_run(state.load_demo_run())
                if dataset is None:
                    state.set_dataset(state.load_demo("ecommerce"))
                st.rerun()

# ---- load a saved run
with st.expander("Load a saved run (.zip from the Export page)", icon=":material/folder_open:"):
    saved = st.file_uploader(
        "Run folder as .zip",
        type=["zip"],
        key="upload_run",
        help="model.safetensors + JSON files; nothing is unpickled.",
    )
    if saved is not None and st.button("Load this run", key="load_uploaded_run"):
        with widgets.guard("loading the run"):
            state.set_run(exporting.load_run_zip(saved.getvalue(), saved.name))
            st.session_state[Keys.RUN_LOADED] = state.run().name  # said once, on the page the rerun draws
            st.rerun()

# ---- open a run folder on the server (e.g. trained from the command line on the full log)
folders = allowed_folders()
if folders:
    with st.expander("Open a run folder on the server", icon=":material/dns:"):
        inside = ", ".join(md_escape(folder) for folder in folders)
        with st.form("run_folder_form", border=False):
            run_folder = st.text_input(
                "Run folder",
                key=Keys.RUN_FOLDER,
                placeholder=f"{folders[0]}/runs/my_run",
                help=f"A folder saved by `python -m ltsi train --out ...`, inside: {inside}.",
            )
            if st.form_submit_button("Open this run", icon=":material/folder_open:"):
                with widgets.guard("opening the run folder"):
                    checked = check_path(run_folder)
                    with st.spinner("Loading the run…"):
                        state.set_run(state.load_run_folder(checked))
                    st.session_state[Keys.RUN_LOADED] = state.run().name  # said once, on the page the rerun draws
                    st.rerun()

loaded = st.session_state.pop(Keys.RUN_LOADED, None)
if loaded:
    st.success(
        f"Loaded **{md_escape(loaded)}**: it is the active model now; Users, Model and Export show it.",
        icon=":material/check_circle:",
    )

# ---- runs saved on this server: kept across page reloads
with st.container(border=True):
    library.render_library()

if dataset is None:
    then = (
        "The active model works without it on Users, Model and Export; to train a new one, load" if active else "Load"
    )
    st.info(
        f"There is no data to train on yet. {then} the e-commerce demo, or upload a log on the Data page.",
        icon=":material/info:",
    )
    if st.button("Load the e-commerce demo data", key="train_load_demo"):
        with widgets.guard("loading the demo"):
            state.set_dataset(state.load_demo("ecommerce"))
            st.rerun()
    st.stop()

# ---- settings (defaults from the library's own dataclasses and its plan for this log; the time budget measured)
MODEL_DEFAULTS = {f.name: f.default for f in fields(ModelConfig)}
TRAIN_DEFAULTS = TrainConfig()
AUTO = 0  # "History length" and "Max. epochs" at 0: planned from the log (ltsi.plan.plan_training)
DEFAULT_THREADS = default_threads(reserve=1)  # the page itself keeps one core
busy = job is not None and (job.active or job.awaiting)
proposal = None
with st.spinner("Measuring a few batches to propose a time budget"), widgets.guard("measuring a few batches"):
    proposal = training.proposed_budget(dataset, DEFAULT_THREADS)
# the budget follows the log: a new log gets its proposed budget, the same log keeps what the analyst set
kept = st.session_state.get(Keys.TRAIN_BUDGET_LOG)
if kept is None or kept[0] != dataset.key:
    st.session_state[Keys.TRAIN_BUDGET] = proposal.seconds if proposal else 0
elif Keys.TRAIN_BUDGET not in st.session_state:  # the widget was not drawn on another page: restore it
    st.session_state[Keys.TRAIN_BUDGET] = kept[1]
st.subheader(f"Train a new model on: {md_escape(dataset.name)}")
with st.form("train_form"):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        dim = st.select_slider(
            "Model size (embedding width)",
            options=sorted({16, 32, 64, 128, 256, MODEL_DEFAULTS["dim"]}),
            value=MODEL_DEFAULTS["dim"],
            key=Keys.TRAIN_DIM,
            help="Wider models fit more detail but train slower.",
        )
    with c2:
        max_len = st.select_slider(
            "History length (events)",
            options=[AUTO, *range(5, 205, 5)],
            value=AUTO,
            format_func=lambda v: "auto" if v == AUTO else str(v),
            key=Keys.TRAIN_MAX_LEN,
            help="How many of a user's most recent events the model reads. auto: planned "
            "from the log (long enough for 90% of users' histories, at most 50); "
            'see "Settings planned for this log" below.',
        )
    with c3:
        epochs = st.number_input(
            "Max. epochs (0 = auto)",
            0,
            1000,
            AUTO,
            key=Keys.TRAIN_EPOCHS,
            help="An upper bound; early stopping usually ends training sooner. 0 = auto: "
            "planned from the log's size, so that the learning-rate schedule spans "
            "about the same number of steps on any log.",
        )
    with c4:
        budget = st.number_input(
            "Time budget (s)",
            0,
            3600,
            step=5,
            key=Keys.TRAIN_BUDGET,
            help="Stop after this many seconds and keep the best weights so far; the learning rate "
            "anneals within it. 0 = no time limit: train until the validation score stops improving "
            "(Patience). Before training, a few batches are measured to check that the budget allows "
            "useful training.",
        )
    d1, d2 = st.columns([1, 3])
    with d1:
        devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        device = st.radio(
            "Device",
            devices,
            horizontal=True,
            key=Keys.TRAIN_DEVICE,
            help="auto = the GPU when there is one, else the CPU.",
        )
    with d2:
        st.caption(widgets.gpu_summary())
        ablations = st.checkbox(
            f"Also train the ablations ({', '.join(ABLATIONS)})",
            key=Keys.TRAIN_ABLATIONS,
            help=f"{plural(len(ABLATIONS), 'more model')} with the same settings and one part "
            "of LTSI switched off, for the comparison table: about "
            f"{len(ABLATIONS) + 1} times the training time.",
        )
    with st.expander("Advanced"):
        a1, a2, a3, a4, a5, a6 = st.columns(6)
        lr = a1.number_input("Learning rate", 1e-5, 1e-1, float(TRAIN_DEFAULTS.lr), format="%.4f", key=Keys.TRAIN_LR)
        batch = a2.number_input("Batch size", 8, 4096, int(TRAIN_DEFAULTS.batch_size), step=8, key=Keys.TRAIN_BATCH)
        patience = a3.number_input(
            "Patience (epochs)",
            1,
            100,
            int(TRAIN_DEFAULTS.patience),
            key=Keys.TRAIN_PATIENCE,
            help="Stop after this many epochs without a better validation NDCG@10.",
        )
        window = a4.number_input(
            "Short-term window",
            1,
            50,
            int(MODEL_DEFAULTS["short_window"]),
            key=Keys.TRAIN_WINDOW,
            help="How many recent events the short-term attention sees (at most the history "
            "length: a longer window sees the whole history read).",
        )
        seed = a5.number_input("Seed", 0, 10**6, int(TRAIN_DEFAULTS.seed), key=Keys.TRAIN_SEED)
        threads = a6.number_input(
            "CPU threads",
            1,
            64,
            DEFAULT_THREADS,
            key=Keys.TRAIN_THREADS,
            help="Threads for training on the CPU. The default leaves one core to the "
            "dashboard itself; on a busy machine fewer threads are often faster.",
        )
    if proposal is not None:
        st.caption(f":material/timer: Proposed time budget {fmt_seconds(proposal.seconds)}: {proposal.reason}.")
    submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:", disabled=busy)
st.session_state[Keys.TRAIN_BUDGET_LOG] = (dataset.key, int(budget))

# what the analyst chose; everything else (history length, epochs, softmax) is planned from the log and device
chosen_model = {"dim": int(dim), "short_window": int(window), **({"max_len": int(max_len)} if max_len else {})}
chosen_train = {
    "lr": float(lr),
    "batch_size": int(batch),
    "patience": int(patience),
    "seed": int(seed),
    "threads": int(threads),
    "log_every": 1,
    **({"epochs": int(epochs)} if epochs else {}),
}
plan = None
with widgets.guard("planning the training"):
    plan = training.planned(dataset, device, float(budget) or None, chosen_model, chosen_train)

if submitted and not busy and plan is not None:
    with widgets.guard("starting the training"):
        job = training.start_job(dataset, plan, ablations)

if plan is not None:
    with st.expander("Settings planned for this log", icon=":material/tune:", expanded=False):
        st.markdown("\n".join(f"- {reason[0].upper()}{reason[1:]}." for reason in plan.reasons))
        st.caption(
            "Planned from the log's size and the device; a setting you set yourself (History length or "
            "Max. epochs other than auto) wins."
        )
    # the form's last submitted values: a short-term window that the history length or the log cannot fill
    window_note = short_window_note(int(window), plan.model_config.max_len, int(dataset.sequences()[0].lengths.max()))
    if window_note:
        st.caption(f":material/info: {window_note}")


# ---- live progress (a fragment that polls the worker's progress object)
@st.fragment(run_every=2.0)  # every redraw costs the training some CPU on a small machine: not more often
def live_progress() -> None:
    j = training.job()
    if j is None:
        return
    if not j.active:
        st.rerun()  # the whole app: the finished model becomes the active one
    label = {"waiting": "Waiting", "measuring": "Measuring", "training": "Training", "evaluating": "Evaluating"}[
        j.state
    ]
    elapsed = fmt_seconds(time.perf_counter() - j.started)
    budget = j.train_config.max_seconds
    of = f" of {fmt_seconds(budget)}" if budget else ""
    st.progress(j.fraction(), text=f"{label} · {elapsed}{of} · {md_escape(j.message)}")
    if j.state == "training" and j.progress is not None:
        # the dashboard's own cap ends a training without a budget too (training.MAX_TRAINING_S): said with the ETA
        cap = "" if budget else f" Here, a training ends after {fmt_seconds(training.MAX_TRAINING_S)} at the latest."
        st.caption(f":material/schedule: {eta_words(j.progress)}{cap}")
    st.plotly_chart(figures.training_curves(j.history(), batch_loss=j.batch_loss()), key="live_curves")
    if st.button("Stop", icon=":material/stop:", key="stop_training", disabled=j.stopping):
        j.stop()
        st.toast("Stopping after the current batch; the best weights so far are kept.")


def use_budget(j: training.TrainingJob, seconds: int | None) -> None:
    """The analyst's decision on a too-short time budget (a button callback: runs before the form is drawn)."""
    if seconds is not None and seconds <= 3600:
        st.session_state[Keys.TRAIN_BUDGET] = int(seconds)  # the form shows the budget the model trains with
    j.proceed(seconds if seconds is not None else j.train_config.max_seconds)


def cancel(j: training.TrainingJob) -> None:
    j.cancel()
    training.drop_job()


if job is not None and job.active:
    with st.container(border=True):
        live_progress()
elif job is not None and job.awaiting:
    with st.container(border=True):
        st.warning(job.verdict, icon=":material/timer:")
        proposed = job.proposed_budget()
        b1, b2, b3, _ = st.columns([2, 2, 1, 2])
        b1.button(
            f"Train with a budget of {proposed} s",
            type="primary",
            key="budget_proposed",
            icon=":material/play_arrow:",
            on_click=use_budget,
            args=(job, proposed),
            width="stretch",
        )
        b2.button(
            "Train with my budget anyway", key="budget_anyway", on_click=use_budget, args=(job, None), width="stretch"
        )
        b3.button("Cancel", key="budget_cancel", on_click=cancel, args=(job,), width="stretch")
elif job is not None and job.state == "failed":
    st.error(md_escape(job.error or "Training failed."), icon=":material/error:")
elif job is not None and job.state == "done" and active is job.result and widgets.trained_on(job.result, dataset):
    # only about the active data: a training on another log is that log's news (the model section says which)
    st.success(
        f"Training finished on **{md_escape(job.dataset_name)}**: {md_escape(job.message)}. Open the Users page "
        "to see why it recommends what it does.",
        icon=":material/check_circle:",
    )
    if st.button("Open the Users page", type="primary", icon=":material/arrow_forward:", key="train_to_users"):
        st.switch_page("views/users.py")


# ---- the active model's results
st.divider()
if active is None:
    st.info("No model yet: press Train, or load the demo model above.", icon=":material/info:")
else:
    st.subheader(f"Active model: {md_escape(active.name)}")
    if not widgets.trained_on(active, dataset):
        st.info(
            f"This model was trained on another log than the active data ({md_escape(dataset.name)}), so its "
            f"results below are about that other log. Press Train above to train one on {md_escape(dataset.name)}.",
            icon=":material/info:",
        )
    info = active.training  # how it was trained (a loaded run's config.json "training")
    cfg = active.run.model_config
    facts = [
        f"embedding {cfg.dim}",
        f"history {plural(cfg.max_len, 'event')}",
        f"short window {plural(min(cfg.short_window, cfg.max_len), 'event')}",
    ]
    if info.get("seconds") is not None:
        facts.append(f"trained in {fmt_seconds(info['seconds'])} on {md_escape(info.get('device', '?'))}")
    if info.get("best_epoch"):
        facts.append(f"best epoch {info['best_epoch']}")
    history = active.run.history
    epochs_done = len(history) if history is not None else 0
    versus = versus_baselines(active.run)  # None: cannot be told (no baselines, or a tiny catalogue)
    note = stop_note(info, epochs_done, beats_baselines=versus == "beats")  # why training stopped (None: older run)
    if info.get("stopped") and note is None:
        facts.append(md_escape(info["stopped"]))
    st.caption(" · ".join(facts))
    with widgets.guard("judging the model"):
        widgets.quality_badge(active, link=False)  # the verdict every page shows for this model
    if note is not None:
        kind, words = note
        words = md_escape(words)  # a loaded run's config.json supplies part of it
        if kind == "warning":
            st.warning(words, icon=":material/timer:")
        elif kind == "info":
            st.info(words, icon=":material/info:")
        else:
            st.caption(f":material/check_circle: {words}")
    results = active.run.table()
    catalogue_note = small_catalogue_note(len(active.run.seqs.items) - 1)
    why = below_baseline_why(info)  # None when the stop note above already says why (stopped while improving)
    if results is not None and len(results) and catalogue_note:
        st.info(catalogue_note, icon=":material/info:")  # instead of advice read from meaningless metrics
    elif versus == "below" and why:
        st.caption(f":material/info: Why it may be below a simple baseline: {why}")
    if results is not None and len(results):
        st.markdown("**Test metrics**: each user's last event, ranked among all items (best per column shaded)")
        shown = results.set_index("model")
        st.dataframe(shown.style.format("{:.4f}").highlight_max(axis=0, color="#dce8fb"), key="results_table")
        st.caption(
            "HR@10: share of users whose held-out item is in the top 10. NDCG@10 and MRR@10 also reward "
            "ranking it higher. Baselines: the most popular items; the items that most often follow the "
            "user's last item. Ablations (when trained): LTSI with one part switched off."
        )
    left, right = st.columns(2)
    if results is not None and len(results):
        left.plotly_chart(figures.metrics_comparison(results), key="results_chart")
    if history is not None and len(history):
        right.plotly_chart(figures.training_curves(history, info.get("best_epoch")), key="history_chart")

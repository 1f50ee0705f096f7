"""Train: settings, a Train button (worker thread), live curves, Stop, results vs. baselines, load/save runs."""

import time

import streamlit as st

from dashboard import figures, state
from dashboard.text import fmt_seconds, plural, short_window_note, small_catalogue_note

st.title("Train")
st.caption("LTSI learns to predict each user's next event from the events before it. Training stops by itself "
           "when the validation score stops improving (or at the time budget); the best weights are kept. "
           "The result is then tested on each user's held-out last event, beside two simple baselines.")

dataset = state.dataset()
active = state.run()
job = state.job()

# ---- instant path: the pre-trained demo model
with st.container(border=True):
    left, right = st.columns([5, 2], vertical_alignment="center")
    with left:
        st.markdown("**Pre-trained demo model**: trained on the e-commerce demo with the default settings and no "
                    "time budget. Loads instantly with its own data.")
    with right:
        if st.button("Load demo model", icon=":material/bolt:", key="load_demo_run", width="stretch"):
            with state.guard("loading the demo model"):
                state.set_run(state.load_demo_run())
                if dataset is None:
                    state.set_dataset(state.load_demo("ecommerce"))
                st.rerun()

# ---- load a saved run
with st.expander("Load a saved run (.zip from the Export page)", icon=":material/folder_open:"):
    saved = st.file_uploader("Run folder as .zip", type=["zip"], key="upload_run",
                             help="model.safetensors + JSON files; nothing is unpickled.")
    if saved is not None and st.button("Load this run", key="load_uploaded_run"):
        with state.guard("loading the run"):
            state.set_run(state.load_run_zip(saved.getvalue(), saved.name))
            st.session_state["run_loaded"] = state.run().name  # said once, on the page the rerun draws
            st.rerun()

loaded = st.session_state.pop("run_loaded", None)
if loaded:
    st.success(f"Loaded **{loaded}**: it is the active model now; Users, Model and Export show it.",
               icon=":material/check_circle:")

if dataset is None:
    then = ("The active model works without it on Users, Model and Export; to train a new one, load" if active
            else "Load")
    st.info(f"There is no data to train on yet. {then} the e-commerce demo, or upload a log on the Data page.",
            icon=":material/info:")
    if st.button("Load the e-commerce demo data", key="train_load_demo"):
        with state.guard("loading the demo"):
            state.set_dataset(state.load_demo("ecommerce"))
            st.rerun()
    st.stop()

# ---- settings (defaults from the library's own dataclasses, except the time budget)
from dataclasses import fields  # noqa: E402

from ltsi.model import ModelConfig  # noqa: E402
from ltsi.train import TrainConfig  # noqa: E402

MODEL_DEFAULTS = {f.name: f.default for f in fields(ModelConfig)}
TRAIN_DEFAULTS = TrainConfig()
busy = job is not None and job.active
st.subheader(f"Train a new model on: {dataset.name}")
with st.form("train_form"):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        dim = st.select_slider("Model size (embedding width)", options=sorted({16, 32, 64, 128, 256,
                                                                                MODEL_DEFAULTS["dim"]}),
                               value=MODEL_DEFAULTS["dim"],
                               key="train_dim", help="Wider models fit more detail but train slower.")
    with c2:
        max_len = st.slider("History length (events)", 5, 200, int(MODEL_DEFAULTS["max_len"]), step=5,
                            key="train_max_len",
                            help="How many of a user's most recent events the model reads.")
    with c3:
        epochs = st.number_input("Max. epochs", 1, 1000, int(TRAIN_DEFAULTS.epochs), key="train_epochs",
                                 help="An upper bound; early stopping usually ends training sooner.")
    with c4:
        budget = st.number_input("Time budget (s)", 0, 3600, state.DEFAULT_BUDGET_S, step=5, key="train_budget",
                                 help="Stop after this many seconds and keep the best weights so far (0 = no limit).")
    d1, d2 = st.columns([1, 3])
    with d1:
        import torch

        devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        device = st.radio("Device", devices, horizontal=True, key="train_device",
                          help="auto = the GPU when there is one, else the CPU.")
    with d2:
        st.caption(state.gpu_summary())
        ablations = st.checkbox("Also train the ablations (no attention, no long-term branch, no gate)",
                                key="train_ablations",
                                help="Three more models with the same settings, for the comparison table: "
                                     "about four times the training time.")
    with st.expander("Advanced"):
        a1, a2, a3, a4, a5, a6 = st.columns(6)
        lr = a1.number_input("Learning rate", 1e-5, 1e-1, float(TRAIN_DEFAULTS.lr), format="%.4f", key="train_lr")
        batch = a2.number_input("Batch size", 8, 4096, int(TRAIN_DEFAULTS.batch_size), step=8, key="train_batch")
        patience = a3.number_input("Patience (epochs)", 1, 100, int(TRAIN_DEFAULTS.patience),
                                   key="train_patience",
                                   help="Stop after this many epochs without a better validation NDCG@10.")
        window = a4.number_input("Short-term window", 1, 50, int(MODEL_DEFAULTS["short_window"]), key="train_window",
                                 help="How many recent events the short-term attention sees (at most the history "
                                      "length: a longer window sees the whole history read).")
        seed = a5.number_input("Seed", 0, 10**6, int(TRAIN_DEFAULTS.seed), key="train_seed")
        threads = a6.number_input("CPU threads", 1, 64, state.default_training_threads(), key="train_threads",
                                  help="Threads for training on the CPU. The default leaves one core to the "
                                       "dashboard itself; on a busy machine fewer threads are often faster.")
    submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:", disabled=busy)

if submitted and not busy:
    with state.guard("starting the training"):
        seqs, split = dataset.sequences()
        # a window longer than the history read is the whole of it: the run says what the model really sees
        model_config = ModelConfig(n_items=len(seqs.items), n_event_types=len(seqs.event_types), dim=int(dim),
                                   max_len=int(max_len), short_window=min(int(window), int(max_len)))
        train_config = TrainConfig(epochs=int(epochs), lr=float(lr), batch_size=int(batch), patience=int(patience),
                                   device=device, seed=int(seed), max_seconds=float(budget) or None,
                                   threads=int(threads), log_every=1)
        st.session_state["job"] = job = state.TrainingJob(dataset, model_config, train_config, ablations,
                                                          slots=state.training_slots()).start()
        st.session_state["train_pressed_at"] = job.started


# the form's last submitted values: a short-term window that the history length or the log cannot fill
window_note = short_window_note(int(st.session_state.get("train_window", MODEL_DEFAULTS["short_window"])),
                                int(st.session_state.get("train_max_len", MODEL_DEFAULTS["max_len"])),
                                int(dataset.sequences()[0].lengths.max()))
if window_note:
    st.caption(f":material/info: {window_note}")


# ---- live progress (a fragment that polls the worker's progress object)
@st.fragment(run_every=2.0)  # every redraw costs the training some CPU on a small machine: not more often
def live_progress() -> None:
    j = state.job()
    if j is None:
        return
    if not j.active:
        st.rerun()  # the whole app: the finished model becomes the active one
    label = {"waiting": "Waiting", "training": "Training", "evaluating": "Evaluating"}[j.state]
    elapsed = fmt_seconds(time.perf_counter() - j.started)
    budget = j.train_config.max_seconds
    of = f" of {fmt_seconds(budget)}" if budget else ""
    st.progress(j.fraction(), text=f"{label} · {elapsed}{of} · {j.message}")
    st.plotly_chart(figures.training_curves(j.history(), batch_loss=j.batch_loss()), key="live_curves")
    if st.button("Stop", icon=":material/stop:", key="stop_training", disabled=j.stopping):
        j.stop()
        st.toast("Stopping after the current batch; the best weights so far are kept.")


if job is not None and job.active:
    with st.container(border=True):
        live_progress()
elif job is not None and job.state == "failed" and not getattr(job, "reported", False):
    st.error(job.error or "Training failed.", icon=":material/error:")
elif job is not None and job.state == "done" and active is job.result:
    st.success(f"Training finished: {job.message}. Open the Users page to see why it recommends what it does.",
               icon=":material/check_circle:")
    if st.button("Open the Users page", type="primary", icon=":material/arrow_forward:", key="train_to_users"):
        st.switch_page("views/users.py")

# ---- the active model's results
st.divider()
if active is None:
    st.info("No model yet: press Train, or load the demo model above.", icon=":material/info:")
else:
    st.subheader(f"Active model: {active.name}")
    info = active.info
    cfg = active.model_config
    facts = [f"embedding {cfg.dim}", f"history {plural(cfg.max_len, 'event')}",
             f"short window {plural(min(cfg.short_window, cfg.max_len), 'event')}"]
    if info.get("seconds") is not None:
        facts.append(f"trained in {fmt_seconds(info['seconds'])} on {info.get('device', '?')}")
    if info.get("best_epoch"):
        facts.append(f"best epoch {info['best_epoch']}")
    if info.get("stopped"):
        facts.append(str(info["stopped"]))
    st.caption(" · ".join(facts))
    if str(info.get("stopped", "")).startswith("time budget"):
        epochs_done = len(active.history) if active.history is not None else 0
        st.warning(f"Training stopped at the time budget after {plural(epochs_done, 'epoch')}, "
                   "before the validation score stopped improving, so this model is not fully trained and may "
                   "trail the baselines. Set a larger time budget (0 = until early stopping) or load the "
                   "pre-trained demo model.", icon=":material/timer:")
    results = active.results
    stopped = str(info.get("stopped", ""))
    catalogue_note = small_catalogue_note(len(active.seqs.items) - 1)
    if results is not None and len(results) and catalogue_note:
        st.info(catalogue_note, icon=":material/info:")  # instead of advice read from meaningless metrics
    elif results is not None and len(results) and "NDCG@10" in results and not stopped.startswith("time budget"):
        ours = results.loc[results["model"] == "LTSI", "NDCG@10"]
        others = results[~results["model"].str.startswith("LTSI")]
        best_other = others["NDCG@10"].max()
        if len(ours) and float(ours.iat[0]) < float(best_other):
            if stopped.startswith("early stop"):
                why = ("Training ran until the validation score stopped improving, so more epochs would not help: "
                       "on this log a simple baseline ranks the next item better (small or very regular logs often "
                       "favour them). A larger log, or other settings (model size, history length), may.")
            elif stopped.startswith("stopped on request"):
                why = ("Training was stopped by hand, so it may not have learned enough yet. Train again and let it "
                       "run until early stopping (time budget 0), or load the pre-trained demo model.")
            else:
                why = ("It may not have learned enough yet. Train with more epochs (and no time budget), or load "
                       "the pre-trained demo model.")
            best_name = others.loc[others["NDCG@10"].idxmax(), "model"]
            st.info(f"On NDCG@10, LTSI ({float(ours.iat[0]):.4f}) is below {best_name} ({float(best_other):.4f}) "
                    f"here. {why}", icon=":material/info:")
    if results is not None and len(results):
        st.markdown("**Test metrics**: each user's last event, ranked among all items (best per column shaded)")
        shown = results.set_index("model")
        st.dataframe(shown.style.format("{:.4f}").highlight_max(axis=0, color="#dce8fb"), key="results_table")
        st.caption("HR@10: share of users whose held-out item is in the top 10. NDCG@10 and MRR@10 also reward "
                   "ranking it higher. Baselines: the most popular items; the items that most often follow the "
                   "user's last item. Ablations (when trained): LTSI with one part switched off.")
    left, right = st.columns(2)
    if results is not None and len(results):
        left.plotly_chart(figures.metrics_comparison(results), key="results_chart")
    if active.history is not None and len(active.history):
        right.plotly_chart(figures.training_curves(active.history, info.get("best_epoch")), key="history_chart")


"""The pipeline, once: train LTSI (and its ablations on request), fit the baselines, evaluate all, return a `Run`.

    plan = plan_training(seqs, split, device="auto", max_seconds=45)
    run = fit_run(seqs, split, plan, items=log.items, ablations=True, callback=print)
    save_run(run, "runs/mine")

The CLI's `train`, the dashboard's training job, the demo-run builder and the benches all call
`fit_run`, so the same log and plan give the same models, labels and metrics everywhere. The CPU
threads are the plan's (`TrainConfig.threads`, 0 = `ltsi.devices.default_threads()`): `train` sets
them, and the evaluation after training runs with them too.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import replace

import pandas as pd

from ltsi import distributed
from ltsi.evaluate import compare_ranks, metrics_table
from ltsi.model import ABLATIONS
from ltsi.plan import Plan
from ltsi.progress import Progress
from ltsi.runs import Run, training_summary
from ltsi.scorers import model_scorers
from ltsi.sequences import Sequences
from ltsi.splits import Split
from ltsi.train import StopReason, TrainResult, train


class Stage(enum.Enum):
    """What `fit_run` is doing now (for a caller's display)."""

    TRAINING = "training"  # LTSI itself
    ABLATION = "ablation"  # one of its ablations
    EVALUATING = "evaluating"  # every model and baseline on the test events


def fit_run(
    seqs: Sequences,
    split: Split,
    plan: Plan,
    items: pd.DataFrame | None = None,
    ablations: bool = False,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_stage: Callable[[Stage, str], None] | None = None,
) -> Run:
    """LTSI with `plan`'s settings, its ablations (`ltsi.model.ABLATIONS`, when asked and not stopped),
    the baselines, and their test metrics (full ranking), as one `Run`.

    `callback` gets every training's progress; `on_stage(stage, words)` is told when a new stage
    starts. `Run.info` holds the training summaries ("training", "ablations"),
    `Run.metrics` the test rows of every model (`Run.table()` as a DataFrame), the means of
    `Run.test_ranks` (each test case's rank under each model).
    """

    def stage(kind: Stage, words: str) -> None:
        if on_stage is not None:
            on_stage(kind, words)

    stage(Stage.TRAINING, "training LTSI")
    result = train(seqs, split, plan.model_config, plan.train_config, callback=callback, should_stop=should_stop)
    trained: dict[str, TrainResult] = {}
    if ablations and result.stop_reason is not StopReason.REQUESTED:
        for name, switches in ABLATIONS.items():
            if should_stop is not None and should_stop():
                break
            stage(Stage.ABLATION, f"training the ablation 'LTSI ({name})'")
            trained[name] = train(
                seqs,
                split,
                replace(plan.model_config, **switches),
                plan.train_config,
                callback=callback,
                should_stop=should_stop,
            )
    stage(Stage.EVALUATING, "evaluating LTSI and the baselines on the test events")
    models = {name: r.model for name, r in trained.items()}
    metrics, ranks = [], None
    if len(split.test) and distributed.current().is_main:  # under torchrun, the other ranks skip the test
        scorers = model_scorers(result.model, models, seqs, split)
        ranks = compare_ranks(scorers, seqs, split.test, plan.model_config.max_len)  # (C, M) kept with the run
        table = metrics_table(ranks)
        metrics = [{"model": row.pop("model"), "split": "test", **row} for row in table.to_dict(orient="records")]
    info = {
        "training": training_summary(result),
        "ablations": {name: training_summary(r) for name, r in trained.items()},
    }
    return Run(
        result.model,
        plan.model_config,
        plan.train_config,
        seqs,
        split,
        items,
        metrics,
        result.history,
        models,
        info,
        test_ranks=ranks,
    )

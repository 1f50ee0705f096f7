"""The models of a run under their report names, and a stored run evaluated again.

scorers = run_scorers(run)          # {"LTSI": model, "LTSI (no gate)": ..., "most popular": ..., ...}
table = evaluate_run(run, "valid")  # one row per model, full ranking (ltsi.evaluate)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ltsi.baselines import fit_baselines
from ltsi.errors import LTSIError
from ltsi.evaluate import compare
from ltsi.model import LTSI
from ltsi.runs import Run
from ltsi.sequences import Sequences
from ltsi.splits import Split


def model_scorers(
    model: LTSI, ablations: dict[str, LTSI], seqs: Sequences, split: Split, last_items: np.ndarray | None = None
) -> dict[str, object]:
    """Every model under its report name: LTSI, its ablations, then the baselines (fitted here on the split's
    training part, deterministic; with `last_items`, for histories ending in those items only)."""
    scorers: dict[str, object] = {"LTSI": model}
    scorers.update({f"LTSI ({name})": ablation for name, ablation in ablations.items()})
    scorers.update(fit_baselines(seqs, split, last_items))
    return scorers


def run_scorers(run: Run, last_items: np.ndarray | None = None) -> dict[str, object]:
    """`model_scorers` of a loaded run."""
    return model_scorers(run.model, run.ablations, run.seqs, run.split, last_items)


def evaluate_run(run: Run, split: str = "test", exclude_seen: bool = False, ks=(10, 20)) -> pd.DataFrame:
    """One row per model of the run (see `run_scorers`) on its test (or valid) cases, full ranking."""
    if split not in ("test", "valid"):
        raise LTSIError(f"Unknown split {split!r}; use test or valid.")
    cases = getattr(run.split, split)
    return compare(run_scorers(run), run.seqs, cases, run.model_config.max_len, ks=ks, exclude_seen=exclude_seen)

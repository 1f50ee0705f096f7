"""Each test case's rank under each model, from the run's test evaluation, kept with the run.

The test metrics are means of these ranks (`ltsi.evaluate.metrics_table`). Keeping them lets the Model view's
metrics by group of users read the very ranks behind the metrics table instead of scoring the whole catalogue
again for a sample of users (at a million items that scoring was most of the view's time).

    test_ranks.safetensors
      "cases"  (C,) int64     positions in the split's test cases, increasing (all of them, or the sample evaluated)
      "ranks"  (C, M) float32 rank of each case's held-out item under each model (inf: never ranked)
      metadata "models"       JSON list of the M model names, in column order
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ltsi.errors import LTSIError

FILE = "test_ranks.safetensors"
MAX_MODELS = 64  # LTSI, its ablations and the baselines are fewer than ten: a file listing more is not a run's


def check_test_ranks(ranks: pd.DataFrame, n_cases: int, where: str = "the test ranks") -> None:
    """LTSIError unless `ranks` holds one row per test case position (increasing, in 0..n_cases-1) and one
    column per model (distinct names), every value a rank >= 1 or inf."""
    cases = ranks.index.to_numpy()
    if ranks.shape[1] == 0 or not ranks.columns.is_unique or not all(isinstance(c, str) for c in ranks.columns):
        raise LTSIError(f"{where}: expected one column per model, with distinct names.")
    if len(cases) and (
        cases.dtype.kind not in "iu" or cases[0] < 0 or cases[-1] >= n_cases or np.any(np.diff(cases) <= 0)
    ):
        raise LTSIError(f"{where}: the rows must be increasing positions among the {n_cases:,} test cases.")
    values = ranks.to_numpy(np.float64)  # (C, M)
    if not np.all(values >= 1):  # also refuses NaN
        raise LTSIError(f"{where}: a rank is below 1 or missing.")


def write_test_ranks(ranks: pd.DataFrame, file: Path) -> None:
    """Save `ranks` (rows: test case positions; columns: model names) as `file` (safetensors)."""
    tensors = {
        "cases": torch.from_numpy(ranks.index.to_numpy(np.int64).copy()),  # (C,)
        "ranks": torch.from_numpy(ranks.to_numpy(np.float32).copy()),  # (C, M)
    }
    save_file(tensors, str(file), metadata={"models": json.dumps(list(ranks.columns), ensure_ascii=False)})


def read_test_ranks(file: Path, n_cases: int) -> pd.DataFrame:
    """The ranks `write_test_ranks` saved, checked against a split of `n_cases` test cases; LTSIError names the file.

    Names, types and shapes are checked from the file's header before any array is read, so a file that claims
    more cases than the split has, or more models than a run trains, is refused without filling the memory."""
    damaged = f"{file} is damaged"
    try:
        with safe_open(str(file), framework="pt") as handle:
            models = json.loads((handle.metadata() or {}).get("models", "null"))
            names = list(handle.keys())  # noqa: SIM118 (a safetensors handle, not a dict)
            layout = {name: (handle.get_slice(name).get_dtype(), handle.get_slice(name).get_shape()) for name in names}
            if set(layout) != {"cases", "ranks"} or layout["cases"][0] != "I64" or layout["ranks"][0] != "F32":
                raise LTSIError(f"{damaged}: it needs an int64 'cases' and a float32 'ranks' array, nothing else.")
            (_, cases_shape), (_, ranks_shape) = layout["cases"], layout["ranks"]
            if not (isinstance(models, list) and 0 < len(models) <= MAX_MODELS and len(cases_shape) == 1):
                raise LTSIError(f"{damaged}: it must list between 1 and {MAX_MODELS} models.")
            if cases_shape[0] > n_cases or list(ranks_shape) != [cases_shape[0], len(models)]:
                raise LTSIError(
                    f"{damaged}: its 'ranks' must have one row per case (at most the {n_cases:,} test cases) and "
                    "one column per listed model."
                )
            cases, ranks = handle.get_tensor("cases"), handle.get_tensor("ranks")  # (C,), (C, M)
    except LTSIError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise LTSIError(f"{damaged} or not a safetensors file ({error}).") from None
    frame = pd.DataFrame(ranks.numpy(), columns=models, index=pd.Index(cases.numpy(), name="case"))
    check_test_ranks(frame, n_cases, damaged)
    return frame

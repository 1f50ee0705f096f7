"""Each test case's rank per model, kept with a run (ltsi.saved_ranks): round trip and damaged files."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from ltsi.errors import LTSIError
from ltsi.saved_ranks import check_test_ranks, read_test_ranks, write_test_ranks


def ranks_frame() -> pd.DataFrame:
    """Cases 0, 2, 5 of 6 (a sample), two models; one target never ranked (inf)."""
    return pd.DataFrame(
        {"LTSI": [1.0, 3.0, math.inf], "most popular « ✓ »": [12.0, 1.0, 16_000_000.0]},
        index=pd.Index([0, 2, 5], name="case"),
    ).astype(np.float32)


def test_round_trip_keeps_cases_models_and_values(tmp_path):
    write_test_ranks(ranks_frame(), tmp_path / "r.safetensors")
    back = read_test_ranks(tmp_path / "r.safetensors", n_cases=6)
    pd.testing.assert_frame_equal(back, ranks_frame(), check_exact=True, check_index_type=False)
    assert back.index.dtype == np.int64 and back.to_numpy().dtype == np.float32
    assert back.loc[5, "most popular « ✓ »"] == 16_000_000  # exact in float32 up to 2**24


def write_raw(path, cases, ranks, models):
    save_file({"cases": cases, "ranks": ranks}, str(path), metadata={"models": json.dumps(models)})


@pytest.mark.parametrize(
    "cases, ranks, models, message",
    [
        (torch.tensor([0, 1]), torch.tensor([[1.0], [float("nan")]]), ["LTSI"], "a rank is below 1 or missing"),
        (torch.tensor([0, 1]), torch.tensor([[1.0], [0.0]]), ["LTSI"], "a rank is below 1 or missing"),
        (torch.tensor([0, 6]), torch.ones(2, 1), ["LTSI"], "increasing positions among the 6 test cases"),
        (torch.tensor([3, 1]), torch.ones(2, 1), ["LTSI"], "increasing positions"),
        (torch.tensor([0, 1]), torch.ones(2, 2), ["LTSI"], "one row per case .* one column per listed model"),
        (torch.arange(7), torch.ones(7, 1), ["LTSI"], r"at most the 6 test cases"),  # refused from the header
        (torch.tensor([0]), torch.ones(1, 65), [f"m{i}" for i in range(65)], "between 1 and 64 models"),
        (torch.tensor([0, 1]), torch.ones(2, 2), ["LTSI", "LTSI"], "distinct names"),
        (torch.tensor([0, 1]), torch.ones(2, 1, dtype=torch.float64), ["LTSI"], "float32 'ranks'"),
        (torch.tensor([0, 1], dtype=torch.int32), torch.ones(2, 1), ["LTSI"], "an int64 'cases'"),
    ],
)
def test_damaged_files_are_refused_with_the_reason(tmp_path, cases, ranks, models, message):
    write_raw(tmp_path / "r.safetensors", cases, ranks, models)
    with pytest.raises(LTSIError, match=message) as caught:
        read_test_ranks(tmp_path / "r.safetensors", n_cases=6)
    assert "r.safetensors is damaged" in str(caught.value)


def test_not_a_safetensors_file_or_no_model_list(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04K\x01.")  # a pickle: never unpickled
    with pytest.raises(LTSIError, match="not a safetensors file"):
        read_test_ranks(tmp_path / "junk.safetensors", n_cases=6)
    save_file({"cases": torch.tensor([0]), "ranks": torch.ones(1, 1)}, str(tmp_path / "r.safetensors"))
    with pytest.raises(LTSIError, match="must list between 1 and 64 models"):
        read_test_ranks(tmp_path / "r.safetensors", n_cases=6)


def test_a_run_refuses_ranks_that_do_not_fit_its_split():
    with pytest.raises(LTSIError, match="among the 2 test cases"):
        check_test_ranks(ranks_frame(), n_cases=2)
    check_test_ranks(ranks_frame().iloc[:0], n_cases=0)  # no test cases, no ranks: fine

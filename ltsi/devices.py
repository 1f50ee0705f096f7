"""Where and how training runs: the device, CPU threads, mixed precision and the random seed."""

from __future__ import annotations

import os

import torch

from ltsi.errors import LTSIError

AMP_MODES = ("auto", "bf16", "fp16", "off")


def set_seed(seed: int) -> None:
    """Seed Python-visible randomness that training uses (torch CPU + CUDA)."""
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device(name: str = "auto") -> torch.device:
    """ "auto" -> CUDA when available, else CPU; an unavailable CUDA request is an LTSIError."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LTSIError("A GPU (cuda) was asked for, but PyTorch sees none here; use --device cpu or auto.")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise LTSIError(f"Unknown device {name!r}; use auto, cpu or cuda.") from error
    if device.type not in ("cpu", "cuda"):  # meta, mps, xpu ...: the loop is written and tested for these two
        raise LTSIError(f"LTSI trains on the CPU or a CUDA GPU, not on {name!r}; use auto, cpu or cuda.")
    return device


def default_threads(reserve: int = 0) -> int:
    """CPU threads for torch: one per available core less `reserve` (e.g. one for a dashboard), 1..8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores - reserve, 8))


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `mode` on `device`, or None for full fp32."""
    if mode not in AMP_MODES:
        raise LTSIError(f"Unknown mixed-precision mode {mode!r}; use one of {', '.join(AMP_MODES)}.")
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if mode == "bf16" else torch.float16

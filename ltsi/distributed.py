"""Training on several GPUs (or machines) at once: one process per GPU, each running `ltsi.train`'s loop.

One machine, N GPUs (either line; `--gpus` starts torchrun itself):

    torchrun --standalone --nproc_per_node 4 -m ltsi train events.parquet --out runs/big
    python -m ltsi train events.parquet --out runs/big --gpus 4

Several machines: run the same command on every machine, naming how many machines take part and one
meeting point (any machine's address and a free port) that all of them can reach:

    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint host0:29500 --rdzv_id big-run \
        -m ltsi train events.parquet --out runs/big
    # --node_rank 0 / 1 ... pins each machine's place; with c10d it is optional (assigned on arrival).
    # Only the process of rank 0 writes --out: give a path on the machine (or shared disk) where you want it.

What each process does (`ltsi.train.train`, the one training loop): it reads the log (every process
holds the sequences: plan memory for that times the processes per machine) and builds the same windows
(same seed), then every epoch shuffles the window order identically and takes its own share of
each global batch (`shard_windows`: window j of a batch goes to rank j mod world_size), so the global
batch is the single-process `batch_size` and each GPU holds batch_size / world_size of it (and only
its own windows of the epoch are gathered onto it). Each rank's
loss is weighted by its share of the batch's predicted events, so DistributedDataParallel's gradient
average is exactly the gradient of the whole batch's mean loss. The sampled softmax draws its negatives
from a generator with the run's seed, the same on every rank. Validation is sharded too (each rank scores
every world_size-th validation user, `shard_cases`; the means are combined with one all-reduce,
`combine_means`): it is world_size times faster than rank 0 alone, and every rank then holds the same
numbers, so best weights, early stopping and the learning-rate cuts are decided identically everywhere.
Reasons to stop inside an epoch (time budget, a stop request, a loss that is no longer finite) and the
clock that drives a budgeted schedule are agreed with one small all-reduce (`agree`) at the loop's check
points, so all ranks stop at the same batch. Rank 0 reports progress and saves the run folder (the same
folder as a single-process run); the others exit 0 without writing. Backend: NCCL on GPUs, gloo on CPUs.

Memory per GPU (every rank holds a full copy of the model): the item table dominates. Measured with
`measure_embedding_memory` for 10,000,000 items x dim 64 in fp32 (CPU, torch 2.13, load average 4-5 on
2 shared cores): parameters 2.56 GB, gradient 2.56 GB, AdamW's two moments 5.12 GB, together 10.24 GB,
i.e. 16 bytes x items x dim (1M items: 1.02 GB). The process's peak memory grew by 15.4 GB over that
forward, backward and first AdamW step on the CPU (temporaries: about two more copies of the table). On a
GPU the loop uses the fused AdamW, which should need fewer temporaries (not measured: no GPU in this
session). DDP adds no
copy of the gradient (`gradient_as_bucket_view`: the gradient is its all-reduce bucket). With the
sampled softmax the table's gradient is still dense, and DDP all-reduces all of it every step (2.56 GB
per step at 10M x 64): for such catalogues, larger global batches mean fewer of those transfers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ltsi.batches import NextItemDataset
from ltsi.errors import LTSIError
from ltsi.loss import next_item_loss
from ltsi.model import LTSI
from ltsi.splits import EvalCases

ENV_NAMES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class Context:
    """Where this process stands in a distributed run; the defaults are a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the GPU index on this machine
    local_world_size: int = 1  # processes on this machine (they share its CPU cores)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that reports and saves."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    if text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise LTSIError(f"The environment variable {name} must be a whole number (torchrun sets it), not {text!r}.")


def from_env() -> Context:
    """The context torchrun describes in RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE (unset: one process)."""
    world = _env_int("WORLD_SIZE", 1)
    ctx = Context(
        rank=_env_int("RANK", 0),
        world_size=world,
        local_rank=_env_int("LOCAL_RANK", 0),
        local_world_size=_env_int("LOCAL_WORLD_SIZE", world),
    )
    if ctx.world_size < 1 or not 0 <= ctx.rank < ctx.world_size:
        raise LTSIError(f"RANK {ctx.rank} does not fit WORLD_SIZE {ctx.world_size}: start the processes with torchrun.")
    return ctx


def wants_gpu(device: str) -> bool:
    """Whether a --device value trains on CUDA ("auto" does when PyTorch sees a GPU)."""
    name = (device or "auto").lower()
    return name.startswith("cuda") or (name == "auto" and torch.cuda.is_available())


def init(device: str = "auto") -> Context:
    """Join the process group when torchrun started several processes (NCCL on GPUs, gloo on CPUs).

    Reads MASTER_ADDR / MASTER_PORT (torchrun sets them) through the env:// rendezvous. A single process
    gets the default context and starts nothing.
    """
    ctx = from_env()
    if not ctx.active or dist.is_initialized():
        return ctx
    gpu = wants_gpu(device)
    if gpu:
        if torch.cuda.device_count() <= ctx.local_rank:
            raise LTSIError(
                f"Process {ctx.rank} wants GPU {ctx.local_rank}, but this machine has {torch.cuda.device_count()}: "
                "start at most one process per GPU (--nproc_per_node), or use --device cpu."
            )
        torch.cuda.set_device(ctx.local_rank)
    dist.init_process_group("nccl" if gpu else "gloo")
    return ctx


@contextmanager
def session(device: str = "auto") -> Iterator[Context]:
    """`init` on the way in, `close` on the way out (also after an error). On a normal exit the ranks meet first:
    a rank that tore the group down while another was still in its last collective made gloo abort the other."""
    try:
        ctx = init(device)
        yield ctx
        if ctx.active:
            dist.barrier()
    finally:
        close()


def current() -> Context:
    """The context of an initialised process group, else a single process (library callers, the dashboard)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Context()
    world = dist.get_world_size()
    return Context(
        rank=dist.get_rank(),
        world_size=world,
        local_rank=_env_int("LOCAL_RANK", 0),
        local_world_size=_env_int("LOCAL_WORLD_SIZE", world),
    )


def close() -> None:
    """Leave the process group (no-op without one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: torch.device, ctx: Context) -> torch.device:
    """This rank's GPU (cuda:LOCAL_RANK) when training on CUDA in several processes; else `device`."""
    if ctx.active and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device


def wrap(model: torch.nn.Module, ctx: Context, device: torch.device) -> torch.nn.Module:
    """The model behind DistributedDataParallel when distributed (it averages gradients), else the model itself.

    Every weight that needs a gradient must get one each step (`unused_weights` finds those
    that never do, and the loop freezes them): the default DDP is then exact. static_graph=True is not,
    here: the loss uses the item table and the counts weights outside `forward`, and a static graph then
    gave gradients off by about 1e-3 (measured against one process). forward_sync_buffers=False: the
    counts part's buffers are computed from the same data on every rank and never change, so re-sending
    them each step would only cost time (they are sent once, at the start).
    """
    if not ctx.active:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model,
        device_ids=[device.index] if device.type == "cuda" else None,
        forward_sync_buffers=False,
        gradient_as_bucket_view=True,
    )


def unused_weights(model: LTSI, dataset: NextItemDataset, device: torch.device) -> list[torch.nn.Parameter]:
    """The weights that the training loss does not depend on (an ablation's switched-off parts), from two windows."""
    was_training = model.training
    model.eval()  # the same weights take part, and dropout draws no random numbers
    inputs, targets = dataset.batch(np.arange(min(2, len(dataset))))  # (2, L) each
    inputs, targets = inputs.to(device), targets.to(device)
    negatives = torch.arange(1, min(model.config.n_items, 3), device=device)  # (<= 2,) small at any catalogue size
    out = model(inputs.items, inputs.events, inputs.gaps)
    loss = next_item_loss(model, out.interest, inputs.items, targets, negatives)  # ()
    weights = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, weights, allow_unused=True)
    model.train(was_training)
    return [p for p, g in zip(weights, grads) if g is None]


@dataclass(frozen=True)
class Shard:
    """This rank's part of one epoch: the windows it trains on, batch by batch."""

    windows: np.ndarray  # (n,) window indices, in training order
    bounds: np.ndarray  # (steps + 1,) batch s is windows[bounds[s]:bounds[s + 1]]
    share: np.ndarray  # (steps,) loss weight: world_size x this rank's predicted events / the batch's
    real: np.ndarray  # (n,) False for a stand-in window (weight 0) given to a rank left without one


def shard_windows(order: np.ndarray, batch_size: int, targets_per_window: np.ndarray, ctx: Context) -> Shard:
    """Split each global batch of the shuffled `order` across ranks: its j-th window goes to rank j mod world_size.

    Every rank gets the same `order` (same seed), so the parts are disjoint and together cover every
    window once per epoch. `share` makes the ranks' mean losses add up to the batch's mean over its
    predicted events (`targets_per_window[w]` of them in window w) once DDP averages the gradients. A
    final batch smaller than world_size leaves some ranks empty; each gets the batch's first window
    with weight 0, so it still joins the gradient all-reduce (DDP needs every rank there) but adds nothing.
    """
    if batch_size < ctx.world_size:
        raise LTSIError(
            f"The batch of {batch_size} windows cannot be shared by {ctx.world_size} processes: use a batch size "
            "of at least the number of processes."
        )
    order = np.asarray(order, dtype=np.int64)  # (W,)
    counts = np.asarray(targets_per_window, dtype=np.float64)[order]  # (W,) predicted events per window, in order
    position = np.arange(len(order))  # (W,)
    step = position // batch_size  # (W,) global batch of each position
    n_steps = int(step[-1]) + 1 if len(order) else 0
    batch_counts = np.bincount(step, weights=counts, minlength=n_steps)  # (steps,)
    mine = (position % batch_size) % ctx.world_size == ctx.rank  # (W,)
    windows, steps_of, real = order[mine], step[mine], np.ones(int(mine.sum()), dtype=bool)
    my_counts = np.bincount(steps_of, weights=counts[mine], minlength=n_steps)  # (steps,)
    if n_steps and (len(order) - 1) % batch_size < ctx.rank:  # the last batch has no window for this rank
        first = (n_steps - 1) * batch_size
        windows = np.append(windows, order[first])
        steps_of = np.append(steps_of, n_steps - 1)
        real = np.append(real, False)
    bounds = np.searchsorted(steps_of, np.arange(n_steps + 1))  # (steps + 1,) steps_of is sorted
    share = ctx.world_size * my_counts / np.maximum(batch_counts, 1)  # (steps,) 1.0 exactly for one process
    return Shard(windows=windows, bounds=bounds, share=share, real=real)


def shard_cases(cases: EvalCases, ctx: Context) -> EvalCases:
    """Every world_size-th evaluation case, from this rank's index on (all of them for one process)."""
    if not ctx.active:
        return cases
    part = slice(ctx.rank, None, ctx.world_size)
    return EvalCases(users=cases.users[part], ends=cases.ends[part], targets=cases.targets[part])


def combine_means(
    ctx: Context, means: dict[str, float], n_cases: int, names: list[str], device: torch.device
) -> dict[str, float]:
    """The means over every rank's cases from each rank's means over its own `n_cases` (one all-reduce).

    A rank without cases passes {} and 0. For one process, `means` is returned as it is.
    """
    if not ctx.active:
        return means
    sums = [means.get(name, 0.0) * n_cases for name in names] + [float(n_cases)]
    total = torch.tensor(sums, dtype=torch.float64, device=device)  # (metrics + 1,)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    values = total.tolist()
    return {name: value / max(values[-1], 1.0) for name, value in zip(names, values)}


def agree(ctx: Context, code: int, elapsed: float, device: torch.device) -> tuple[int, float]:
    """The largest stop code and the longest clock over all ranks (one all-reduce); as given for one process.

    Larger codes are the more serious reasons to stop, so any rank's reason stops every rank at the same batch.
    """
    if not ctx.active:
        return code, elapsed
    values = torch.tensor([float(code), elapsed], dtype=torch.float64, device=device)  # (2,)
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    agreed_code, agreed_elapsed = values.tolist()
    return int(agreed_code), agreed_elapsed


def average(ctx: Context, value: torch.Tensor) -> torch.Tensor:
    """The mean of a () tensor over ranks (itself for one process)."""
    if not ctx.active:
        return value
    total = value.detach().clone().double()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / ctx.world_size


def torchrun_args(n_processes: int, argv: list[str]) -> list[str]:
    """torchrun's arguments that run `python -m ltsi ARGV` in `n_processes` processes on this machine.

    `argv` is the command line after the program name; its --gpus option is removed (the children
    are already the N processes).
    """
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--gpus":
            skip = True
        elif not arg.startswith("--gpus="):
            rest.append(arg)
    return ["--standalone", "--nproc_per_node", str(n_processes), "-m", "ltsi", *rest]


def launch(n_processes: int, argv: list[str], device: str) -> None:
    """Run `python -m ltsi ARGV` in `n_processes` processes through torchrun (`torch.distributed.run`).

    On GPUs each process takes one; with --device cpu the processes share the CPU (gloo). Raises
    LTSIError when fewer GPUs are present than asked for, or when a process failed (it said why above).
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    on_cpu = (device or "auto").lower() == "cpu"  # only when asked: "auto" on a machine without GPUs is refused
    if not on_cpu and torch.cuda.device_count() < n_processes:
        raise LTSIError(
            f"--gpus {n_processes} asks for {n_processes} GPUs, but PyTorch sees {torch.cuda.device_count()} here. "
            "Ask for fewer, or add --device cpu to train in that many CPU processes."
        )
    if on_cpu:  # the processes share the cores: one thread each unless --threads says otherwise
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        torchrun.main(torchrun_args(n_processes, argv))
    except ChildFailedError as error:
        raise LTSIError(
            "A training process failed (its own message is above); the run folder was not written."
        ) from error


def measure_embedding_memory(n_items: int, dim: int = 64, device: str = "cpu") -> dict[str, int]:
    """Bytes of an item table's parameters, gradient and AdamW state after one step (counted from the tensors).

    Used for the figures in the module docstring; needs about 16 x n_items x dim bytes of memory.
    """
    table = torch.nn.Embedding(n_items, dim, device=device)
    optimizer = torch.optim.AdamW(table.parameters(), lr=1e-3)
    table(torch.arange(min(n_items, 1024), device=device)).sum().backward()  # (1024, dim) -> ()
    optimizer.step()
    state = optimizer.state[table.weight]
    moments = sum(t.numel() * t.element_size() for t in state.values() if t.dim() > 0)

    def size(t: torch.Tensor) -> int:
        return t.numel() * t.element_size()

    return {"parameters": size(table.weight), "gradient": size(table.weight.grad), "adam_state": moments}

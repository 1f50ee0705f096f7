"""A trained run as a self-contained folder: weights, configs, data, split, metrics, history.

    RUN_DIR/
      config.json            format tag, model + train config, vocabularies (users, items, event
                             types), split protocol, data fingerprint, training summary, versions
      model.safetensors      LTSI weights
      ablation-<name>.safetensors   weights of stored ablations (their configs are in config.json)
      sequences.safetensors  the event sequences (flat int64 arrays) and the split's arrays
      metrics.json           list of {"model", "split", "HR@10", ...} rows
      history.csv            one row per training epoch
      items.csv              the item table, when one was given
      test_ranks.safetensors each test case's rank under each model (ltsi.saved_ranks), when evaluated
      manifest.json          SHA-256 and size of every file above, written last (format 3 on)

Everything a later `evaluate`, `recommend` or `explain` needs is in the folder, so a run can be
copied, shipped as a demo and reloaded instantly. Loading never unpickles (safetensors + JSON +
CSV only); a folder that is not a complete LTSI run raises LTSIError saying what is missing or
damaged. Saving is atomic (a temporary sibling folder renamed into place) and never replaces an
existing run unless asked; loading checks the manifest, the settings' ranges, that the weights are
finite and that the split indexes only existing users, events and items.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import ltsi
from ltsi import saved_ranks
from ltsi.baselines import TrainingCounts
from ltsi.errors import LTSIError
from ltsi.folders import file_digest, fsync_dir, move_into_place, sweep_unfinished, write_manifest
from ltsi.model import LTSI, ModelConfig
from ltsi.sequences import Sequences, Vocabulary
from ltsi.splits import EvalCases, Split
from ltsi.train import TrainResult
from ltsi.train_config import TrainConfig

FORMAT = "ltsi-run"
FORMAT_VERSION = 3  # 2: LTSI's counts part (training counts stored with the weights); 3: manifest.json
STALE_SAVE_S = 3600  # an unfinished save folder older than this is a killed save's, and is removed
MANIFEST = "manifest.json"  # SHA-256 and size of every other file, written last (format 3 on)
REQUIRED = ("config.json", "model.safetensors", "sequences.safetensors")
OPTIONAL = ("metrics.json", "history.csv", "items.csv", saved_ranks.FILE, MANIFEST)


def is_run_file(name: str) -> bool:
    """Whether a file name (no folder) is one a run folder holds; anything else in a run zip is not extracted."""
    return name in REQUIRED or name in OPTIONAL or re.fullmatch(r"ablation-[a-z0-9-]+\.safetensors", name) is not None


SEQUENCE_ARRAYS = ("offsets", "item_ids", "event_ids", "gap_ids", "timestamps")


@dataclass
class Run:
    model: LTSI  # eval mode, CPU
    model_config: ModelConfig
    train_config: TrainConfig
    seqs: Sequences
    split: Split
    items: pd.DataFrame | None  # item table (item_id as text first), or None
    metrics: list[dict]  # rows of {"model", "split", "HR@10", ...}
    history: pd.DataFrame  # per-epoch training history
    ablations: dict[str, LTSI] = field(default_factory=dict)  # name -> model, eval mode
    info: dict = field(default_factory=dict)  # training summaries ("training", "ablations"), data, versions, path
    # each test case's rank under each model, whose means are `metrics` (ltsi.saved_ranks); None: not kept
    test_ranks: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.test_ranks is not None:
            saved_ranks.check_test_ranks(self.test_ranks, len(self.split.test))

    def table(self, split: str = "test") -> pd.DataFrame | None:
        """The stored metrics of one split: one row per model ("model", "HR@10", ...), or None when there are none."""
        rows = pd.DataFrame(self.metrics or [])
        if rows.empty or "model" not in rows:
            return None
        if "split" in rows:
            rows = rows[rows["split"] == split].drop(columns="split")
        return rows.reset_index(drop=True) if len(rows) else None


def fingerprint(seqs: Sequences) -> str:
    """SHA-256 of the sequences (arrays + vocabularies): identifies the data a model was trained on."""
    digest = hashlib.sha256()
    for name in SEQUENCE_ARRAYS:
        digest.update(np.ascontiguousarray(getattr(seqs, name), dtype=np.int64).tobytes())
    for tokens in (seqs.users, seqs.items.tokens, seqs.event_types.tokens):
        digest.update(json.dumps(list(tokens), ensure_ascii=False).encode())
    return digest.hexdigest()


def _state(model: LTSI) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def _split_arrays(split: Split) -> dict[str, torch.Tensor]:
    arrays = {"split.train_ends": split.train_ends}
    for part in ("valid", "test"):
        cases = getattr(split, part)
        for name in ("users", "ends", "targets"):
            arrays[f"split.{part}.{name}"] = getattr(cases, name)
    return {k: torch.from_numpy(np.asarray(v, dtype=np.int64)) for k, v in arrays.items()}


def save_run(run: Run, path: str | Path, ablation_weights: bool = True, overwrite: bool = False) -> Path:
    """Write `run` as a run folder at `path` (what `load_run(path)` reads back); returns the path.

    `ablation_weights=False` keeps the ablations' metrics and summaries but not their weights (a
    smaller folder, e.g. the shipped demo); such a folder loads without ablation models.

    The save is atomic: every file goes into a temporary sibling folder (`.NAME.tmp-XXXX`), is
    fsynced, `manifest.json` (SHA-256 and size of every file) is written last, and the folder is then
    renamed into place. An interrupted save leaves the previous folder as it was. An existing run
    (or any non-empty folder) at `path` is refused unless `overwrite=True`; then the old folder is
    moved aside, the new one renamed in, and the old one deleted.
    """
    path = Path(path)
    check_save_target(path, overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_unfinished(path, STALE_SAVE_S)  # left by a save that was killed (kill -9 cannot clean up)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    except OSError as error:
        raise LTSIError(f"Cannot save the run to {path}: {error.strerror or error}.") from None
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a run folder is an ordinary folder
        _write_run_files(run, tmp, ablation_weights)
        write_manifest(tmp, MANIFEST, FORMAT)
        fsync_dir(tmp)
        move_into_place(tmp, path)
    except BaseException as error:  # an interrupted save (Ctrl-C too) leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(error, OSError):
            raise LTSIError(f"Cannot save the run to {path}: {error.strerror or error}.") from None
        raise
    return path


def check_save_target(path: str | Path, overwrite: bool = False) -> None:
    """LTSIError unless `save_run(..., path, overwrite=overwrite)` can write there: `path` is not a file,
    not inside a file, not an existing run (or other non-empty folder) unless `overwrite`, and its
    nearest existing parent folder is writable. Cheap: call it before a long training."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise LTSIError(f"Cannot save the run to {path}: a file with that name exists; choose a folder name.")
    if path.is_dir() and not overwrite:
        try:
            empty = not any(path.iterdir())
        except OSError as error:
            raise LTSIError(f"Cannot save the run to {path}: {error.strerror or error}.") from None
        if not empty:
            what = "a run folder" if (path / "config.json").exists() else "a folder that is not empty"
            raise LTSIError(
                f"{path} already exists and is {what}; choose another folder, or replace it "
                "(command line: --overwrite; Python: save_run(..., overwrite=True))."
            )
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise LTSIError(f"Cannot save the run to {path}: {parent} is a file, not a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise LTSIError(f"Cannot save the run to {path}: no permission to write in {parent}.")


def _write_run_files(run: Run, path: Path, ablation_weights: bool) -> None:
    seqs, split = run.seqs, run.split
    summaries = run.info.get("ablations", {})
    saved = run.ablations if ablation_weights else {}

    save_file(_state(run.model), str(path / "model.safetensors"), metadata={"format": FORMAT})
    for name, model in saved.items():
        save_file(_state(model), str(path / f"ablation-{_slug(name)}.safetensors"), metadata={"format": FORMAT})
    arrays = {
        name: torch.from_numpy(np.array(getattr(seqs, name), dtype=np.int64, copy=True)) for name in SEQUENCE_ARRAYS
    }
    save_file({**arrays, **_split_arrays(split)}, str(path / "sequences.safetensors"), metadata={"format": FORMAT})

    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": run.model_config.to_dict(),
        "train_config": run.train_config.to_dict(),
        "vocabularies": {
            "users": list(seqs.users),
            "items": list(seqs.items.tokens),
            "event_types": list(seqs.event_types.tokens),
        },
        "split": {"protocol": split.protocol, "cutoff": None if split.cutoff is None else split.cutoff.isoformat()},
        "data": {
            "fingerprint": fingerprint(seqs),
            "n_users": seqs.n_users,
            "n_items": len(seqs.items) - 1,
            "n_events": seqs.n_events,
        },
        "training": run.info.get("training", {}),
        "ablations": {
            name: {
                **(
                    {"file": f"ablation-{_slug(name)}.safetensors", "model_config": saved[name].config.to_dict()}
                    if name in saved
                    else {}
                ),
                **{k: v for k, v in summary.items() if k not in ("file", "model_config")},
            }
            for name, summary in summaries.items()
        },
        "versions": {"ltsi": ltsi.__version__, "torch": torch.__version__, "python": platform.python_version()},
    }
    (path / "config.json").write_text(json.dumps(_jsonable(config), indent=1, ensure_ascii=False), encoding="utf-8")
    (path / "metrics.json").write_text(json.dumps(_jsonable(run.metrics or []), indent=1), encoding="utf-8")
    run.history.to_csv(path / "history.csv", index=False)
    if run.items is not None:
        run.items.to_csv(path / "items.csv", index=False)
    if run.test_ranks is not None:
        saved_ranks.write_test_ranks(run.test_ranks, path / saved_ranks.FILE)


def training_summary(result: TrainResult) -> dict:
    """What a run folder keeps of how a model was trained (config.json "training" / "ablations")."""
    return {
        "best_epoch": result.best_epoch,
        "valid_metrics": result.valid_metrics,
        "stopped": result.stopped,
        "stop_reason": result.stop_reason.value,
        "still_improving": result.still_improving,
        "advice": result.advice,
        "seconds": round(result.seconds, 3),
        "device": result.device,
    }


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


# ---------------------------------------------------------------------------------------------
# Loading


def load_run(path: str | Path) -> Run:
    """Read a run folder written by `save_run`; LTSIError names what is missing or damaged."""
    path = Path(path)
    if not path.is_dir():
        raise LTSIError(f"There is no run folder at {path}. Train one with: python -m ltsi train DATA --out {path}")
    missing = [name for name in REQUIRED if not (path / name).is_file()]
    if missing:
        raise LTSIError(
            f"{path} is not a complete LTSI run folder: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing. Train again or copy the whole folder."
        )
    config = _read_json(path / "config.json")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise LTSIError(f'{path / "config.json"} is not an LTSI run configuration (no "format": "{FORMAT}").')
    version = config.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise LTSIError(f'{path / "config.json"}: "format_version" must be a whole number, not {version!r}.')
    if version > FORMAT_VERSION:
        raise LTSIError(
            f"{path} was written by a newer LTSI (run format {config['format_version']}); update LTSI to read it."
        )
    _check_manifest(path, config, version)
    try:
        vocab = config["vocabularies"]
        model_config = _model_config(config["model_config"], "model_config")
        train_config = _dataclass_from(TrainConfig, config.get("train_config", {}), "train_config")
        items_vocab, events_vocab = Vocabulary(tuple(vocab["items"])), Vocabulary(tuple(vocab["event_types"]))
        users = tuple(str(u) for u in vocab["users"])
        expected_fingerprint = config["data"]["fingerprint"]
    except (KeyError, TypeError) as error:
        raise LTSIError(f"{path / 'config.json'} is incomplete: {error} is missing or malformed.") from None
    except LTSIError as error:
        raise LTSIError(f"{path / 'config.json'} holds an invalid setting: {error}") from None

    arrays = _read_tensors(path / "sequences.safetensors")
    needed = [
        *SEQUENCE_ARRAYS,
        "split.train_ends",
        *(f"split.{p}.{n}" for p in ("valid", "test") for n in ("users", "ends", "targets")),
    ]
    absent = [name for name in needed if name not in arrays]
    if absent:
        raise LTSIError(f"{path / 'sequences.safetensors'} lacks {', '.join(absent)}; the run folder is damaged.")
    a = {name: t.numpy() for name, t in arrays.items()}
    odd = [name for name in needed if a[name].ndim != 1 or a[name].dtype != np.int64]
    if odd:
        raise LTSIError(
            f"{path / 'sequences.safetensors'}: {', '.join(odd)} must be flat int64 arrays; the run folder is damaged."
        )
    try:
        seqs = Sequences(
            users=users, items=items_vocab, event_types=events_vocab, **{name: a[name] for name in SEQUENCE_ARRAYS}
        )
    except LTSIError as error:
        raise LTSIError(f"{path / 'sequences.safetensors'} is damaged: {error}") from None
    if fingerprint(seqs) != expected_fingerprint:
        raise LTSIError(
            f"The data in {path} does not match its config.json (fingerprint differs): a file was "
            "changed or comes from another run. Copy the whole folder again."
        )
    split_info = config.get("split", {})
    cutoff = split_info.get("cutoff")
    try:
        split = Split(
            protocol=split_info.get("protocol", "leave-one-out"),
            train_ends=a["split.train_ends"],
            valid=EvalCases(a["split.valid.users"], a["split.valid.ends"], a["split.valid.targets"]),
            test=EvalCases(a["split.test.users"], a["split.test.ends"], a["split.test.targets"]),
            cutoff=None if cutoff is None else pd.Timestamp(cutoff),
        )
    except LTSIError as error:
        raise LTSIError(f"{path / 'sequences.safetensors'}: the stored split is damaged ({error}).") from None
    except (ValueError, TypeError) as error:
        raise LTSIError(f"{path / 'config.json'}: the split's cutoff {cutoff!r} is not a date ({error}).") from None
    if model_config.n_items != len(items_vocab) or model_config.n_event_types != len(events_vocab):
        raise LTSIError(f"{path / 'config.json'}: the model's catalogue size does not match the stored vocabulary.")
    _check_split(path, seqs, split, model_config)

    model = _load_model(model_config, path / "model.safetensors")
    stored = config.get("ablations", {})
    if not isinstance(stored, dict) or not all(isinstance(e, dict) for e in stored.values()):
        raise LTSIError(f'{path / "config.json"} is damaged: its "ablations" are not a set of named entries.')
    ablations = {}
    for name, entry in stored.items():
        if "file" not in entry:  # saved without its weights: its summary (and metrics) only
            continue
        try:
            ablation_config = _model_config(entry.get("model_config", {}), f"ablation {name}")
        except LTSIError as error:
            raise LTSIError(f"{path / 'config.json'} holds an invalid setting: {error}") from None
        file = path / entry["file"]
        if not file.is_file():
            raise LTSIError(f"{path} lists the ablation '{name}' but its weights ({file.name}) are missing.")
        ablations[name] = _load_model(ablation_config, file)

    items = None
    if (path / "items.csv").is_file():
        try:
            items = pd.read_csv(path / "items.csv", dtype={"item_id": str}, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
            raise LTSIError(f"{path / 'items.csv'} cannot be read ({error}).") from None
    metrics = _read_json(path / "metrics.json") if (path / "metrics.json").is_file() else []
    history = pd.DataFrame()
    if (path / "history.csv").is_file():
        try:
            history = pd.read_csv(path / "history.csv")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
            raise LTSIError(f"{path / 'history.csv'} cannot be read ({error}).") from None
    test_ranks = None
    if (path / saved_ranks.FILE).is_file():
        test_ranks = saved_ranks.read_test_ranks(path / saved_ranks.FILE, len(split.test))
    info = {
        "path": str(path),
        "training": config.get("training", {}),
        "data": config["data"],
        "versions": config.get("versions", {}),
        "ablations": {k: {kk: vv for kk, vv in v.items() if kk != "model_config"} for k, v in stored.items()},
    }
    return Run(model, model_config, train_config, seqs, split, items, metrics, history, ablations, info, test_ranks)


def _read_json(file: Path):
    from ltsi.sources import MAX_JSON_BYTES, size_words  # the limit: ltsi.sources.MAX_JSON_BYTES (64 MB)

    limit = MAX_JSON_BYTES
    with open(file, "rb") as handle:
        raw = handle.read(limit + 1)  # never more than the limit, however large the file is
    if len(raw) > limit:
        raise LTSIError(
            f"{file} is larger than {size_words(limit)}; LTSI writes a few kilobytes there, so it is not a file of a "
            "saved run (it was not read)."
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:  # ValueError: bad JSON, or a number of thousands of digits
        raise LTSIError(f"{file} is damaged: it is not valid JSON ({error}).") from None
    except RecursionError:
        raise LTSIError(f"{file} is damaged: it is nested too deeply to be a file of a saved run.") from None


def _read_tensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise LTSIError(f"{file} is damaged or not a safetensors file ({error}).") from None


def _check_manifest(path: Path, config: dict, version: int) -> None:
    """Every file the manifest lists has its recorded size and SHA-256, and every file that loading
    reads is listed. A folder of format 3 or later needs a manifest; older folders (none) load as before."""
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        if version >= 3:
            raise LTSIError(
                f"{path} is an incomplete run folder: {MANIFEST} is missing, so the save was cut short or the "
                "folder was copied in part. Train again or copy the whole folder."
            )
        return
    manifest = _read_json(manifest_file)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(e, dict) and isinstance(e.get("sha256"), str) and isinstance(e.get("size"), int)
        for e in files.values()
    ):
        raise LTSIError(f"{manifest_file} is damaged: it does not list the folder's files with their hashes.")
    mixed = "it was written by another save or cut short. Train again or copy the whole folder."
    for name, entry in files.items():
        file = path / name
        if Path(name).name != name or not file.is_file():
            raise LTSIError(
                f"Incomplete or mixed run folder {path}: {name} is listed in its manifest but missing; {mixed}"
            )
        if file.stat().st_size != entry["size"] or file_digest(file)["sha256"] != entry["sha256"]:
            raise LTSIError(f"Incomplete or mixed run folder {path}: {name} does not match its manifest; {mixed}")
    ablations = config.get("ablations", {})
    read = [*REQUIRED, "metrics.json", "history.csv", "items.csv", saved_ranks.FILE]
    if isinstance(ablations, dict):
        read += [e["file"] for e in ablations.values() if isinstance(e, dict) and isinstance(e.get("file"), str)]
    unlisted = [name for name in read if name not in files and (path / name).exists()]
    if unlisted:
        raise LTSIError(
            f"Incomplete or mixed run folder {path}: {', '.join(unlisted)} "
            f"{'is' if len(unlisted) == 1 else 'are'} not in its manifest; {mixed}"
        )


def _check_split(path: Path, seqs: Sequences, split: Split, config: ModelConfig) -> None:
    """The stored split and sequences index only users, events and items that exist."""
    where = path / "sequences.safetensors"
    lengths = seqs.lengths
    if seqs.n_events and (seqs.gap_ids.min() < 0 or seqs.gap_ids.max() >= config.n_gap_buckets):
        raise LTSIError(f"{where}: gap_ids lie outside 0..{config.n_gap_buckets - 1}; the run folder is damaged.")
    limit = pd.Timestamp.max.value // 1_000_000_000  # seconds: the dates pandas can show (years 1677..2262)
    if seqs.n_events and np.abs(seqs.timestamps).max() > limit:
        raise LTSIError(f"{where}: timestamps lie outside the years 1677..2262; the run folder is damaged.")
    ends = split.train_ends
    if len(ends) != seqs.n_users or (len(ends) and (ends.min() < 0 or np.any(ends > lengths))):
        raise LTSIError(
            f"{where}: split.train_ends must give 0..length training events for each of the {seqs.n_users:,} "
            "users; the run folder is damaged."
        )
    for part in ("valid", "test"):
        cases = getattr(split, part)
        if not len(cases.users):
            continue
        if cases.users.min() < 0 or cases.users.max() >= seqs.n_users:
            raise LTSIError(
                f"{where}: split.{part}.users name users outside 0..{seqs.n_users - 1}; the run folder is damaged."
            )
        if cases.ends.min() < 1 or np.any(cases.ends >= lengths[cases.users]):
            raise LTSIError(
                f"{where}: split.{part}.ends point past the users' events (each must be 1..length - 1); "
                "the run folder is damaged."
            )
        if cases.targets.min() <= 0 or cases.targets.max() >= len(seqs.items):
            raise LTSIError(
                f"{where}: split.{part}.targets are not item ids of the catalogue (1..{len(seqs.items) - 1}); "
                "the run folder is damaged."
            )


def _dataclass_from(cls, values: dict, what: str):
    if not isinstance(values, dict):
        raise LTSIError(f"The stored {what} is not a set of settings ({type(values).__name__}).")
    known = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in values.items() if k in known})
    except TypeError as error:
        raise LTSIError(f"The stored {what} is incomplete ({error}).") from None


def _model_config(values: dict, what: str) -> ModelConfig:
    """A stored model configuration; one without the `transitions` switch predates the counts part."""
    config = _dataclass_from(ModelConfig, values, what)
    if "transitions" not in values:
        config.transitions = False
    return config


def _load_model(config: ModelConfig, file: Path) -> LTSI:
    model = LTSI(config)
    state = _read_tensors(file)
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise LTSIError(f"{file} contains NaN or infinite weights ({key}): training diverged or it is damaged.")
    try:
        if config.transitions:  # the counts' sizes follow the data: set them before the weights go in
            model.set_counts(
                TrainingCounts(
                    config.n_items,
                    state["item_counts"].double().numpy(),
                    state["transition_keys"].numpy(),
                    state["transition_counts"].double().numpy(),
                )
            )
        model.load_state_dict(state, strict=True)
    except KeyError as error:
        raise LTSIError(f"The weights in {file} lack {error}: the file is damaged or is another model's.") from None
    except (RuntimeError, LTSIError) as error:
        first = str(error).splitlines()[0] if str(error) else "shapes or names differ"
        raise LTSIError(f"The weights in {file} do not fit the stored model configuration ({first}).") from None
    return model.eval()

"""Folders written whole or not at all: a manifest of hashes written last, and a rename into place."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def file_digest(file: Path) -> dict:
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "size": file.stat().st_size}


def write_manifest(folder: Path, name: str, tag: str) -> None:
    """fsync every file of `folder`, then write the manifest `name` (their SHA-256 and sizes), fsynced, last."""
    files = {}
    for file in sorted(folder.iterdir()):
        if file.name == name:
            continue
        with open(file, "rb") as fh:
            os.fsync(fh.fileno())
        files[file.name] = file_digest(file)
    with open(folder / name, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"format": tag, "files": files}, indent=1))
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # e.g. a platform without directory handles
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def move_into_place(tmp: Path, path: Path) -> None:
    """Rename the finished `tmp` to `path`; an existing `path` is moved aside first and deleted after."""
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()
    if not path.exists():
        tmp.rename(path)
        fsync_dir(path.parent)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    old.rmdir()  # only the unique name is wanted
    path.rename(old)
    try:
        tmp.rename(path)
    except BaseException:
        old.rename(path)  # put the previous run back
        raise
    fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)


def sweep_unfinished(path: Path, older_than_s: float) -> None:
    """Remove `.NAME.tmp-*` folders beside `path` older than `older_than_s`: saves that were killed mid-way."""
    import time

    cutoff = time.time() - older_than_s
    for leftover in path.parent.glob(f".{path.name}.tmp-*"):
        try:
            if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue

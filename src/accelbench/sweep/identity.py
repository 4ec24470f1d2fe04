"""Stable identities: the hash of one configuration and the key of a whole plan.

A configuration hash covers what decides the measurement: every BenchConfig field that differs
from its default (so that a field added later with a default keeps existing hashes), the model's
bytes for an ONNX file (not its path: a moved file is the same model, an edited one is not), the
bytes of the user's inputs and calibration data the same way (a file, or a folder's data files by
name) and the device id. It never covers the run id, the time or where the plan file lies. 16 hex digits
(64 bits) of SHA-256 over canonical JSON (sorted keys, no spaces).

A plan key covers the sorted configuration hashes and the options that change what a sweep
measures (--rerun, --retry-failed): the same command finds the same unfinished sweep.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from accelbench.precision.user_data import USER_DATA_SUFFIXES
from accelbench.results.records import BenchConfig

HASH_VERSION = 1
HASH_DIGITS = 16


def _digest(payload) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=256)
def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes (read in chunks)."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def data_files(path: str) -> list[Path]:
    """The files of the user's data ``path`` (--inputs, --calibration-data): the file itself, or the
    .npz/.npy files of a folder in name order (what precision.user_data reads)."""
    root = Path(path)
    if not root.is_dir():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in USER_DATA_SUFFIXES)


def data_digest(path: str) -> str:
    """SHA-256 of the user's data at ``path``: a file's bytes, or a folder's data files (name and bytes)."""
    root = Path(path)
    if not root.is_dir():
        return file_digest(str(root))
    return _digest([[p.name, file_digest(str(p))] for p in data_files(path)])


@lru_cache(maxsize=1)
def _default_fields() -> dict:
    return BenchConfig(model="-").to_dict()


def config_hash(config: BenchConfig, device: str) -> str:
    """The stable hash of measuring ``config`` on ``device`` (a device id such as cpu:amd-epyc)."""
    defaults = _default_fields()
    chosen = {k: v for k, v in config.to_dict().items() if k == "model" or v != defaults.get(k)}
    if config.source == "file":
        chosen["model"] = "sha256:" + file_digest(config.model)
    for name in ("inputs", "calibration_data"):
        if chosen.get(name) is not None:
            chosen[name] = "sha256:" + data_digest(chosen[name])
    return _digest({"hash_version": HASH_VERSION, "config": chosen, "device": device})[:HASH_DIGITS]


def plan_key(config_hashes: Iterable[str], *, rerun: bool, retry_failed: bool) -> str:
    """The key of a sweep: its configurations and the options that change what it measures."""
    return _digest({"hash_version": HASH_VERSION, "configs": sorted(set(config_hashes)),
                    "rerun": rerun, "retry_failed": retry_failed})[:HASH_DIGITS]

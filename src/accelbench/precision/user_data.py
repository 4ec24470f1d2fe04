"""The user's own inputs: ``--inputs`` (what the timed runs and the deviation check feed the model)
and ``--calibration-data`` (what INT8 calibrates on). Random data stays the default.

A source is an ``.npz`` file, an ``.npy`` file (a model with one input), or a folder of them (read
in name order; .npy files only for a model with one input). In an .npz, each array is named after
the model input it feeds; a model with one input also takes an .npz holding one array of any name
(``np.savez(path, images)`` writes ``arr_0``). Each array is either

* one input set: exactly the input's shape (e.g. ``1x3x224x224``);
* a stack of sets: one more leading dimension (``Kx1x3x224x224`` = K sets);
* samples to batch: the input's shape with another first (batch) dimension M >= the model's batch
  B (``100x3x224x224`` for a batch-8 model = 12 sets of 8 samples, the last 4 left out).

Every input must get the same number of sets. dtypes must be of the input's kind (a float array for
a float input, an integer array for an integer input) and are cast to the input's exact type
(float64 -> float32); anything else is a one-line UserError naming the field, what the model takes
and what the data has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelbench.errors import UserError
from accelbench.precision.calibration import InputSpec

USER_DATA_SUFFIXES = (".npz", ".npy")


@dataclass(frozen=True)
class InputSets:
    """Input sets read from a user's source, checked against the model: name -> array per set."""

    path: str
    sets: tuple[dict[str, np.ndarray], ...]
    notes: tuple[str, ...] = ()  # casts and left-out samples, in words

    def __len__(self) -> int:
        return len(self.sets)

    def describe(self, field: str) -> str:
        """One line for a record's notes: how many sets from where."""
        return f"{field}: {len(self.sets)} input set(s) from {self.path} (user data)" + (
            f"; {'; '.join(self.notes)}" if self.notes else "")


def _shape(shape) -> str:
    return "x".join(str(d) for d in shape) or "scalar"


def _files(path: Path, field: str, specs: list[InputSpec]) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in USER_DATA_SUFFIXES and p.is_file())
        if not files:
            raise UserError(f"{field}: folder {str(path)!r} holds no .npz or .npy file")
        return files
    if not path.is_file():
        raise UserError(f"{field}: {str(path)!r} is neither a file nor a folder")
    if path.suffix.lower() not in USER_DATA_SUFFIXES:
        raise UserError(f"{field}: {str(path)!r} is not an .npz or .npy file (or a folder of them)")
    return [path]


def _arrays_of(file: Path, field: str, specs: list[InputSpec]) -> dict[str, np.ndarray]:
    """The arrays of one file, keyed by the model input each feeds."""
    names = [s.name for s in specs]
    try:
        if file.suffix.lower() == ".npy":
            if len(specs) != 1:
                raise UserError(f"{field}: {file.name} is an .npy file, which feeds a model with one input; this "
                                f"model has {len(specs)} ({', '.join(names)}): give an .npz with one array per input")
            return {names[0]: np.load(file, allow_pickle=False)}
        with np.load(file, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except UserError:
        raise
    except Exception as exc:  # a truncated or foreign file: say which and why, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{field}: {str(file)!r} cannot be read as numpy data ({first[:160]})") from None
    if len(specs) == 1 and len(data) == 1:
        return {names[0]: next(iter(data.values()))}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise UserError(f"{field}: {file.name} has array(s) {', '.join(map(repr, unknown))} that are not inputs of "
                        f"the model; its inputs: {', '.join(names)}")
    missing = [n for n in names if n not in data]
    if missing:
        raise UserError(f"{field}: {file.name} has no array for input {missing[0]!r}; it has: "
                        f"{', '.join(sorted(data)) or 'nothing'}")
    return data


def _as_kind(array: np.ndarray, spec: InputSpec, field: str, file: str, notes: list[str]) -> np.ndarray:
    want = np.dtype(spec.dtype)
    have = array.dtype
    same_kind = ((np.issubdtype(want, np.floating) and np.issubdtype(have, np.floating))
                 or (np.issubdtype(want, np.integer) and np.issubdtype(have, np.integer))
                 or (want == np.bool_ and (have == np.bool_ or np.issubdtype(have, np.integer))))
    if not same_kind:
        raise UserError(f"{field}: input {spec.name!r} takes {want.name}; {file} has {have.name}")
    if have != want:
        note = f"{spec.name} cast from {have.name} to {want.name}"
        if note not in notes:
            notes.append(note)
        return array.astype(want)
    return array


def _split(array: np.ndarray, spec: InputSpec, field: str, file: str, notes: list[str]) -> list[np.ndarray]:
    """One array -> the sets it holds (module docstring), each exactly ``spec.shape``."""
    shape = tuple(spec.shape)
    if array.shape == shape:
        return [array]
    if array.ndim == len(shape) + 1 and array.shape[1:] == shape:
        return list(array)
    if shape and array.ndim == len(shape) and array.shape[1:] == shape[1:] and array.shape[0] >= shape[0]:
        batch = shape[0]
        count = array.shape[0] // batch
        if array.shape[0] % batch:
            notes.append(f"{spec.name}: the last {array.shape[0] % batch} of {array.shape[0]} samples in {file} "
                         f"do not fill a batch of {batch} and are left out")
        return [array[i * batch:(i + 1) * batch] for i in range(count)]
    raise UserError(f"{field}: input {spec.name!r} is {_shape(shape)}; {file} has {_shape(array.shape)} (give "
                    f"{_shape(shape)}, K sets as Kx{_shape(shape)}, or samples as Nx{_shape(shape[1:]) if shape else ''})")


def load_input_sets(source: str | os.PathLike, specs: list[InputSpec], *, field: str = "inputs") -> InputSets:
    """Every input set in ``source`` (module docstring), checked against the model's ``specs``
    (from precision.calibration.input_specs). ``field`` names the option in messages."""
    path = Path(source)
    sets: list[dict[str, np.ndarray]] = []
    notes: list[str] = []
    for file in _files(path, field, specs):
        arrays = _arrays_of(file, field, specs)
        per_input = {s.name: _split(_as_kind(arrays[s.name], s, field, file.name, notes), s, field, file.name, notes)
                     for s in specs}
        counts = {name: len(parts) for name, parts in per_input.items()}
        if len(set(counts.values())) > 1:
            raise UserError(f"{field}: {file.name} gives the inputs different numbers of sets: "
                            + ", ".join(f"{k} {v}" for k, v in counts.items()))
        count = next(iter(counts.values()), 0)
        sets.extend({name: np.ascontiguousarray(parts[i]) for name, parts in per_input.items()} for i in range(count))
    if not sets:
        raise UserError(f"{field}: {str(path)!r} holds no complete input set")
    return InputSets(str(path), tuple(sets), tuple(notes))

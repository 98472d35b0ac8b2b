"""Train, validation and test: a dataset's own test split, or a seeded split of its examples.

A source that comes with its own split (MNIST's ``train-*``/``t10k-*`` files, a folder with
``train/`` and ``test/`` sub-folders, a catalogue set) returns one :class:`Dataset` holding
both, the training examples first, and marks the test examples in ``extras["test"]``, an
``(N,)`` bool array. Being a per-example extra, the mark follows the examples wherever they
are indexed. The own split wins over ``val_fraction``: the test examples are the validation
set and never train; evaluation compares against them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from genstudio.api import DataError, Dataset, DataSpec

#: The key in :attr:`Dataset.extras` that marks a source's own test examples.
TEST = "test"
#: At most this many examples are held out for validation (the loop moves them to the device).
MAX_VAL_EXAMPLES = 10_000


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, reproducible train/validation split of ``n`` examples (sorted indices)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(round(n * val_fraction), MAX_VAL_EXAMPLES, n - 1) if val_fraction > 0 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def own_test_index(data: Dataset) -> np.ndarray | None:
    """Indices of the source's own test examples, or ``None`` when it has no split of its own."""
    mark = data.extras.get(TEST)
    if mark is None:
        return None
    index = np.flatnonzero(np.asarray(mark, dtype=bool))
    return index if 0 < len(index) < len(data) else None


def dataset_split(data: Dataset, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_index, val_index)``: the source's own split when it has one (its test examples,
    at most :data:`MAX_VAL_EXAMPLES` of them chosen by ``seed``, validate), else
    :func:`split_indices` with ``val_fraction``."""
    test = own_test_index(data)
    if test is None:
        return split_indices(len(data), val_fraction, seed)
    train = np.setdiff1d(np.arange(len(data)), test)
    if len(test) > MAX_VAL_EXAMPLES:
        test = np.sort(np.random.default_rng(seed).choice(test, MAX_VAL_EXAMPLES, replace=False))
    return train, test


def split_counts(data: Dataset) -> tuple[int, int]:
    """``(train, test)`` example counts of the source's own split; ``test`` is 0 without one."""
    test = own_test_index(data)
    n_test = 0 if test is None else len(test)
    return len(data) - n_test, n_test


def join_splits(train: Dataset, test: Dataset, train_name: str, test_name: str) -> Dataset:
    """One dataset of ``train`` then ``test``, the test examples marked as such.

    Both must hold examples of the same kind and shape (the names say which files or
    folders in the message); labels are kept when both have them, class names merged.
    """
    if train.spec.kind != test.spec.kind or train.spec.shape != test.spec.shape:
        raise DataError(
            f"the training data ({train_name}) holds {train.spec.kind}s shaped {_shape(train.spec.shape)} but the "
            f"test data ({test_name}) holds {test.spec.kind}s shaped {_shape(test.spec.shape)}; "
            "both splits must have the same size",
            f"{train_name} and {test_name}",
        )
    x = _concatenate(train.x, test.x)
    warnings = list(train.warnings) + list(test.warnings)
    y, classes = None, None
    if train.y is not None and test.y is not None:
        a, b = train.spec.classes or (), test.spec.classes or ()
        classes = tuple(sorted(set(a) | set(b), key=_class_order))
        where = {c: k for k, c in enumerate(classes)}
        remap = lambda names: np.array([where[c] for c in names], dtype=np.int64)  # noqa: E731
        y = np.concatenate([remap(a)[train.y], remap(b)[test.y]]).astype(np.int64)
    elif (train.y is None) != (test.y is None):
        which = test_name if test.y is None else train_name
        warnings.append(f"{which} has no labels: the data is read without labels")
    spec = train.spec
    lo = min(spec.value_range[0], test.spec.value_range[0])
    hi = max(spec.value_range[1], test.spec.value_range[1])
    joined = DataSpec(spec.kind, spec.shape, len(x), (lo, hi), classes, spec.source, spec.columns, spec.factors)
    mark = np.zeros(len(x), dtype=bool)
    mark[len(train) :] = True
    return Dataset(x, y, joined, warnings, {TEST: mark})


def _concatenate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` then ``b``; two memory maps (data larger than memory, cached) are joined into a
    third map beside the first rather than in memory."""
    dtype = np.result_type(a.dtype, b.dtype)
    files = [_mapped_file(a), _mapped_file(b)]
    if not all(files):
        return np.concatenate([np.asarray(a, dtype=dtype), np.asarray(b, dtype=dtype)])
    first = Path(files[0])
    target = first.with_name(f"{first.stem}+{Path(files[1]).stem}.npy")
    shape = (len(a) + len(b), *a.shape[1:])
    if target.is_file():
        joined = np.load(target, mmap_mode="r")
        if joined.shape == shape and joined.dtype == dtype:
            return joined
    tmp = target.with_name(target.name + ".tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
    for start in range(0, len(a), 4096):
        out[start : start + 4096] = a[start : start + 4096]
    for start in range(0, len(b), 4096):
        out[len(a) + start : len(a) + start + 4096] = b[start : start + 4096]
    out.flush()
    del out
    os.replace(tmp, target)
    return np.load(target, mmap_mode="r")


def _mapped_file(a: np.ndarray | None) -> str | None:
    """The file a memory-mapped array (or a view of one) reads, else ``None``."""
    while a is not None:
        if isinstance(a, np.memmap) and a.filename:
            return a.filename
        a = getattr(a, "base", None)
    return None


def _class_order(name: str) -> tuple[int, float, str]:
    """Numbers numerically (``2`` before ``10``), then names alphabetically."""
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(str(s) for s in shape)

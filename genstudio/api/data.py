"""Describing data: :class:`DataSpec`, :class:`Batch`, :class:`Dataset`, and the base class of
a data source, :class:`DataSource`."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from genstudio.api.params import EmptyConfig

if TYPE_CHECKING:
    import torch

#: The kinds of data GenStudio knows. Images are ``(C, H, W)`` float in [0, 1]; vectors are
#: ``(D,)`` float; tabular rows are ``(D,)`` integer category codes, one per column.
KINDS = ("image", "vector", "tabular")


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its data, without the data.

    JSON-able (:meth:`to_dict`), so runs and checkpoints record it and a model can be rebuilt
    without loading the data again.
    """

    kind: str
    """``"image"``, ``"vector"`` or ``"tabular"``."""
    shape: tuple[int, ...]
    """One example: ``(C, H, W)`` for images, ``(D,)`` for vectors and tabular rows."""
    count: int
    """Number of examples in the whole dataset."""
    value_range: tuple[float, float] = (0.0, 1.0)
    """Smallest and largest value in the data (images: always ``(0.0, 1.0)``)."""
    classes: tuple[str, ...] | None = None
    """Class names when the data has labels; labels are indices into this tuple."""
    source: str = ""
    """The built-in source's name or the file's path."""
    columns: tuple[dict, ...] | None = None
    """Tabular only: one dict per column (``name``, ``type``, ``categories``, ``bin_edges``)."""
    factors: tuple[str, ...] | None = None
    """Names of known generative factors, when the source knows them (``shapes``)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "value_range", (float(self.value_range[0]), float(self.value_range[1])))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(dict(c) for c in self.columns))
        if self.factors is not None:
            object.__setattr__(self, "factors", tuple(self.factors))

    @property
    def dim(self) -> int:
        """Number of values in one example."""
        return math.prod(self.shape)

    @property
    def unit_interval(self) -> bool:
        """Every value lies in [0, 1] (images always): what a Bernoulli likelihood can model."""
        return self.kind == "image" or (self.value_range[0] >= 0.0 and self.value_range[1] <= 1.0)

    @property
    def num_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["shape"] = list(self.shape)
        d["value_range"] = list(self.value_range)
        for key in ("classes", "columns", "factors"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Batch:
    """One training batch, on the training device.

    ``x`` is shaped like the data: images ``(N, C, H, W)`` float32 in [0, 1], vectors
    ``(N, D)`` float32, tabular ``(N, D)`` int64 codes. ``y`` holds class indices ``(N,)``
    int64, or is ``None`` when the data has no labels.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Dataset:
    """Data as a source returns it: arrays in host memory plus their spec.

    ``x`` is ``(N, *spec.shape)``; images are stored as uint8 0..255 (converted to float in
    [0, 1] per batch) or float32 in [0, 1]; vectors as float32; tabular rows as int64 codes.
    """

    x: np.ndarray
    y: np.ndarray | None
    spec: DataSpec
    warnings: list[str] = field(default_factory=list)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-example extras, such as known factors: each ``(N, ...)``."""

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def as_float(self, index: Any = slice(None)) -> np.ndarray:
        """Examples in data space: float32, images in [0, 1]."""
        x = self.x[index]
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255.0)
        return np.asarray(x, dtype=np.float32)


@dataclass
class LoadContext:
    """What a data source may use while loading."""

    cache_dir: Path | None = None
    """A folder in the workspace where a source may cache decoded data, or ``None``."""
    progress: typing.Callable[[int, int], None] | None = None
    """Called as ``progress(done, total)`` during long loads."""

    def report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)


class DataSource:
    """A source of data: a built-in dataset (``digits``) or a file format (IDX, CSV, ...).

    A built-in dataset has ``path_based = False`` and is chosen by its ``name``; a file
    format has ``path_based = True`` and is chosen when :meth:`sniff` recognises a path.
    Options come from the ``Options`` dataclass, declared with :func:`param` like a Config.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    path_based: ClassVar[bool] = False
    Options: ClassVar[type] = EmptyConfig

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """File formats: whether this format reads ``path`` (by its content, not only its name)."""
        return False

    def load(self, options: Any, path: Path | None, context: LoadContext) -> Dataset:
        """Load the data. Raise :class:`DataError` naming the file and the problem."""
        raise NotImplementedError

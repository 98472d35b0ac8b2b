"""The built-in file formats: image folders, IDX (MNIST), NumPy ``.npy``/``.npz`` and CSV.

Each is a :class:`~genstudio.api.DataSource` with ``path_based = True`` that recognises a
path by its content, in a module of its own (:mod:`~genstudio.data.images`,
:mod:`~genstudio.data.idx`, :mod:`~genstudio.data.npy`, :mod:`~genstudio.data.csv_file`).
This module registers them; :func:`~genstudio.data.resolve_source` asks them in
registration order, so CSV, the text fallback, comes last.
"""

from __future__ import annotations

from genstudio.api import Registry, hookimpl
from genstudio.data.csv_file import CsvFile
from genstudio.data.idx import IdxFile, IdxFolder
from genstudio.data.images import ImageFolder
from genstudio.data.npy import NumpyFile

__all__ = ["CsvFile", "IdxFile", "IdxFolder", "ImageFolder", "NumpyFile"]


@hookimpl
def genstudio_register_datasets(registry: Registry) -> None:
    # sniffed in this order: CSV claims any text file, so it goes last
    for cls in (ImageFolder, IdxFile, IdxFolder, NumpyFile, CsvFile):
        registry.add(cls)

"""Data sources and loading (no Qt).

``--data`` takes a built-in source's name (``digits``) or a path; a path is recognised by
what it contains, by asking each file format's ``sniff``. Options are ``KEY=VALUE`` strings
from the command line or typed values from the window, validated against the source's
``Options`` dataclass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genstudio.api import (
    ConfigError,
    DataError,
    Dataset,
    DataSource,
    LoadContext,
    config_from_dict,
    params,
)
from genstudio.data import subset

if TYPE_CHECKING:
    from genstudio.host import PluginHost

__all__ = [
    "check_finite",
    "load_dataset",
    "option_values",
    "parse_options",
    "resolve_source",
]

#: Refuse to decode an image whose header claims more pixels than this (a decompression bomb).
MAX_IMAGE_PIXELS = 8192 * 8192


def named_sources(host: PluginHost) -> list[tuple[str, type[DataSource]]]:
    return [(n, s) for n, s in host.datasets.items() if not s.path_based]


def file_formats(host: PluginHost) -> list[tuple[str, type[DataSource]]]:
    return [(n, s) for n, s in host.datasets.items() if s.path_based]


def resolve_source(host: PluginHost, source: str, fmt: str | None = None) -> tuple[type[DataSource], Path | None]:
    """The source class for a built-in name or a path, and the path (``None`` for built-ins).

    A built-in name wins over a file of the same name in the current folder (write
    ``./digits`` for the file). ``fmt`` forces a file format by name instead of sniffing.
    """
    source = str(source).strip()
    if not source:
        raise ConfigError("no data source given: name a built-in source or a path")
    if source in host.datasets and not host.datasets.get(source).path_based:
        return host.datasets.get(source), None
    path = Path(source).expanduser()
    if not path.exists():
        known = ", ".join(n for n, _ in named_sources(host))
        raise DataError(f"no such file or folder (and not a built-in source; those are: {known})", path)
    path = path.resolve()
    if fmt:
        cls = host.datasets.get(fmt)
        if not cls.path_based:
            raise ConfigError(f"{fmt!r} is a built-in source, not a file format")
        return cls, path
    for _, cls in file_formats(host):
        try:
            if cls.sniff(path):
                return cls, path
        except PermissionError as exc:
            raise DataError(f"cannot read: {exc.strerror}", path) from None
        except OSError:
            continue
    what = "folder" if path.is_dir() else "file"
    formats = ", ".join(s.title or n for n, s in file_formats(host))
    raise DataError(f"this {what} is not in a format GenStudio reads ({formats})", path)


def option_values(source_cls: type[DataSource], options: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    """The options given explicitly, typed and validated: ``KEY=VALUE`` strings (keys may be
    written with ``-`` for ``_``) or a mapping of values or strings."""
    if options is None:
        return {}
    known = {p.name: p for p in params(source_cls.Options)}
    items: Iterable[tuple[str, Any]]
    if isinstance(options, Mapping):
        items = options.items()
    else:
        pairs = []
        for text in options:
            key, sep, value = str(text).partition("=")
            if not sep:
                raise ConfigError(f"data option {text!r} is not KEY=VALUE")
            pairs.append((key.strip().replace("-", "_"), value))
        items = pairs
    values: dict[str, Any] = {}
    for key, value in items:
        if key == subset.OPTION and key not in known:  # the generic label filter (data/subset.py)
            values[key] = str(value)
            continue
        if key not in known:
            allowed = ", ".join(known) or "none"
            raise ConfigError(f"{source_cls.name} has no option {key!r}; its options: {allowed}")
        p = known[key]
        values[key] = p.parse(value) if isinstance(value, str) and p.type is not str else p.validate(value)
    return values


def parse_options(source_cls: type[DataSource], options: Mapping[str, Any] | Iterable[str] | None) -> Any:
    """Build a source's ``Options`` from ``KEY=VALUE`` strings or a mapping of values."""
    values = option_values(source_cls, options)
    if subset.OPTION not in {p.name for p in params(source_cls.Options)}:
        values.pop(subset.OPTION, None)
    return config_from_dict(source_cls.Options, values)


def load_dataset(
    host: PluginHost,
    source: str,
    options: Mapping[str, Any] | Iterable[str] | None = None,
    *,
    cache_dir: Path | None = None,
    progress: Any = None,
    fmt: str | None = None,
) -> Dataset:
    """Resolve ``source``, parse ``options`` and load. Raises :class:`DataError` or
    :class:`ConfigError` with a message for the user; a source that breaks the contract in
    some other way raises :class:`DataError` naming the source."""
    cls, path = resolve_source(host, source, fmt)
    opts = parse_options(cls, options)
    classes = option_values(cls, options).get(subset.OPTION) if not hasattr(opts, subset.OPTION) else None
    context = LoadContext(cache_dir=cache_dir, progress=progress)
    try:
        data = cls().load(opts, path, context)
    except (DataError, ConfigError):
        raise
    except MemoryError:
        raise DataError("not enough memory to load this data", path or source) from None
    except Exception as exc:
        where = path or source
        raise DataError(f"{cls.name} could not load this data: {type(exc).__name__}: {exc}", where) from exc
    _check_dataset(data, where=path or source)
    if classes is not None:
        data = subset.select_classes(data, classes, path or source)
    return data


def check_finite(x: np.ndarray, where: Any) -> None:
    """Refuse NaN or infinite values, naming how many and the first example that has one."""
    if x.dtype.kind != "f":
        return
    finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise DataError(
            f"{len(bad)} example(s) hold NaN or infinite values (the first is example {bad[0]})",
            where,
        )


def _check_dataset(data: Dataset, where: Any) -> None:
    if not isinstance(data, Dataset):
        raise DataError("the source did not return a Dataset", where)
    spec = data.spec
    if len(data) == 0:
        raise DataError("holds no examples", where)
    if tuple(data.x.shape[1:]) != tuple(spec.shape):
        raise DataError(f"examples are shaped {tuple(data.x.shape[1:])} but the spec says {spec.shape}", where)
    if data.y is not None and len(data.y) != len(data.x):
        raise DataError(f"{len(data.y)} labels for {len(data.x)} examples", where)
    check_finite(data.x, where)

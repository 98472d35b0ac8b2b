"""Fetching catalogue files: verified by pooch, resumed by us.

pooch (the fetcher of SciPy and scikit-image) downloads to a temporary name beside the final
one, checks the published hash and only then moves the file into place, so a partial or
corrupt file never sits under the final name. What it lacks is resuming an interrupted
transfer: :class:`ResumingDownloader`, a pooch downloader, keeps the bytes received so far in
``NAME.part`` and asks for the rest with an HTTP ``Range`` request, both when a connection
drops during a download and when the user runs ``data get`` again later.

Mirrors are tried in order; ``GENSTUDIO_DATASETS_MIRROR`` (or the window's setting) replaces
them all with one base URL that holds a folder per dataset (``BASE/mnist/train-images...``),
for users behind a proxy and for tests.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genstudio.api import DataError, GenStudioError

if TYPE_CHECKING:
    from genstudio.data.catalogue import CatalogueEntry, RemoteFile

MIRROR_ENV = "GENSTUDIO_DATASETS_MIRROR"
DIR_ENV = "GENSTUDIO_DATASETS_DIR"
#: Written into a dataset's folder once every file has been verified.
MARKER = ".genstudio-verified.json"
CHUNK = 1 << 16
#: A dropped connection is resumed this many times per mirror before the next mirror is tried.
ATTEMPTS = 4


class DownloadCancelledError(GenStudioError):
    """The user cancelled; the bytes received so far are kept for the next attempt."""


class _MirrorFailedError(Exception):
    """This URL will not serve the file (404, refused, unreachable): try the next mirror."""


@dataclass
class Transfer:
    """What a progress callback receives: one file of a dataset being downloaded."""

    file: str
    done: int
    """Bytes of this dataset received so far (files already here count as received)."""
    total: int
    """Bytes of the whole dataset; 0 when the server did not say."""
    speed: float
    """Bytes per second over the last few seconds."""

    @property
    def eta(self) -> float | None:
        """Seconds left at the current speed, or ``None`` when unknown."""
        if not self.total or self.speed <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.speed)


def datasets_dir() -> Path:
    """Where catalogue sets go by default: ``GENSTUDIO_DATASETS_DIR`` or ``<user data>/datasets``."""
    env = os.environ.get(DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("GenStudio", appauthor=False)) / "datasets"


def _locations_file() -> Path:
    return datasets_dir() / "locations.json"


def recorded_folder(name: str) -> Path:
    """The folder a set was fetched to (``--dir``), else its place in :func:`datasets_dir`."""
    try:
        where = json.loads(_locations_file().read_text()).get(name)
    except (OSError, ValueError, AttributeError):
        where = None
    return Path(where) if where else datasets_dir() / name


def _record_folder(name: str, folder: Path) -> None:
    path = _locations_file()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known[name] = str(folder.resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(known, indent=1))
    os.replace(tmp, path)


def mirror_urls(entry: CatalogueEntry, file: RemoteFile, mirror: str | None = None) -> list[str]:
    """The URLs to try for one file, in order: the override mirror alone, else the entry's."""
    base = (mirror if mirror is not None else os.environ.get(MIRROR_ENV, "")).strip()
    if base:
        return [f"{base.rstrip('/')}/{entry.name}/{file.name}"]
    return [f"{m.rstrip('/')}/{file.name}" for m in entry.mirrors]


class ResumingDownloader:
    """A pooch downloader that resumes: bytes go to ``part`` first; a dropped connection is
    resumed with ``Range: bytes=N-``; the finished file is handed to pooch for the hash check.

    :param progress: ``progress(received_bytes, expected_bytes_or_0)`` for this file.
    :param cancel: set it (from any thread) to stop between chunks; ``.part`` stays.
    """

    def __init__(self, part: Path, progress: Callable[[int, int], None], cancel: threading.Event, timeout: float):
        self.part, self.progress, self.cancel, self.timeout = part, progress, cancel, timeout

    def __call__(self, url: str, output_file: Any, pooch: Any, check_only: bool = False) -> bool | None:
        if check_only:
            return True
        for attempt in range(ATTEMPTS):
            try:
                if self._transfer(url):
                    break
            except (http.client.HTTPException, OSError) as exc:  # dropped mid-transfer: resume from the part
                if attempt == ATTEMPTS - 1:
                    raise _MirrorFailedError(f"the connection kept dropping ({type(exc).__name__}: {exc})") from None
            time.sleep(min(0.2 * 2**attempt, 2.0))
        os.replace(self.part, output_file)
        return None

    def _transfer(self, url: str) -> bool:
        """One request; ``True`` when the file is complete in ``part``."""
        have = self.part.stat().st_size if self.part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "GenStudio", "Accept-Encoding": "identity"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # asked past the end: the part is stale, start over
                self.part.unlink()
                return False
            raise _MirrorFailedError(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise _MirrorFailedError(str(exc.reason)) from None
        with response:
            length = int(response.headers.get("Content-Length") or 0)
            if response.status == 206 and have:
                mode, expected = "ab", have + length if length else 0
            else:  # the server ignores Range: the whole file again
                mode, expected, have = "wb", length, 0
            got = have
            with open(self.part, mode) as f:
                while True:
                    if self.cancel.is_set():
                        raise DownloadCancelledError("the download was cancelled; what was received is kept to resume")
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    got += len(chunk)
                    self.progress(got, expected)
        if expected and got < expected:
            raise http.client.IncompleteRead(b"", expected - got)
        return True


def fetch(
    entry: CatalogueEntry,
    folder: Path | None = None,
    *,
    progress: Callable[[Transfer], None] | None = None,
    cancel: threading.Event | None = None,
    mirror: str | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download and verify every file of ``entry`` into ``folder`` (default: its recorded
    folder); files already there and intact are kept. Returns the folder.

    Raises :class:`DataError` naming the URLs tried and the folder where the files can be
    placed by hand; :class:`DownloadCancelledError` when ``cancel`` is set.
    """
    import pooch

    pooch.get_logger().setLevel(logging.WARNING)  # our own progress bar says it better
    folder = Path(folder).expanduser().resolve() if folder is not None else recorded_folder(entry.name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the folder: {exc.strerror or exc}", folder) from None
    cancel = cancel or threading.Event()
    total = sum(f.size for f in entry.files)
    meter = _Meter()
    base = 0
    for file in entry.files:

        def report(got: int, expected: int, name: str = file.name, start: int = base) -> None:
            if progress is not None:
                progress(Transfer(name, start + got, total, meter.speed(start + got)))

        tried: list[str] = []
        for url in mirror_urls(entry, file, mirror):
            downloader = ResumingDownloader(folder / (file.name + ".part"), report, cancel, timeout)
            try:
                pooch.retrieve(url, file.hash, fname=file.name, path=folder, downloader=downloader)
                break
            except _MirrorFailedError as exc:
                tried.append(f"{url} ({exc})")
            except ValueError as exc:  # pooch: the hash does not match; its temporary file is gone
                tried.append(f"{url} (checksum mismatch, the download was discarded: {_hash_message(exc)})")
        else:
            raise DataError(
                f"could not download {file.name} for {entry.name}. Tried: {'; '.join(tried)}. "
                f"Without a connection, place the files by hand in {folder} "
                f"({', '.join(f.name for f in entry.files)}) and run `genstudio data get {entry.name}` again "
                f"to verify them, or set {MIRROR_ENV} to a mirror",
                folder,
            )
        report(file.size, file.size)  # whether downloaded or already here
        base += file.size
    (folder / MARKER).write_text(json.dumps({f.name: f.hash for f in entry.files}, indent=1))
    if folder != datasets_dir() / entry.name or recorded_folder(entry.name) != folder:
        _record_folder(entry.name, folder)
    return folder


def is_present(entry: CatalogueEntry) -> Path | None:
    """The folder of a fetched and verified set, or ``None``."""
    folder = recorded_folder(entry.name)
    try:
        verified = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if all(verified.get(f.name) == f.hash and (folder / f.name).is_file() for f in entry.files):
        return folder
    return None


def _hash_message(exc: ValueError) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(line.strip() for line in text)[:300]


class _Meter:
    """Bytes per second, smoothed over about two seconds."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.last = (self.t0, 0)
        self.rate = 0.0

    def speed(self, done: int) -> float:
        now = time.monotonic()
        t, d = self.last
        if now - t >= 0.25:
            instant = (done - d) / (now - t)
            self.rate = instant if self.rate == 0 else 0.8 * self.rate + 0.2 * instant
            self.last = (now, done)
        elif self.rate == 0 and now > self.t0:
            return done / max(now - self.t0, 1e-3)
        return self.rate

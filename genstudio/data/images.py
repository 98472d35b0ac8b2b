"""A folder of images as a dataset, decoded in threads and cached in the workspace.

Layout: ``root/<class>/**/*.png`` gives one class per first-level sub-folder (names
sorted); images directly in ``root`` with no sub-folders give unlabelled data. A folder that
has both, or whose images all sit in one sub-folder, is read as unlabelled (a warning says
so when images in the top folder are the reason).

Loading takes two passes over the files, both in a thread pool (Pillow releases the GIL
while it decodes): the first reads headers only (size, colour, EXIF orientation) so that a
decompression bomb is refused before anything is decoded and the target size and colour
mode can be chosen; the second decodes, converts and resizes straight into the output array.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from genstudio.api import DataError, Dataset, DataSource, DataSpec, LoadContext, param
from genstudio.data import MAX_IMAGE_PIXELS
from genstudio.data.splits import join_splits
from genstudio.files import atomic_write

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"})
#: Images smaller than this on a side are skipped unless ``size`` is set (they are icons,
#: thumbnails of nothing, or mistakes; upscaling them to the common size adds only blur).
MIN_SIDE = 4
#: Bump when the cached array's meaning changes, so old caches are not reused.
CACHE_VERSION = 1

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_ROTATED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height
_MAX_LISTED = 5  # file names named in one warning, then "and N more"


def _has_image_magic(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")) or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    )


def _scan(root: Path) -> list[tuple[str, int, int]]:
    """Every image file under ``root``: ``(relative posix path, size, mtime_ns)``, sorted.

    Files are chosen by extension, and hidden files and folders (``.DS_Store``, ``._x.png``
    from macOS, ``.ipynb_checkpoints``) are skipped. This is the only work a cache hit does.
    """
    out: list[tuple[str, int, int]] = []
    st = root.stat()
    seen = {(st.st_dev, st.st_ino)}  # symlinked folders can loop
    stack = [("", str(root))]
    while stack:
        prefix, folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            raise DataError(f"cannot read this folder: {exc.strerror or exc}", folder) from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    st = entry.stat()
                    if (st.st_dev, st.st_ino) not in seen:
                        seen.add((st.st_dev, st.st_ino))
                        stack.append((f"{prefix}{entry.name}/", entry.path))
                elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS and entry.is_file():
                    st = entry.stat()
                    out.append((prefix + entry.name, st.st_size, st.st_mtime_ns))
            except OSError:  # a broken symlink, or a file removed while we look
                continue
    out.sort()
    return out


def _count_files(root: Path, limit: int = 100_000) -> int:
    """Visible files under ``root`` (hidden ones skipped, as :func:`_scan` skips them), up to ``limit``."""
    n = 0
    for _, folders, names in os.walk(root):
        folders[:] = [d for d in folders if not d.startswith(".")]
        n += sum(not name.startswith(".") for name in names)
        if n >= limit:
            break
    return n


# --------------------------------------------------------------------------------------
# Reading one image


@dataclass(frozen=True)
class _Header:
    width: int
    height: int
    """Upright size: after the EXIF orientation is applied."""
    gray: bool
    orientation: int


@dataclass(frozen=True)
class _TooLarge:
    pixels: int
    size: tuple[int, int] | None


def _claimed_size(path: str) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF or BMP header, read without Pillow."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
        if head.startswith(b"\x89PNG") and len(head) >= 24:
            return struct.unpack(">II", head[16:24])
        if head.startswith(b"GIF") and len(head) >= 10:
            return struct.unpack("<HH", head[6:10])
        if head.startswith(b"BM") and len(head) >= 26:
            w, h = struct.unpack("<ii", head[18:26])
            return w, abs(h)
    except (OSError, struct.error):
        pass
    return None


def _reason(exc: BaseException) -> str:
    """Why an image could not be read, in a few words."""
    text = str(exc)
    if "truncated" in text.lower():
        return "truncated"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can read"
    text = re.sub(r"\s+", " ", text).strip() or type(exc).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _is_gray(im: Image.Image) -> bool:
    if im.mode in _GRAY_MODES:
        return True
    if im.mode in ("P", "PA") and im.palette is not None:
        # the palette is read with the header: a grayscale GIF or PNG is often a palette image
        try:
            raw = np.frombuffer(im.palette.palette, np.uint8)
            step = len(im.palette.mode)
            rgb = raw[: len(raw) // step * step].reshape(-1, step)[:, :3]
            return bool((rgb == rgb[:, :1]).all())
        except (ValueError, AttributeError):
            return False
    return False


def _read_header(path: str) -> _Header | _TooLarge | str:
    """What the header says (no pixel is decoded), or why the file cannot be read."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                return _TooLarge(w * h, (w, h))
            orientation = 1
            if im.format in ("JPEG", "MPO"):  # phone photos; reading EXIF elsewhere may decode
                orientation = int(im.getexif().get(0x0112, 1) or 1)
            if orientation in _ROTATED:
                w, h = h, w
            return _Header(w, h, _is_gray(im), orientation)
    except Image.DecompressionBombError as exc:
        # Pillow refuses at open past twice its own limit; it names the pixels, not the size
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = _claimed_size(path)
        return _TooLarge(int(found.group(1)) if found else (size[0] * size[1] if size else 0), size)
    except Exception as exc:  # every broken file is a skipped file, not a failed load
        return _reason(exc)


def _flatten(im: Image.Image, gray: bool) -> tuple[Image.Image, bool]:
    """``im`` as mode L or RGB, transparency composited on white; and whether it had any."""
    if im.mode.startswith("I") or im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if im.mode.startswith("I"):
            a = a / 257.0  # 16-bit samples: 65535 -> 255
        im = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    transparent = False
    if im.mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        transparent = rgba.getchannel("A").getextrema()[0] < 255
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    if im.mode not in ("L", "RGB"):  # 1, P, CMYK, YCbCr, ...: Pillow converts each to RGB
        im = im.convert("RGB")
    target = "L" if gray else "RGB"
    return (im if im.mode == target else im.convert(target)), transparent


def _decode(path: str, header: _Header, size: tuple[int, int], gray: bool, crop: bool) -> tuple[np.ndarray, bool]:
    """One image as ``(C, H, W)`` uint8 at ``size = (W, H)``; and whether it had transparent pixels."""
    out_w, out_h = size
    with Image.open(path) as im:
        if im.format == "JPEG":
            # let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result is downscaled anyway
            side = min(header.width, header.height) if crop else None
            scale = max(out_w, out_h) / side if side else max(out_w / header.width, out_h / header.height)
            if scale < 1:
                w, h = im.size
                im.draft("L" if gray else "RGB", (math.ceil(w * scale), math.ceil(h * scale)))
        if header.orientation not in (0, 1):
            im = ImageOps.exif_transpose(im)
        im, transparent = _flatten(im, gray)
        if crop:
            w, h = im.size
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            im = im.crop((left, top, left + s, top + s))
        if im.size != (out_w, out_h):
            im = im.resize((out_w, out_h), Image.Resampling.LANCZOS)
        a = np.asarray(im)
    return (a[None] if gray else a.transpose(2, 0, 1)), transparent


def _name_some(items: Sequence[str]) -> str:
    text = ", ".join(items[:_MAX_LISTED])
    return text + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


# --------------------------------------------------------------------------------------
# The cache: decoded arrays in the workspace, keyed by what was read and how


class _Cache:
    """``cache_dir/images/<key>.npy`` (the uint8 array) and ``<key>.json`` (the rest).

    The key hashes the folder's absolute path, the options and the listing (each file's
    relative path, size and mtime_ns), so a changed, added or removed file is a miss. The
    first half of the key names the folder and options only: a new entry replaces the older
    entries of the same folder and options instead of piling up beside them.
    """

    def __init__(self, cache_dir: Path, root: Path, options: Any, listing: list[tuple[str, int, int]]):
        self.folder = Path(cache_dir) / "images"
        what = json.dumps([CACHE_VERSION, str(root), asdict(options)], sort_keys=True)
        self.prefix = hashlib.sha256(what.encode()).hexdigest()[:16]
        digest = hashlib.sha256(json.dumps(listing, separators=(",", ":")).encode()).hexdigest()[:24]
        self.key = f"{self.prefix}-{digest}"
        self.array_path = self.folder / f"{self.key}.npy"
        self.meta_path = self.folder / f"{self.key}.json"
        self.root = root

    def load(self) -> Dataset | None:
        """The cached dataset (``x`` memory-mapped, read-only), or ``None`` on a miss."""
        if not self.meta_path.is_file() or not self.array_path.is_file():
            return None
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            x = np.load(self.array_path, mmap_mode="r", allow_pickle=False)
            if list(x.shape) != meta["shape"] or x.dtype != np.uint8:
                return None
            y = None if meta["labels"] is None else np.asarray(meta["labels"], dtype=np.int64)
            spec = DataSpec("image", x.shape[1:], len(x), (0.0, 1.0), meta["classes"], str(self.root))
            return Dataset(x, y, spec, list(meta["warnings"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged entry is a miss
            log.info("ignoring the image cache entry %s: %s", self.array_path, exc)
            return None

    def save(self, data: Dataset, files: list[str]) -> None:
        meta = {
            "version": CACHE_VERSION,
            "source": str(self.root),
            "shape": list(data.x.shape),
            "files": files,
            "labels": None if data.y is None else data.y.tolist(),
            "classes": None if data.spec.classes is None else list(data.spec.classes),
            "warnings": data.warnings,
        }
        # the sidecar is written last: an entry without it is incomplete and never read
        atomic_write(self.array_path, lambda f: np.save(f, np.ascontiguousarray(data.x), allow_pickle=False))
        atomic_write(self.meta_path, lambda f: f.write(json.dumps(meta).encode("utf-8")))
        for old in self.folder.glob(f"{self.prefix}-*"):
            if old.stem != self.key:
                with contextlib.suppress(OSError):  # another process may have it open (Windows)
                    old.unlink()


# --------------------------------------------------------------------------------------
# The source


_WORKERS = min(8, os.cpu_count() or 1)


def _in_pool(pool: ThreadPoolExecutor, fn: Callable[[int], Any], n: int, done: Callable[[int], None]) -> list[Any]:
    """``[fn(i) for i in range(n)]`` in chunks on ``pool``; ``done(k)`` after each chunk."""
    # chunks amortise the per-task overhead, which is most of the cost for 28x28 images
    step = max(1, min(256, n // (4 * _WORKERS)))
    results: list[Any] = [None] * n

    def run(lo: int) -> list[Any]:
        return [fn(i) for i in range(lo, min(lo + step, n))]

    futures = {pool.submit(run, lo): lo for lo in range(0, n, step)}
    try:
        for future in as_completed(futures):
            chunk = future.result()
            lo = futures[future]
            results[lo : lo + len(chunk)] = chunk
            done(len(chunk))
    except BaseException:
        # a progress callback may raise to cancel the load: drop the chunks not yet started
        for future in futures:
            future.cancel()
        raise
    return results


def _decode_all(
    pool: ThreadPoolExecutor,
    paths: list[str],
    headers: list[_Header],
    plan: tuple[tuple[int, int], bool],
    crop: bool,
    done: Callable[[int], None],
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Decode into one ``(N, C, H, W)`` uint8 array; also which images had transparent
    pixels, and why each image failed (``None`` where it did not)."""
    (out_w, out_h), gray = plan
    x = np.empty((len(paths), 1 if gray else 3, out_h, out_w), dtype=np.uint8)
    transparent = np.zeros(len(paths), dtype=bool)

    def one(j: int) -> str | None:
        try:
            x[j], transparent[j] = _decode(paths[j], headers[j], (out_w, out_h), gray, crop)
        except Exception as exc:  # truncated data behind a good header
            return _reason(exc)
        return None

    return x, transparent, _in_pool(pool, one, len(paths), done)


def _split_folders(root: Path) -> tuple[Path, Path] | None:
    """``(root/train, root/test)`` when those two are the folder's only sub-folders: the data's
    own split, each a folder of class folders (any case; ``val`` is not a test split)."""
    subs = {p.name.lower(): p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if set(subs) == {"train", "test"}:
        return subs["train"], subs["test"]
    return None


class ImageFolder(DataSource):
    """A folder of PNG, JPEG, BMP, WebP or GIF images (first frame), searched recursively.

    Returns images ``(N, C, H, W)`` uint8 0..255 with C = 1 (grayscale) or 3 (RGB); with a
    cache, ``x`` is a read-only memory map of the cached array. A folder whose only sub-folders
    are ``train/`` and ``test/`` is read as both, the test images its own test split.
    """

    name = "image-folder"
    title = "Image folder"
    description = "A folder of PNG, JPEG, BMP, WebP or GIF images; its sub-folders are the classes"
    path_based = True

    @dataclass
    class Options:
        size: int = param(
            0, min=0, max=4096, help="Resize every image to size x size pixels; 0 keeps the most common size"
        )
        mode: str = param(
            "auto",
            choices=("auto", "grayscale", "rgb"),
            help="Colour: auto is grayscale when every image is grayscale, else RGB",
        )
        crop: bool = param(False, help="Centre-crop each image to a square before resizing")

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """A folder holding an image (by extension or magic bytes) near the top, or nothing at
        all (no other format reads an empty folder, and "holds no images" says it best)."""
        if not path.is_dir():
            return False
        files = magic_reads = 0
        for folder, subfolders, names in os.walk(path):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            for name in names:
                if name.startswith("."):
                    continue
                files += 1
                if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                    return True
                if magic_reads < 16:
                    magic_reads += 1
                    if _has_image_magic(os.path.join(folder, name)):
                        return True
                if files >= 1000:
                    return False
        return files == 0

    def load(self, options: Any, path: Path | None, context: LoadContext) -> Dataset:
        if path is None or not Path(path).is_dir():
            raise DataError("is not a folder; the image-folder format reads a folder of images", path)
        root = Path(path).resolve()
        split = _split_folders(root)
        if split is not None:
            train, test = (self.load(options, folder, context) for folder in split)
            data = join_splits(train, test, f"{split[0].name}/", f"{split[1].name}/")
            data.spec = dataclasses.replace(data.spec, source=str(root))
            return data
        listing = _scan(root)
        if not listing:
            exts = ", ".join(sorted(IMAGE_EXTENSIONS))
            others = _count_files(root)
            if others:
                # typically images saved without an extension: found by their content, read by name
                raise DataError(
                    f"holds {_plural(others, 'file')}, but none with an image extension: an image folder "
                    f"is read by extension ({exts}), here and in its sub-folders; give the images theirs",
                    root,
                )
            raise DataError(f"holds no images (looked for {exts} files here and in its sub-folders)", root)
        cache = _Cache(context.cache_dir, root, options, listing) if context.cache_dir is not None else None
        if cache is not None:
            cached = cache.load()
            if cached is not None:
                context.report(1, 1)
                return cached
        data, files = self._decode_folder(root, [rel for rel, _, _ in listing], options, context)
        if cache is not None:
            try:
                cache.save(data, files)
            except OSError as exc:
                data.warnings.append(f"could not cache the decoded images in {cache.folder}: {exc.strerror or exc}")
        return data

    def _decode_folder(
        self, root: Path, rels: list[str], options: Any, context: LoadContext
    ) -> tuple[Dataset, list[str]]:
        n = len(rels)
        paths = [str(root / rel) for rel in rels]
        progress = [0]

        def advance(weight: int) -> Callable[[int], None]:
            # headers are cheap next to decoding: count 1 per header, 4 per decoded image
            def done(k: int) -> None:
                progress[0] = min(progress[0] + k * weight, 5 * n)  # a second decode round may overshoot
                context.report(progress[0], 5 * n)

            return done

        def described(i: int, why: str | None = None) -> str:
            h = headers[i]
            return f"{rels[i]} ({why or f'{h.width}x{h.height}'})"

        broken: list[tuple[int, str]] = []
        tiny: list[int] = []
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            headers = _in_pool(pool, lambda i: _read_header(paths[i]), n, advance(1))
            for i, h in enumerate(headers):
                if isinstance(h, _TooLarge):
                    claimed = f"{h.size[0]}x{h.size[1]} = " if h.size else ""
                    raise DataError(
                        f"the image header claims {claimed}{h.pixels:,} pixels, more than the "
                        f"{MAX_IMAGE_PIXELS:,} GenStudio decodes; refusing to decode it (remove or shrink it)",
                        paths[i],
                    )
                if isinstance(h, str):
                    broken.append((i, h))
                elif options.size == 0 and min(h.width, h.height) < MIN_SIDE:
                    tiny.append(i)
            skip = {i for i, _ in broken} | set(tiny)
            good = [i for i in range(n) if i not in skip]
            if not good and tiny and not broken:
                raise DataError(
                    f"every image is smaller than {MIN_SIDE}x{MIN_SIDE} pixels: "
                    f"{_name_some([described(i) for i in tiny])}; set size= to upscale them",
                    root,
                )

            # A header can pass while the data is truncated, so the size and colour chosen
            # from the headers are chosen again from the images that decoded; in the rare
            # case that changes them, the survivors are decoded once more.
            plan: Any = None
            while good:
                wanted = self._plan([headers[i] for i in good], options)
                if wanted == plan:  # what failed changed nothing: x holds the survivors as they are
                    break
                plan = wanted
                x, transparent, reasons = _decode_all(
                    pool, [paths[i] for i in good], [headers[i] for i in good], plan, options.crop, advance(4)
                )
                ok = np.array([why is None for why in reasons])
                broken += [(i, why) for i, why in zip(good, reasons) if why is not None]
                good = [i for i, why in zip(good, reasons) if why is None]
                if ok.all():
                    break
                x, transparent = x[ok], transparent[ok]
        context.report(5 * n, 5 * n)  # skipped images never reached their share
        if not good:
            why = _name_some([described(i, why) for i, why in sorted(broken)] + [described(i) for i in tiny])
            raise DataError(f"none of its {_plural(n, 'image')} could be decoded: {why}", root)

        warnings = self._plan_warnings([headers[i] for i in good], options, plan)
        if broken:
            names = _name_some([described(i, why) for i, why in sorted(broken)])
            warnings.insert(0, f"skipped {len(broken):,} of {_plural(n, 'image')} that could not be decoded: {names}")
        if tiny:
            warnings.append(
                f"skipped {_plural(len(tiny), 'image')} smaller than {MIN_SIDE}x{MIN_SIDE} pixels: "
                f"{_name_some([described(i) for i in tiny])} (set size= to upscale them)"
            )
        if transparent.any():
            warnings.append(
                f"{_plural(int(transparent.sum()), 'image')} had transparent pixels; they were composited "
                "on a white background"
            )
        kept = [rels[i] for i in good]
        y, classes = self._labels(kept, warnings)
        spec = DataSpec("image", x.shape[1:], len(x), (0.0, 1.0), classes, str(root))
        return Dataset(x, y, spec, warnings), kept

    @staticmethod
    def _sizes(headers: list[_Header], crop: bool) -> Counter[tuple[int, int]]:
        return Counter((min(h.width, h.height),) * 2 if crop else (h.width, h.height) for h in headers)

    @classmethod
    def _plan(cls, headers: list[_Header], options: Any) -> tuple[tuple[int, int], bool]:
        """The output ``(width, height)`` and whether it is grayscale."""
        if options.size:
            size = (options.size, options.size)
        else:
            # the most common size; a tie goes to the larger, so that nothing is upscaled for it
            size = max(cls._sizes(headers, options.crop).items(), key=lambda kv: (kv[1], kv[0][0] * kv[0][1]))[0]
        gray = options.mode == "grayscale" or (options.mode == "auto" and all(h.gray for h in headers))
        return size, gray

    @classmethod
    def _plan_warnings(cls, headers: list[_Header], options: Any, plan: Any) -> list[str]:
        (out_w, out_h), gray = plan
        warnings = []
        sizes = cls._sizes(headers, options.crop)
        if not options.size and len(sizes) > 1:
            others = sum(c for s, c in sizes.items() if s != (out_w, out_h))
            found = ", ".join(f"{w}x{h} ({c})" for (w, h), c in sizes.most_common(4))
            warnings.append(
                f"the images have {len(sizes)} different sizes ({found}{', ...' if len(sizes) > 4 else ''}); "
                f"{others:,} of {len(headers):,} were resized to {out_w}x{out_h}, the most common size "
                "(set size= to choose)"
            )
        grays = sum(h.gray for h in headers)
        if options.mode == "auto" and not gray and grays:
            warnings.append(
                f"{_plural(grays, 'grayscale image')} among colour ones were converted to RGB "
                "(set mode=grayscale to read every image as grayscale)"
            )
        return warnings

    @staticmethod
    def _labels(rels: list[str], warnings: list[str]) -> tuple[np.ndarray | None, tuple[str, ...] | None]:
        """Class indices from the first-level sub-folders, or ``(None, None)``."""
        tops = [rel.split("/", 1)[0] if "/" in rel else None for rel in rels]
        in_root = sum(t is None for t in tops)
        classes = sorted({t for t in tops if t is not None})
        if in_root and classes:
            warnings.append(
                f"{_plural(in_root, 'image')} sit directly in the top folder, beside the class sub-folders "
                f"({_name_some(classes)}): all images are read without labels (move them into a sub-folder "
                "to use the sub-folders as classes)"
            )
            return None, None
        if len(classes) < 2:  # one class is no label
            return None, None
        index = {c: k for k, c in enumerate(classes)}
        return np.array([index[t] for t in tops], dtype=np.int64), tuple(classes)

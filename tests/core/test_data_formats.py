"""The built-in file formats: image folders (and their cache), IDX, NumPy and CSV.

Every file is built here, a few bytes each; the real MNIST test set and UCI optdigits come
from the shared data folder beside the repository (the ``shared_data`` fixture).
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genstudio.api import DataError, LoadContext
from genstudio.data import MAX_IMAGE_PIXELS, load_dataset, parse_options, resolve_source
from genstudio.data import images as images_module
from genstudio.data.formats import CsvFile, IdxFile, ImageFolder, NumpyFile
from genstudio.host import create_plugin_manager


@pytest.fixture
def host():
    return create_plugin_manager(builtins=("genstudio.data.formats",), autoload=False)


def load(cls, path, context=None, **options):
    """Load through the class itself, options as the CLI would type them."""
    opts = parse_options(cls, [f"{k}={v}" for k, v in options.items()])
    return cls().load(opts, Path(path), context or LoadContext())


def gradient(offset=0, size=(8, 8)):
    w, h = size
    return ((np.arange(w * h).reshape(h, w) * 3 + offset) % 256).astype(np.uint8)


def save_image(path: Path, array=None, mode=None, **kw) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = gradient() if array is None else array
    Image.fromarray(array, mode).save(path, **kw) if mode else Image.fromarray(array).save(path, **kw)
    return array


def png_claiming(path: Path, width: int, height: int) -> None:
    """A valid PNG header claiming width x height pixels, with a tiny IDAT: never decodable."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    )


def write_truncated_png(path: Path) -> None:
    save_image(path, np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_registers_five_formats_in_sniffing_order(host):
    assert host.datasets.names() == ["image-folder", "idx", "idx-folder", "numpy", "csv"]
    for name in host.datasets.names():
        cls = host.datasets.get(name)
        assert cls.path_based
        assert cls.title
        assert cls.description
        assert host.datasets.owner(name) == "formats"


def test_missing_path_is_a_data_error(host, tmp_path):
    with pytest.raises(DataError, match="no such file") as err:
        load_dataset(host, str(tmp_path / "nowhere.png"))
    assert "nowhere.png" in str(err.value)


# --------------------------------------------------------------------------------------
# Image folder


def test_class_subfolders_become_sorted_labels(host, tmp_path):
    root = tmp_path / "pets"
    arrays = {
        "dog/b.png": save_image(root / "dog" / "b.png", gradient(1)),
        "cat/a.png": save_image(root / "cat" / "a.png", gradient(2)),
        "dog/a.png": save_image(root / "dog" / "a.png", gradient(3)),
        "dog/deeper/c.png": save_image(root / "dog" / "deeper" / "c.png", gradient(4)),
    }
    data = load_dataset(host, str(root), cache_dir=tmp_path / "cache")
    assert data.x.shape == (4, 1, 8, 8)
    assert data.x.dtype == np.uint8
    order = ["cat/a.png", "dog/a.png", "dog/b.png", "dog/deeper/c.png"]
    np.testing.assert_array_equal(data.x[:, 0], np.stack([arrays[k] for k in order]))
    assert data.y.tolist() == [0, 1, 1, 1]
    assert data.y.dtype == np.int64
    assert data.spec.classes == ("cat", "dog")
    assert (data.spec.kind, data.spec.shape, data.spec.count) == ("image", (1, 8, 8), 4)
    assert data.spec.value_range == (0.0, 1.0)
    assert data.spec.source == str(root)
    assert data.warnings == []


def test_images_in_the_root_only_are_unlabelled(tmp_path):
    for k in range(3):
        save_image(tmp_path / f"{k}.png", gradient(k))
    data = load(ImageFolder, tmp_path)
    assert data.y is None
    assert data.spec.classes is None
    assert data.x.shape == (3, 1, 8, 8)


def test_root_images_beside_class_folders_make_everything_unlabelled(tmp_path):
    save_image(tmp_path / "a" / "1.png")
    save_image(tmp_path / "b" / "2.png")
    save_image(tmp_path / "stray.png")
    data = load(ImageFolder, tmp_path)
    assert len(data) == 3
    assert data.y is None
    assert data.spec.classes is None
    assert len(data.warnings) == 1
    assert "top folder" in data.warnings[0]
    assert "without labels" in data.warnings[0]


def test_one_class_folder_is_no_label(tmp_path):
    save_image(tmp_path / "faces" / "1.png")
    save_image(tmp_path / "faces" / "2.png")
    data = load(ImageFolder, tmp_path)
    assert len(data) == 2
    assert data.y is None
    assert data.warnings == []


def test_hidden_files_and_folders_are_ignored(tmp_path):
    save_image(tmp_path / "a.png")
    (tmp_path / ".DS_Store").write_bytes(b"\0\1junk")
    (tmp_path / "._a.png").write_bytes(b"AppleDouble junk")
    save_image(tmp_path / ".ipynb_checkpoints" / "b.png")
    (tmp_path / "notes.txt").write_text("not an image")
    data = load(ImageFolder, tmp_path)
    assert len(data) == 1
    assert data.warnings == []


def test_empty_folder_holds_no_images(host, tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(DataError, match="holds no images") as err:
        load(ImageFolder, tmp_path)
    assert str(tmp_path) in str(err.value)
    with pytest.raises(DataError, match="holds no images"):
        load_dataset(host, str(tmp_path))


def test_folder_with_no_decodable_image(host, tmp_path):
    (tmp_path / "a.png").write_bytes(b"this is not a png")
    write_truncated_png(tmp_path / "b.png")
    with pytest.raises(DataError, match="could be decoded") as err:
        load_dataset(host, str(tmp_path))
    assert "a.png (not an image" in str(err.value)
    assert "b.png (truncated)" in str(err.value)


def test_corrupt_and_truncated_images_are_skipped_with_one_warning(host, tmp_path):
    good = [save_image(tmp_path / f"good{k}.png", gradient(k)) for k in range(4)]
    write_truncated_png(tmp_path / "cut.png")
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    data = load_dataset(host, str(tmp_path), cache_dir=tmp_path.parent / "cache")
    np.testing.assert_array_equal(data.x[:, 0], np.stack(good))
    assert len(data.warnings) == 1
    warning = data.warnings[0]
    assert warning.startswith("skipped 2 of 6 images that could not be decoded")
    assert "cut.png (truncated)" in warning
    assert "junk.jpg" in warning


def test_many_bad_images_are_named_briefly(tmp_path):
    save_image(tmp_path / "ok.png")
    for k in range(8):
        (tmp_path / f"bad{k}.png").write_bytes(b"nope")
    data = load(ImageFolder, tmp_path)
    assert len(data) == 1
    assert len(data.warnings) == 1
    assert "skipped 8 of 9 images" in data.warnings[0]
    assert "bad4.png" in data.warnings[0]
    assert "bad5.png" not in data.warnings[0]
    assert data.warnings[0].endswith("and 3 more")


def test_mixed_sizes_are_resized_to_the_most_common(tmp_path):
    for k in range(3):
        save_image(tmp_path / f"{k}.png", np.full((8, 8), 40 * k, np.uint8))
    save_image(tmp_path / "wide.png", np.full((10, 12), 200, np.uint8))
    data = load(ImageFolder, tmp_path)
    assert data.x.shape == (4, 1, 8, 8)
    assert (data.x[3] == 200).all()  # a constant image stays constant through the resize
    assert len(data.warnings) == 1
    assert "1 of 4 were resized to 8x8" in data.warnings[0]
    assert "12x10" in data.warnings[0]


def test_size_option_resizes_every_image(host, tmp_path):
    save_image(tmp_path / "a.png", np.full((8, 8), 77, np.uint8))
    save_image(tmp_path / "b.png", np.full((6, 10), 99, np.uint8))
    data = load_dataset(host, str(tmp_path), ["size=16"], cache_dir=tmp_path.parent / "cache")
    assert data.x.shape == (2, 1, 16, 16)
    assert data.warnings == []
    assert (data.x[0] == 77).all()
    assert (data.x[1] == 99).all()


def test_crop_takes_the_centre_square(tmp_path):
    image = np.zeros((6, 12), np.uint8)
    image[:, 3:9] = 255
    save_image(tmp_path / "a.png", image)
    assert load(ImageFolder, tmp_path).x.shape == (1, 1, 6, 12)
    cropped = load(ImageFolder, tmp_path, crop="true")
    assert cropped.x.shape == (1, 1, 6, 6)
    assert (cropped.x == 255).all()


def test_mixed_colour_modes_become_rgb_with_transparency_on_white(tmp_path):
    save_image(tmp_path / "gray.png", np.full((4, 4), 100, np.uint8))
    save_image(tmp_path / "rgb.png", np.full((4, 4, 3), (10, 20, 30), np.uint8))
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255  # red, but fully transparent except one opaque pixel
    rgba[0, 0, 3] = 255
    save_image(tmp_path / "rgba.png", rgba, "RGBA")
    palette = Image.fromarray(np.full((4, 4, 3), (0, 0, 250), np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE)
    palette.save(tmp_path / "palette.png")
    data = load(ImageFolder, tmp_path)
    assert data.x.shape == (4, 3, 4, 4)
    by_name = dict(zip(["gray", "palette", "rgb", "rgba"], data.x))
    assert (by_name["gray"] == 100).all()
    assert by_name["rgb"][:, 1, 1].tolist() == [10, 20, 30]
    assert by_name["palette"][:, 1, 1].tolist() == [0, 0, 250]
    assert by_name["rgba"][:, 1, 1].tolist() == [255, 255, 255]  # transparent -> white
    assert by_name["rgba"][:, 0, 0].tolist() == [255, 0, 0]
    assert any("white background" in w for w in data.warnings)
    assert any("1 grayscale image among colour ones" in w for w in data.warnings)


def test_mode_option_and_grayscale_detection(tmp_path):
    save_image(tmp_path / "rgb.png", np.full((4, 4, 3), (10, 20, 30), np.uint8))
    gray = load(ImageFolder, tmp_path, mode="grayscale")
    assert gray.x.shape == (1, 1, 4, 4)
    assert gray.x[0, 0, 0, 0] == 18
    assert load(ImageFolder, tmp_path).x.shape == (1, 3, 4, 4)
    other = tmp_path / "gray"
    save_image(other / "a.png", gradient())
    Image.fromarray(gradient(5)).convert("P").save(other / "b.png")  # a palette of grays
    assert load(ImageFolder, other).x.shape == (2, 1, 8, 8)
    assert load(ImageFolder, other, mode="rgb").x.shape == (2, 3, 8, 8)


def test_other_formats_gif_first_frame_bmp_jpeg_webp(tmp_path):
    frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (50, 200)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    save_image(tmp_path / "b.bmp", np.full((8, 8), 60, np.uint8))
    save_image(tmp_path / "c.jpg", np.full((8, 8), 70, np.uint8), quality=95)
    data = load(ImageFolder, tmp_path)
    assert data.x.shape == (3, 1, 8, 8)
    assert data.warnings == []
    assert (data.x[0] == 50).all()
    assert (data.x[1] == 60).all()
    assert np.abs(data.x[2].astype(int) - 70).max() <= 2
    # WebP has no grayscale mode: Pillow reads it as RGB, so auto reads it as colour
    save_image(tmp_path / "webp" / "d.webp", np.full((8, 8), 80, np.uint8), lossless=True)
    webp = load(ImageFolder, tmp_path / "webp")
    assert webp.x.shape == (1, 3, 8, 8)
    assert (webp.x == 80).all()


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[65535, 25700], [0, 257]], np.uint16)).save(tmp_path / "deep.png")
    assert load(ImageFolder, tmp_path, size="2").x[0, 0].tolist() == [[255, 100], [0, 1]]


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    Image.fromarray(np.zeros((4, 8), np.uint8)).save(tmp_path / "photo.jpg", exif=exif)
    assert load(ImageFolder, tmp_path).x.shape == (1, 1, 8, 4)


def test_tiny_images_are_skipped_unless_size_is_set(tmp_path):
    for k in range(2):
        save_image(tmp_path / f"{k}.png", np.full((8, 8), 10, np.uint8))
    save_image(tmp_path / "dot.png", np.full((1, 1), 250, np.uint8))
    data = load(ImageFolder, tmp_path)
    assert data.x.shape == (2, 1, 8, 8)
    assert data.warnings == ["skipped 1 image smaller than 4x4 pixels: dot.png (1x1) (set size= to upscale them)"]
    sized = load(ImageFolder, tmp_path, size="8")
    assert sized.x.shape == (3, 1, 8, 8)
    assert (sized.x[2] == 250).all()
    assert sized.warnings == []


def test_a_folder_of_only_tiny_images_says_so(tmp_path):
    save_image(tmp_path / "dot.png", np.zeros((1, 1), np.uint8))
    with pytest.raises(DataError, match="smaller than 4x4") as err:
        load(ImageFolder, tmp_path)
    assert "dot.png" in str(err.value)


def test_decompression_bomb_is_refused_before_decoding(host, tmp_path, monkeypatch):
    save_image(tmp_path / "fine.png")
    png_claiming(tmp_path / "huge.png", 20000, 20000)  # past Pillow's own refusal at open

    def never(*args, **kwargs):
        raise AssertionError("decoded an image although the folder holds a bomb")

    monkeypatch.setattr(images_module, "_decode", never)
    with pytest.raises(DataError, match="20000x20000") as err:
        load_dataset(host, str(tmp_path), cache_dir=tmp_path.parent / "cache")
    assert err.value.path.endswith("huge.png")
    assert "400,000,000 pixels" in str(err.value)


def test_image_over_our_limit_but_under_pillows_is_refused(tmp_path):
    side = int(MAX_IMAGE_PIXELS**0.5) + 100  # over 8192x8192, under Pillow's warning
    png_claiming(tmp_path / "big.png", side, side)
    with pytest.raises(DataError, match=f"{side}x{side}") as err:
        load(ImageFolder, tmp_path)
    assert "big.png" in str(err.value)
    assert "refusing" in str(err.value)


def test_progress_is_reported_up_to_the_total(tmp_path):
    for k in range(5):
        save_image(tmp_path / f"{k}.png")
    calls = []
    load(ImageFolder, tmp_path, LoadContext(progress=lambda done, total: calls.append((done, total))))
    done = [d for d, _ in calls]
    assert calls
    assert done == sorted(done)
    assert calls[-1][0] == calls[-1][1] > 0


def test_a_progress_callback_can_cancel_the_load(tmp_path, monkeypatch):
    for k in range(3):
        save_image(tmp_path / f"{k}.png")

    def cancel(done, total):
        raise KeyboardInterrupt

    monkeypatch.setattr(images_module, "_decode", lambda *a: pytest.fail("decoded after the load was cancelled"))
    with pytest.raises(KeyboardInterrupt):
        load(ImageFolder, tmp_path, LoadContext(progress=cancel))


def test_sniff_image_folder(tmp_path):
    assert ImageFolder.sniff(tmp_path)  # empty: nothing else reads it
    save_image(tmp_path / "a" / "x.png")
    assert ImageFolder.sniff(tmp_path)
    assert not ImageFolder.sniff(tmp_path / "a" / "x.png")
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("hello")
    assert not ImageFolder.sniff(texts)
    save_image(texts / "image.dat", format="PNG")  # no image extension: found by its magic bytes
    assert ImageFolder.sniff(texts)


# --------------------------------------------------------------------------------------
# Image folder cache


def cache_files(cache: Path) -> list[str]:
    return sorted(p.suffix for p in (cache / "images").iterdir())


def test_cache_hit_returns_the_same_data_without_decoding(host, tmp_path, monkeypatch):
    root, cache = tmp_path / "data", tmp_path / "cache"
    for k in range(3):
        save_image(root / "a" / f"{k}.png", gradient(k))
        save_image(root / "b" / f"{k}.png", gradient(10 + k))
    write_truncated_png(root / "b" / "cut.png")
    first = load_dataset(host, str(root), ["size=6"], cache_dir=cache)
    assert cache_files(cache) == [".json", ".npy"]

    def never(*args, **kwargs):
        raise AssertionError("decoded on a cache hit")

    monkeypatch.setattr(images_module, "_decode", never)
    monkeypatch.setattr(images_module, "_read_header", never)
    second = load_dataset(host, str(root), ["size=6"], cache_dir=cache)
    np.testing.assert_array_equal(second.x, first.x)
    assert isinstance(second.x, np.memmap)
    assert not second.x.flags.writeable
    assert second.y.tolist() == first.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert second.spec == first.spec
    assert second.warnings == first.warnings
    assert "cut.png (truncated)" in second.warnings[0]


def test_a_changed_file_invalidates_the_cache(host, tmp_path, monkeypatch):
    root, cache = tmp_path / "data", tmp_path / "cache"
    for k in range(3):
        save_image(root / f"{k}.png", np.full((8, 8), k, np.uint8))
    load_dataset(host, str(root), cache_dir=cache)
    decoded = []
    real = images_module._decode
    monkeypatch.setattr(images_module, "_decode", lambda *a: decoded.append(a[0]) or real(*a))

    stat = (root / "1.png").stat()
    os.utime(root / "1.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched
    load_dataset(host, str(root), cache_dir=cache)
    assert len(decoded) == 3
    assert cache_files(cache) == [".json", ".npy"]  # the stale entry was replaced

    save_image(root / "1.png", np.full((8, 8), 123, np.uint8))  # new content
    data = load_dataset(host, str(root), cache_dir=cache)
    assert len(decoded) == 6
    assert (data.x[1] == 123).all()
    load_dataset(host, str(root), cache_dir=cache)
    assert len(decoded) == 6  # unchanged again: a hit


def test_cache_is_per_options_and_a_damaged_entry_is_a_miss(host, tmp_path):
    root, cache = tmp_path / "data", tmp_path / "cache"
    save_image(root / "a.png")
    assert load_dataset(host, str(root), ["size=4"], cache_dir=cache).x.shape == (1, 1, 4, 4)
    assert load_dataset(host, str(root), ["size=5"], cache_dir=cache).x.shape == (1, 1, 5, 5)
    assert cache_files(cache) == [".json", ".json", ".npy", ".npy"]
    for npy in (cache / "images").glob("*.npy"):
        npy.write_bytes(npy.read_bytes()[:20])
    data = load_dataset(host, str(root), ["size=4"], cache_dir=cache)
    assert data.x.shape == (1, 1, 4, 4)
    assert data.x.std() > 0


# --------------------------------------------------------------------------------------
# IDX

_IDX_CODES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D, "float64": 0x0E}


def write_idx(path: Path, array, gz: bool = False) -> Path:
    a = np.asarray(array)
    header = bytes([0, 0, _IDX_CODES[a.dtype.name], a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    data = header + a.astype(a.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize(("images_gz", "labels_gz"), [(False, False), (True, True), (True, False), (False, True)])
def test_idx_images_find_their_labels_beside_them(host, tmp_path, images_gz, labels_gz):
    images = np.random.default_rng(0).integers(0, 256, (4, 5, 6), dtype=np.uint8)
    path = write_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if images_gz else "")), images, images_gz)
    write_idx(tmp_path / ("train-labels-idx1-ubyte" + (".gz" if labels_gz else "")), np.uint8([3, 1, 3, 7]), labels_gz)
    data = load_dataset(host, str(path))
    assert data.x.shape == (4, 1, 5, 6)
    assert data.x.dtype == np.uint8
    np.testing.assert_array_equal(data.x[:, 0], images)
    assert data.y.tolist() == [1, 0, 1, 2]
    assert data.spec.classes == ("1", "3", "7")


def test_idx_without_labels_and_with_the_labels_option(tmp_path):
    path = write_idx(tmp_path / "digits.idx", np.zeros((3, 4, 4), np.uint8))
    assert load(IdxFile, path).y is None
    write_idx(tmp_path / "my-labels.idx", np.int32([0, 1, 0]))
    assert load(IdxFile, path, labels=str(tmp_path / "my-labels.idx")).y.tolist() == [0, 1, 0]
    with pytest.raises(DataError, match="not found") as err:
        load(IdxFile, path, labels=str(tmp_path / "absent.idx"))
    assert "absent.idx" in str(err.value)


def test_idx_two_dimensional_is_vectors(tmp_path):
    values = np.array([[0.5, -2.0], [3.0, 1.0]], np.float32)
    data = load(IdxFile, write_idx(tmp_path / "v.idx", values))
    assert data.spec.kind == "vector"
    assert data.x.dtype == np.float32
    assert data.spec.value_range == (-2.0, 3.0)
    np.testing.assert_array_equal(data.x, values)


def test_idx_other_types_are_read_by_their_range(tmp_path):
    unit = np.linspace(0, 1, 32).reshape(2, 4, 4)
    data = load(IdxFile, write_idx(tmp_path / "f.idx", unit))
    assert data.x.dtype == np.float32
    assert np.allclose(data.x[:, 0], unit)
    data = load(IdxFile, write_idx(tmp_path / "i.idx", np.int16([[[0, 255], [7, 9]]])))
    assert data.x.dtype == np.uint8
    assert data.x[0, 0].tolist() == [[0, 255], [7, 9]]
    assert "divided by 255" in data.warnings[0]
    with pytest.raises(DataError, match="range from -5 to 300") as err:
        load(IdxFile, write_idx(tmp_path / "wide.idx", np.int32([[[-5, 300]]])))
    assert "wide.idx" in str(err.value)


def test_idx_labels_file_is_refused_as_data(host, tmp_path):
    path = write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.uint8([1, 2, 3, 4, 5]))
    with pytest.raises(DataError, match="holds 5 labels, not examples; pass the images file") as err:
        load_dataset(host, str(path))
    assert "t10k-labels-idx1-ubyte" in str(err.value)


def test_idx_wrong_magic_shows_the_bytes(host, tmp_path):
    path = tmp_path / "weird-images-idx3-ubyte"
    path.write_bytes(bytes([0x12, 0x34, 0x56, 0x78]) + bytes(100))
    with pytest.raises(DataError, match="starts with the bytes 12 34 56 78; expected 00 00") as err:
        load(IdxFile, path)
    assert err.value.path == str(path)
    with pytest.raises(DataError, match="12 34 56 78"):
        load_dataset(host, str(path), fmt="idx")


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated_says_expected_and_found_bytes(host, tmp_path, gz):
    full = bytes([0, 0, 8, 3]) + struct.pack(">III", 10, 4, 4) + bytes(100)
    path = tmp_path / ("cut-images-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(full) if gz else full)
    with pytest.raises(DataError, match="truncated") as err:
        load_dataset(host, str(path))
    assert "160 bytes" in str(err.value)
    assert "holds 100" in str(err.value)
    assert path.name in str(err.value)


def test_idx_corrupt_gzip(host, tmp_path):
    data = bytearray(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 4, 4) + bytes(32)))
    data[-8:-4] = b"\0\0\0\0"  # a wrong CRC
    bad_crc = tmp_path / "crc-images-idx3-ubyte.gz"
    bad_crc.write_bytes(bytes(data))
    with pytest.raises(DataError, match="gzip data is corrupt") as err:
        load_dataset(host, str(bad_crc))
    assert bad_crc.name in str(err.value)
    garbage = tmp_path / "garbage.gz"
    garbage.write_bytes(bytes(data[:10]) + b"\xff" * 40)  # a gzip header, then no deflate stream
    with pytest.raises(DataError, match="gzip data is corrupt") as err:
        load_dataset(host, str(garbage))
    assert "garbage.gz" in str(err.value)
    cut = tmp_path / "cut.gz"
    noise = np.random.default_rng(0).integers(0, 256, 3200, dtype=np.uint8).tobytes()
    cut.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">III", 50, 8, 8) + noise)[:600])
    with pytest.raises(DataError, match="gzip data is truncated"):
        load_dataset(host, str(cut))


def test_idx_labels_count_must_match(host, tmp_path):
    path = write_idx(tmp_path / "x-images-idx3-ubyte", np.zeros((4, 2, 2), np.uint8))
    write_idx(tmp_path / "x-labels-idx1-ubyte", np.uint8([0, 1, 2]))
    with pytest.raises(DataError, match="holds 3 labels but x-images-idx3-ubyte holds 4 examples") as err:
        load_dataset(host, str(path))
    assert err.value.path.endswith("x-labels-idx1-ubyte")


def test_idx_sniff(tmp_path):
    assert IdxFile.sniff(write_idx(tmp_path / "a", np.zeros((1, 2, 2), np.uint8)))
    assert IdxFile.sniff(write_idx(tmp_path / "b.gz", np.zeros((1, 2, 2), np.float32), gz=True))
    np.save(tmp_path / "c.npy", np.zeros(3))
    (tmp_path / "d.csv").write_text("1,2\n")
    assert not IdxFile.sniff(tmp_path / "c.npy")
    assert not IdxFile.sniff(tmp_path / "d.csv")
    assert not IdxFile.sniff(tmp_path)
    # a name that says IDX is claimed whatever it holds, so that loading names the problem
    for name in ("e-images-idx3-ubyte", "f.idx1-ubyte.gz", "g.idx3"):
        (tmp_path / name).write_bytes(b"\x12\x34\x56\x78")
        assert IdxFile.sniff(tmp_path / name), name
    (tmp_path / "h-idx3.csv").write_text("1,2\n")
    assert not IdxFile.sniff(tmp_path / "h-idx3.csv")


def test_real_mnist_test_set(host, shared_data):
    data = load_dataset(host, str(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz"))
    assert data.x.shape == (10_000, 1, 28, 28)
    assert data.x.dtype == np.uint8
    assert data.spec.classes == tuple(str(d) for d in range(10))
    assert data.y[:5].tolist() == [7, 2, 1, 0, 4]
    assert data.x.max() == 255


# --------------------------------------------------------------------------------------
# NumPy


def test_npy_three_dimensional_is_one_channel_images(host, tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    np.save(tmp_path / "a.npy", images)
    data = load_dataset(host, str(tmp_path / "a.npy"))
    assert data.x.shape == (3, 1, 5, 7)
    assert data.x.dtype == np.uint8
    assert data.y is None
    np.testing.assert_array_equal(data.x[:, 0], images)


def test_npy_layouts(tmp_path):
    nchw = np.random.default_rng(2).random((2, 3, 5, 6)).astype(np.float32)
    np.save(tmp_path / "nchw.npy", nchw)
    data = load(NumpyFile, tmp_path / "nchw.npy")
    assert data.x.dtype == np.float32
    assert data.warnings == []
    np.testing.assert_array_equal(data.x, nchw)
    nhwc = np.random.default_rng(3).integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    np.save(tmp_path / "nhwc.npy", nhwc)
    np.testing.assert_array_equal(load(NumpyFile, tmp_path / "nhwc.npy").x, nhwc.transpose(0, 3, 1, 2))


def test_npy_ambiguous_layout_asks_for_the_option(tmp_path):
    np.save(tmp_path / "amb.npy", np.zeros((2, 3, 5, 3), np.uint8))
    with pytest.raises(DataError, match=r"ambiguous.*layout=nchw or layout=nhwc") as err:
        load(NumpyFile, tmp_path / "amb.npy")
    assert "amb.npy" in str(err.value)
    assert load(NumpyFile, tmp_path / "amb.npy", layout="nhwc").x.shape == (2, 3, 3, 5)
    assert load(NumpyFile, tmp_path / "amb.npy", layout="nchw").x.shape == (2, 3, 5, 3)
    np.save(tmp_path / "hwc.npy", np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="layout=nchw, but axis 1"):
        load(NumpyFile, tmp_path / "hwc.npy", layout="nchw")


def test_npy_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((1, 2, 2, 4), np.uint8)
    rgba[..., 2] = 200
    rgba[0, 0, 0, 3] = 255  # one opaque blue pixel, the rest transparent
    np.save(tmp_path / "rgba.npy", rgba)
    data = load(NumpyFile, tmp_path / "rgba.npy")
    assert data.x.shape == (1, 3, 2, 2)
    assert data.x[0, :, 0, 0].tolist() == [0, 0, 200]
    assert data.x[0, :, 1, 1].tolist() == [255, 255, 255]
    assert "white background" in data.warnings[0]


def test_npy_two_dimensional_is_vectors(tmp_path):
    np.save(tmp_path / "v.npy", np.array([[1, -4, 2], [0, 9, 3]], np.int64))
    data = load(NumpyFile, tmp_path / "v.npy")
    assert data.spec.kind == "vector"
    assert data.spec.shape == (3,)
    assert data.x.dtype == np.float32
    assert data.spec.value_range == (-4.0, 9.0)
    assert data.x[1].tolist() == [0, 9, 3]


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4, 5, 6), (2, 5, 6, 7)])
def test_npy_wrong_dimensionality(tmp_path, shape):
    np.save(tmp_path / "odd.npy", np.zeros(shape, np.float32))
    with pytest.raises(DataError, match="wrong dimensionality") as err:
        load(NumpyFile, tmp_path / "odd.npy")
    assert "odd.npy" in str(err.value)
    assert "(N,D)" in str(err.value)
    assert "shaped (" + ", ".join(map(str, shape)) + ")" in str(err.value)


def test_npy_value_ranges(tmp_path):
    np.save(tmp_path / "bool.npy", np.array([[[True, False]]]))
    assert load(NumpyFile, tmp_path / "bool.npy").x[0, 0].tolist() == [[255, 0]]
    np.save(tmp_path / "ints.npy", np.array([[[0, 17, 255]]], np.int64))
    data = load(NumpyFile, tmp_path / "ints.npy")
    assert data.x.dtype == np.uint8
    assert data.x[0, 0].tolist() == [[0, 17, 255]]
    assert "divided by 255" in data.warnings[0]
    np.save(tmp_path / "floats.npy", np.array([[[0.0, 127.5, 255.0]]]))
    data = load(NumpyFile, tmp_path / "floats.npy")
    assert data.x.dtype == np.float32
    assert np.allclose(data.x[0, 0], [[0, 0.5, 1]])
    assert data.warnings
    np.save(tmp_path / "signed.npy", np.array([[[-1.0, 1.0]]]))
    with pytest.raises(DataError, match=r"range from -1 to 1; expected floats in \[0, 1\]") as err:
        load(NumpyFile, tmp_path / "signed.npy")
    assert "signed.npy" in str(err.value)


def test_npy_nan_names_the_file(host, tmp_path):
    values = np.zeros((3, 4, 4), np.float32)
    values[1, 2, 2] = np.nan
    np.save(tmp_path / "holes.npy", values)
    with pytest.raises(DataError, match="NaN or infinite") as err:
        load(NumpyFile, tmp_path / "holes.npy")
    assert "holes.npy" in str(err.value)
    assert "example 1" in str(err.value)
    np.save(tmp_path / "inf.npy", np.array([[1.0, np.inf]]))
    with pytest.raises(DataError, match=r"inf.npy: 1 example"):
        load_dataset(host, str(tmp_path / "inf.npy"))


def test_numpy_never_unpickles(host, tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="holds Python objects; GenStudio never unpickles data") as err:
        load_dataset(host, str(tmp_path / "objects.npy"))
    assert "objects.npy" in str(err.value)
    np.savez(tmp_path / "objects.npz", x=np.zeros((2, 3)), y=np.array([1, "a"], dtype=object))
    with pytest.raises(DataError, match="'y': holds Python objects") as err:
        load_dataset(host, str(tmp_path / "objects.npz"))
    assert "objects.npz" in str(err.value)


def test_npz_finds_data_and_labels(host, tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((3, 4, 4), np.uint8), labels=np.array(["dog", "cat", "dog"]))
    data = load_dataset(host, str(tmp_path / "a.npz"))
    assert data.x.shape == (3, 1, 4, 4)
    assert data.y.tolist() == [1, 0, 1]
    assert data.spec.classes == ("cat", "dog")
    np.savez(tmp_path / "b.npz", feats=np.ones((3, 2)), targets=np.array([10, 9, 2]))
    data = load(NumpyFile, tmp_path / "b.npz")
    assert data.spec.kind == "vector"
    assert data.spec.classes == ("2", "9", "10")
    assert data.y.tolist() == [2, 1, 0]
    assert load(NumpyFile, tmp_path / "b.npz", key="feats", label_key="none").y is None


def test_npz_key_options(tmp_path):
    np.savez(tmp_path / "many.npz", train=np.ones((2, 3)), test=np.zeros((4, 3)), lab=np.array([1, 2, 1, 2]))
    with pytest.raises(DataError, match=r"several arrays.*key=NAME") as err:
        load(NumpyFile, tmp_path / "many.npz")
    assert "many.npz" in str(err.value)
    data = load(NumpyFile, tmp_path / "many.npz", key="test", label_key="lab")
    assert data.x.shape == (4, 3)
    assert (data.x == 0).all()
    assert data.y.tolist() == [0, 1, 0, 1]
    with pytest.raises(DataError, match="has no array 'nope' \\(key\\); its arrays: train, test, lab"):
        load(NumpyFile, tmp_path / "many.npz", key="nope")
    with pytest.raises(DataError, match="has no array 'z' \\(label_key\\)"):
        load(NumpyFile, tmp_path / "many.npz", key="test", label_key="z")


def test_npy_labels_option_and_bad_labels(host, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 2), np.float32))
    np.save(tmp_path / "y.npy", np.array([5, 3, 5, 3], np.int16))
    data = load_dataset(host, str(tmp_path / "x.npy"), ["labels=y.npy"])  # found beside the data
    assert data.y.tolist() == [1, 0, 1, 0]
    assert data.spec.classes == ("3", "5")
    np.save(tmp_path / "short.npy", np.array([1, 2, 3]))
    with pytest.raises(DataError, match=r"holds 3 labels but x.npy holds 4 examples") as err:
        load(NumpyFile, tmp_path / "x.npy", labels=str(tmp_path / "short.npy"))
    assert err.value.path.endswith("short.npy")
    np.save(tmp_path / "flat.npy", np.zeros((4, 2), np.int64))
    with pytest.raises(DataError, match=r"labels are shaped \(4, 2\); expected one label per example"):
        load(NumpyFile, tmp_path / "x.npy", labels=str(tmp_path / "flat.npy"))
    np.save(tmp_path / "float.npy", np.array([0.0, 1.0, 0.5, 1.0]))
    with pytest.raises(DataError, match="labels are float64 values; expected integers or strings"):
        load(NumpyFile, tmp_path / "x.npy", labels=str(tmp_path / "float.npy"))


def test_numpy_truncated_corrupt_and_text(host, tmp_path):
    np.save(tmp_path / "full.npy", np.zeros((10, 8, 8), np.uint8))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "full.npy").read_bytes()[:300])
    with pytest.raises(DataError, match="truncated or corrupt") as err:
        load_dataset(host, str(tmp_path / "cut.npy"))
    assert "cut.npy" in str(err.value)
    np.savez(tmp_path / "full.npz", x=np.arange(1000.0).reshape(10, 100))
    raw = bytearray((tmp_path / "full.npz").read_bytes())
    raw[200:400] = b"\0" * 200
    (tmp_path / "broken.npz").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"broken.npz"):
        load(NumpyFile, tmp_path / "broken.npz")
    np.save(tmp_path / "words.npy", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(DataError, match="holds text, not numbers"):
        load(NumpyFile, tmp_path / "words.npy")


def test_numpy_sniff(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(2))
    np.savez(tmp_path / "b.npz", x=np.zeros(2))
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:
        z.writestr("readme.txt", "no arrays here")
    (tmp_path / "renamed.bin").write_bytes((tmp_path / "a.npy").read_bytes())
    assert NumpyFile.sniff(tmp_path / "a.npy")
    assert NumpyFile.sniff(tmp_path / "b.npz")
    assert NumpyFile.sniff(tmp_path / "renamed.bin")  # by content, not by name
    assert not NumpyFile.sniff(tmp_path / "c.zip")
    assert not NumpyFile.sniff(tmp_path)


# --------------------------------------------------------------------------------------
# CSV


def test_csv_header_and_auto_label_column(host, tmp_path):
    (tmp_path / "pets.csv").write_text("weight,height,Label\n1,2,dog\n3.5,4,cat\n5,-6e1,dog\n")
    data = load_dataset(host, str(tmp_path / "pets.csv"))
    assert data.spec.kind == "vector"
    assert data.x.dtype == np.float32
    np.testing.assert_array_equal(data.x, [[1, 2], [3.5, 4], [5, -60]])
    assert data.y.tolist() == [1, 0, 1]
    assert data.spec.classes == ("cat", "dog")
    assert data.spec.value_range == (-60.0, 5.0)
    assert data.spec.count == 3
    assert len(data.warnings) == 1
    assert "'Label'" in data.warnings[0]
    assert "label=none" in data.warnings[0]
    with pytest.raises(DataError, match="column 'Label', line 2: 'dog' is not a number"):
        load(CsvFile, tmp_path / "pets.csv", label="none", kind="vector")  # words cannot be a feature


def test_csv_numeric_labels_sort_numerically(tmp_path):
    (tmp_path / "n.csv").write_text("a,b,class\n0,1,10\n1,1,9\n2,1,2\n3,1,9\n")
    data = load(CsvFile, tmp_path / "n.csv")
    assert data.spec.classes == ("2", "9", "10")
    assert data.y.tolist() == [2, 1, 0, 1]


def test_csv_without_header_and_label_by_index(tmp_path):
    (tmp_path / "t.csv").write_text("1,2,0\n3,4,1\n5,6,0\n")
    plain = load(CsvFile, tmp_path / "t.csv")
    assert plain.x.shape == (3, 3)
    assert plain.y is None
    assert plain.warnings == []
    for label in ("2", "-1"):
        data = load(CsvFile, tmp_path / "t.csv", label=label)
        assert data.x.tolist() == [[1, 2], [3, 4], [5, 6]]
        assert data.y.tolist() == [0, 1, 0]
    with pytest.raises(DataError, match="no column '7'") as err:
        load(CsvFile, tmp_path / "t.csv", label="7")
    assert "t.csv" in str(err.value)


def test_csv_header_option(tmp_path):
    (tmp_path / "h.csv").write_text("1,2\n3,4\n5,6\n")
    assert load(CsvFile, tmp_path / "h.csv", header="yes").x.tolist() == [[3, 4], [5, 6]]
    (tmp_path / "words.csv").write_text("x,y\n3,4\n")
    with pytest.raises(DataError, match="column 0 \\(0-based\\), line 1: 'x' is not a number"):
        load(CsvFile, tmp_path / "words.csv", header="no", kind="vector")


@pytest.mark.parametrize("sep", [";", "\t", "   ", " "])
def test_csv_delimiters(tmp_path, sep):
    (tmp_path / "d.txt").write_text(f"a{sep}b{sep}label\n1{sep}2{sep}x\n3{sep}4{sep}y\n")
    data = load(CsvFile, tmp_path / "d.txt")
    assert data.x.tolist() == [[1, 2], [3, 4]]
    assert data.spec.classes == ("x", "y")


def test_csv_semicolons_with_decimal_commas_quotes_and_comments(tmp_path):
    (tmp_path / "eu.csv").write_text("# measured in 2024\n1,5;2\n\n3;4,25\n")
    assert load(CsvFile, tmp_path / "eu.csv").x.tolist() == [[1.5, 2], [3, 4.25]]
    (tmp_path / "q.csv").write_text('"a","b","label"\n"1","2","big, red"\n"3","4","small"\n')
    data = load(CsvFile, tmp_path / "q.csv")
    assert data.x.tolist() == [[1, 2], [3, 4]]
    assert data.spec.classes == ("big, red", "small")


def test_csv_non_numeric_value_names_column_line_and_value(host, tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(DataError, match="column 'b', line 3: 'oops' is not a number") as err:
        load_dataset(host, str(tmp_path / "bad.csv"), {"kind": "vector"})
    assert "bad.csv" in str(err.value)
    assert "label=b" in str(err.value)


def test_csv_empty_header_only_ragged(host, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty.csv: is empty"):
        load_dataset(host, str(tmp_path / "empty.csv"))
    (tmp_path / "head.csv").write_text("a,b,c\n")
    with pytest.raises(DataError, match=r"head.csv: has a header but no rows"):
        load_dataset(host, str(tmp_path / "head.csv"))
    (tmp_path / "ragged.csv").write_text("1,2\n3,4\n5,6,7\n")
    with pytest.raises(DataError, match=r"ragged.csv: ragged rows: line 3 has 3 fields, expected 2"):
        load_dataset(host, str(tmp_path / "ragged.csv"))


def test_csv_nan_and_empty_label(tmp_path):
    (tmp_path / "nan.csv").write_text("1,2\nnan,4\n")
    with pytest.raises(DataError, match=r"nan.csv: column 0 \(0-based\), line 2: .nan. is NaN or infinite"):
        load(CsvFile, tmp_path / "nan.csv")
    (tmp_path / "nolabel.csv").write_text("a,label\n1,x\n2,\n")
    with pytest.raises(DataError, match="line 3 has an empty label"):
        load(CsvFile, tmp_path / "nolabel.csv")


def test_csv_sniff_claims_text_never_binary(tmp_path):
    (tmp_path / "a.data").write_text("1 2 3\n4 5 6\n")
    (tmp_path / "empty.txt").write_text("")
    assert CsvFile.sniff(tmp_path / "a.data")
    assert CsvFile.sniff(tmp_path / "empty.txt")
    save_image(tmp_path / "i.png")
    np.save(tmp_path / "n.npy", np.zeros(3))
    write_idx(tmp_path / "x.idx", np.zeros((2, 2), np.uint8))
    (tmp_path / "g.gz").write_bytes(gzip.compress(b"1,2\n"))
    (tmp_path / "latin.bin").write_bytes(b"\xc0\xc1\xfe\xff,1\n")
    for name in ("i.png", "n.npy", "x.idx", "g.gz", "latin.bin"):
        assert not CsvFile.sniff(tmp_path / name), name
    assert not CsvFile.sniff(tmp_path)


@pytest.mark.parametrize("label", ["Class", "auto"])
def test_real_optdigits(shared_data, label):
    data = load(CsvFile, shared_data / "optdigits" / "optdigits.tra", label=label)
    assert data.x.shape == (3823, 64)
    assert data.spec.shape == (64,)
    assert data.spec.classes == tuple(str(d) for d in range(10))
    assert data.y[:5].tolist() == [0, 0, 7, 4, 6]
    assert data.spec.value_range == (0.0, 16.0)


# --------------------------------------------------------------------------------------
# Resolution: each file is recognised by its content


def test_each_file_is_recognised_by_its_content(host, tmp_path):
    save_image(tmp_path / "folder" / "a.png")
    write_idx(tmp_path / "idx.bin", np.zeros((2, 2, 2), np.uint8))
    np.save(tmp_path / "arr.npy", np.zeros((2, 2)))
    (tmp_path / "arr.npy").rename(tmp_path / "arr.dat")
    (tmp_path / "table.dat").write_text("1,2\n3,4\n")
    expected = {"folder": ImageFolder, "idx.bin": IdxFile, "arr.dat": NumpyFile, "table.dat": CsvFile}
    for name, cls in expected.items():
        assert resolve_source(host, str(tmp_path / name))[0] is cls, name


def test_file_formats_refuse_a_folder(host, tmp_path):
    for fmt in ("idx", "numpy", "csv"):
        with pytest.raises(DataError, match="is a folder, not a file") as err:
            load_dataset(host, str(tmp_path), fmt=fmt)
        assert err.value.path == str(tmp_path)


def test_npz_labels_of_another_length(tmp_path):
    np.savez(tmp_path / "odd.npz", x=np.zeros((4, 3)), y=np.array([0, 1, 0]))
    with pytest.raises(DataError, match=r"odd\.npz: holds 3 labels for 4 examples"):
        load(NumpyFile, tmp_path / "odd.npz")

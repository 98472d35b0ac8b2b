"""genstudio train under torchrun: two processes on the CPU (Gloo) train as one process
would on their combined batch, and only rank 0 writes the run."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from genstudio.runs.store import RunStore
from genstudio.runs.workspace import Workspace
from genstudio.training import checkpoint as ckpt

TORCHRUN = Path(sys.executable).with_name("torchrun")
GENSTUDIO = Path(sys.executable).with_name("genstudio")
TINY = """
from genstudio.api import hookimpl
from genstudio.testing import TinyImages, TinyModel, TinyVectors

@hookimpl
def genstudio_register_models(registry):
    registry.add(TinyModel)

@hookimpl
def genstudio_register_datasets(registry):
    registry.add(TinyImages)
    registry.add(TinyVectors)
"""

pytestmark = pytest.mark.skipif(
    not (TORCHRUN.exists() and torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="needs torchrun and torch.distributed with Gloo",
)


def workspace(root: Path) -> Path:
    (root / "plugins").mkdir(parents=True)
    (root / "plugins" / "tiny_models.py").write_text(textwrap.dedent(TINY))
    return root


def env() -> dict:
    e = dict(os.environ, OMP_NUM_THREADS="1")
    e.pop("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", None)
    return e


def final_weights(root: Path, run_id: int) -> dict:
    state, _ = ckpt.load_latest(root / "runs" / f"{run_id:05d}" / "checkpoints")
    return dict(state["model"]["module"])


def test_two_processes_train_like_one_on_their_combined_batch(tmp_path):
    common = ["train", "tiny", "--data", "tiny-vectors", "--steps", "40", "--seed", "3", "--val-fraction", "0"]
    root = workspace(tmp_path / "ws")
    # one process, batch 32
    one = subprocess.run([str(GENSTUDIO), *common, "--batch-size", "32", "--workspace", str(root), "--json"],
                         env=env(), capture_output=True, text=True)  # fmt: skip
    assert one.returncode == 0, one.stderr
    # two processes, 16 each: the same 32 examples per step, gradients averaged
    two = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "genstudio", *common,
         "--batch-size", "16", "--workspace", str(root), "--json"],
        env=env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-4000:]
    lines = [json.loads(x) for x in two.stdout.splitlines() if x.startswith("{")]
    assert sum(1 for x in lines if "run" in x and "event" not in x) == 1  # rank 0 alone reports
    store = RunStore(Workspace(root))
    runs = store.list_runs()
    assert len(runs) == 2  # rank 1 recorded nothing
    run = runs[1]
    assert run.status == "finished" and run.step == 40
    assert shlex.split(run.command)[:6] == ["torchrun", "--nproc-per-node", "2", "-m", "genstudio", "train"]
    a, b = final_weights(root, 1), final_weights(root, 2)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert store.count_scalars(2) == 40 * 2  # nll and scale, logged once per step

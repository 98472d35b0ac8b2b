"""``genstudio eval`` and ``genstudio score``: output, exit codes, what is stored, the CSV."""

from __future__ import annotations

import csv
import json
import textwrap

import numpy as np
import pytest
import torch

from genstudio.cli import main
from genstudio.runs.store import RunStore
from genstudio.runs.workspace import Workspace

TINY_DROPIN = """
from genstudio.api import hookimpl
from genstudio.testing import TinyImages, TinyModel, TinyVectors

class Sampler(TinyModel):
    # a family that can only sample: no log_prob, no decode, no encode

    name = "tiny-sampler"
    title = "Tiny without likelihood"
    log_prob = decode = encode = evaluate = None

    def train_step(self, batch):
        loss = -TinyModel.log_prob(self, batch.x).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"nll": loss.detach()}

    def sample(self, n, generator=None):
        import torch

        return TinyModel.decode(self, torch.randn(n, self.spec.dim, generator=generator))

@hookimpl
def genstudio_register_models(registry):
    registry.add(TinyModel)
    registry.add(Sampler)

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


def train(capsys, *args):
    code, _, err = run(capsys, "train", *args, "--steps", "20")
    assert code == 0, err


def test_eval_prints_figures_under_their_extractor_and_stores_them(ws, capsys):
    train(capsys, "tiny", "--data", "tiny-vectors")
    code, out, err = run(capsys, "eval", "1", "-n", "50", "--metrics", "fid,kid,pr,dc,nll,memo")
    assert code == 0, err
    assert "features: raw (raw), not comparable with other extractors' figures:" in out
    assert "without features:" in out and "nll" in out
    assert out.index("fid") < out.index("without features:") < out.index("memo")
    stored = RunStore(Workspace(ws)).metrics(1)
    assert {(r["metric"], r["extractor"], r["n"]) for r in stored if r["key"] in ("fid", "kid")} == {
        ("fid", "raw", 50),
        ("kid", "raw", 50),
    }


def test_eval_json(ws, capsys):
    train(capsys, "tiny", "--data", "tiny-vectors")
    code, out, err = run(capsys, "eval", "1", "-n", "40", "--metrics", "fid,ppl", "--json", "--no-store")
    assert code == 0, err
    report = json.loads(out)
    assert report["run"] == 1 and report["step"] == 20 and report["n"] == 40
    assert report["extractor"] == "raw" and report["extractor_identity"] == "raw"
    assert [(r["metric"], r["extractor"], r["n"]) for r in report["results"]] == [
        ("fid", "raw", 40),
        ("ppl", "raw", 40),
    ]
    assert RunStore(Workspace(ws)).metrics(1) == []  # --no-store


def test_eval_skips_what_the_family_cannot_compute(ws, capsys):
    train(capsys, "tiny-sampler", "--data", "tiny-vectors")
    code, out, err = run(capsys, "eval", "1", "-n", "40", "--metrics", "fid,nll,ppl")
    assert code == 0, err
    assert "skipped: nll: the model has no log_prob()" in out
    assert "skipped: ppl: the model has no decode()" in out
    assert "Traceback" not in out + err
    # nothing computable: exit 2, with the reasons
    code, out, err = run(capsys, "eval", "1", "--metrics", "nll")
    assert code == 2 and "skipped: nll: the model has no log_prob()" in out and "nothing was computed" in out
    # the defaults skip quietly what does not apply
    code, out, _ = run(capsys, "eval", "1", "-n", "30")
    assert code == 0 and "not applicable: nll" in out and "fid" in out


def test_eval_usage_errors_exit_2(ws, capsys):
    train(capsys, "tiny", "--data", "tiny-vectors")
    for args, message in [
        (("--metrics", "fid,bogus"), "unknown metric 'bogus'"),
        (("--extractor", "nope"), "--extractor: unknown 'nope'"),
        (("--extractor", "inception-v3"), "Inception-v3 embeds images, not vector data"),
        (("-n", "1"), "-n must be at least 2"),
    ]:
        code, _, err = run(capsys, "eval", "1", *args)
        assert code == 2 and message in err, (args, err)
        assert "Traceback" not in err
    code, _, err = run(capsys, "eval", "9")
    assert code == 2 and "no run '9'" in err


def test_score_writes_one_row_per_example_in_the_dataset_order(ws, capsys, tmp_path):
    train(capsys, "tiny", "--data", "tiny-vectors")
    out_csv = tmp_path / "scores.csv"
    code, _, err = run(capsys, "score", "1", "--data", "tiny-vectors", "-o", str(out_csv))
    assert code == 0, err
    rows = list(csv.reader(out_csv.open()))
    assert rows[0] == ["index", "log_prob"]  # the tiny family has log_prob but no reconstruct
    assert [int(r[0]) for r in rows[1:]] == list(range(256))
    # the same figures as the model's log_prob on each example, in order
    from genstudio.data import load_dataset
    from genstudio.runs.inference import load_model
    from genstudio.testing import make_host

    host = make_host(ws)
    model = load_model(host, Workspace(ws), 1).model
    data = load_dataset(host, "tiny-vectors")
    expected = model.log_prob(torch.from_numpy(data.x)).detach().double().numpy()
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], expected, rtol=1e-6)


def test_score_with_reconstruct_and_its_errors(ws, capsys, tmp_path):
    code, _, err = run(
        capsys, "train", "vae", "--data", "tiny", "--data-option", "n=40", "--steps", "5", "--hidden", "16"
    )
    assert code == 0, err
    out_csv = tmp_path / "vae.csv"
    code, _, err = run(capsys, "score", "1", "--data", "tiny", "--data-option", "n=40", "-o", str(out_csv))
    assert code == 0, err
    rows = list(csv.DictReader(out_csv.open()))
    assert list(rows[0]) == ["index", "log_prob", "recon_error"] and len(rows) == 40
    assert all(float(r["recon_error"]) >= 0 for r in rows)
    code, _, err = run(capsys, "score", "1", "--data", "tiny", "-o", str(tmp_path / "s.txt"))
    assert code == 2 and "write a .csv" in err
    code, _, err = run(capsys, "score", "1", "--data", "tiny", "--data-option", "size=16", "-o", str(out_csv))
    assert code == 2 and "shaped (1, 16, 16)" in err
    train(capsys, "tiny-sampler", "--data", "tiny")
    code, _, err = run(capsys, "score", "2", "--data", "tiny", "-o", str(out_csv))
    assert code == 2 and "neither log_prob nor reconstruct" in err

"""``genstudio restore``, ``score --anomalous``, ``query``, ``impute``: output, files, exit codes."""

from __future__ import annotations

import csv
import json
import textwrap

import numpy as np
import pytest

from genstudio.cli import main
from tests.apply.asia import NAMES, asia, sample_csv

DROPIN = """
from genstudio.api import hookimpl
from genstudio.testing import TinyImages, TinyModel

@hookimpl
def genstudio_register_models(registry):
    registry.add(TinyModel)

@hookimpl
def genstudio_register_datasets(registry):
    registry.add(TinyImages)
"""


@pytest.fixture
def ws(tmp_path, monkeypatch):
    root = tmp_path / "ws"
    (root / "plugins").mkdir(parents=True)
    (root / "plugins" / "tiny_models.py").write_text(textwrap.dedent(DROPIN))
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(root))
    monkeypatch.delenv("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return root


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def train(capsys, *args):
    code, _, err = run(capsys, "train", *args)
    assert code == 0, err


@pytest.fixture
def bars(ws, capsys, tmp_path):
    """A tiny Gaussian trained on 12x12 bars, and 8 clean examples as .npy."""
    from genstudio.testing import tiny_images

    train(capsys, "tiny", "--data", "tiny", "--data-option", "size=12", "--steps", "150")
    x, _ = tiny_images(96, 12)
    path = tmp_path / "clean.npy"
    np.save(path, x[:8].astype(np.float32) / 255)
    return path


def test_restore_damages_a_clean_input_and_scores_it(bars, capsys, tmp_path):
    out = tmp_path / "restored.npy"
    code, text, err = run(
        capsys, "restore", "1", "--task", "denoise", "--input", bars, "--sigma", "0.3", "--damage", "-o", out, "--json"
    )
    assert code == 0, err
    report = json.loads(text.strip().splitlines()[-1])
    assert report["solver"] == "latent"  # the tiny model decodes; chosen by capability
    # a diagonal Gaussian only shrinks each pixel towards its mean (Wiener): a modest, sure gain
    assert report["psnr_restored"] > report["psnr_damaged"] + 0.5
    assert 0 < report["ssim_damaged"] < 1 and 0 < report["ssim_restored"] < 1
    assert np.load(out).shape == (8, 1, 12, 12)


def test_restore_writes_a_png_of_one_image_in_its_shape(bars, capsys, tmp_path):
    from PIL import Image

    one = tmp_path / "one.npy"
    np.save(one, np.load(bars)[0])
    png = tmp_path / "out.png"
    code, text, err = run(capsys, "restore", "1", "--task", "inpaint", "--input", one, "--box", "2,2,6,6", "-o", png)
    assert code == 0, err
    assert "restored 1 image(s)" in text
    assert Image.open(png).size == (12, 12)
    code, _, err = run(
        capsys,
        "restore",
        "1",
        "--task",
        "superres",
        "--input",
        one,
        "--factor",
        "3",
        "--damage",
        "-n",
        "3",
        "-o",
        tmp_path / "sr.npy",
    )
    assert code == 0, err
    assert np.load(tmp_path / "sr.npy").shape == (3, 1, 12, 12)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "inpaint", "--mask", "MASK"], "the mask is 8x8 pixels; the run's images are 12x12"),
        (["--task", "inpaint", "--box", "10,10,5,5"], "does not fit in the run's 12x12 images"),
        (["--task", "denoise", "--sigma", "0.1", "--input", "WRONG"], "shaped (1, 1, 8, 8); the run takes (1, 12, 12)"),
        (["--task", "superres", "--factor", "5"], "--factor 5 does not divide the run's 12x12 images"),
        (["--task", "denoise"], "denoising needs the noise level"),
        (["--task", "denoise", "--sigma", "0.1", "--input", "MISSING"], "no such file"),
        (["--task", "inpaint", "--box", "1,1,2,2", "--solver", "ddrm"], "solver 'ddrm' does not apply"),
    ],
)
def test_restore_refuses_bad_input_naming_the_problem(bars, capsys, tmp_path, extra, message):
    np.save(tmp_path / "mask.npy", np.ones((8, 8)))
    np.save(tmp_path / "wrong.npy", np.zeros((1, 1, 8, 8), np.float32))
    names = {"MASK": tmp_path / "mask.npy", "WRONG": tmp_path / "wrong.npy", "MISSING": tmp_path / "nope.png"}
    args = [names.get(a, a) for a in extra]
    if "--input" not in args:
        args += ["--input", bars]
    code, _, err = run(capsys, "restore", "1", *args, "-o", tmp_path / "x.npy")
    assert code == 2
    assert message in err and "Traceback" not in err


def test_score_anomalies_roc_auroc_and_csv(ws, capsys, tmp_path):
    sklearn = pytest.importorskip("sklearn.metrics")
    train(capsys, "tiny", "--data", "tiny", "--data-option", "classes=horizontal", "--steps", "150")
    table, roc = tmp_path / "scores.csv", tmp_path / "roc.png"
    code, text, err = run(
        capsys, "score", "1", "--data", "tiny", "--anomalous", "vertical", "--roc", roc, "-o", table, "--json"
    )
    assert code == 0, err
    last = json.loads(text.strip().splitlines()[-1])
    assert last["by"] == "log_prob" and last["n_anomalous"] > 30
    # a Gaussian fitted on horizontal bars finds vertical ones unlikely
    assert last["auroc"] > 0.9
    rows = list(csv.DictReader(table.read_text().splitlines()))
    assert list(rows[0]) == ["index", "label", "anomalous", "score"]
    y = np.array([int(r["anomalous"]) for r in rows])
    s = np.array([float(r["score"]) for r in rows])
    assert set(r["label"] for r in rows if r["anomalous"] == "1") == {"vertical"}
    assert last["auroc"] == pytest.approx(sklearn.roc_auc_score(y, s), abs=1e-12)
    assert last["average_precision"] == pytest.approx(sklearn.average_precision_score(y, s), abs=1e-12)
    assert roc.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, text, err = run(capsys, "score", "1", "--data", "tiny", "--anomalous", "diagonal")
    assert code == 2 and "no label 'diagonal'; its labels: horizontal, vertical" in err
    code, text, err = run(capsys, "score", "1", "--data", "tiny", "--anomalous", "vertical", "--by", "discriminator")
    assert code == 2 and "--by discriminator" in err


@pytest.fixture
def asia_run(ws, capsys, tmp_path):
    path = sample_csv(tmp_path / "asia.csv", 3000)
    train(capsys, "bayesnet", "--data", path, "--data-option", "kind=tabular", "--epochs", "1", "--batch-size", "500")
    return path


def test_query_prints_the_exact_posterior(asia_run, capsys):
    from genstudio.apply.bayes import brute_force, network_of
    from genstudio.runs.inference import load_model
    from genstudio.runs.workspace import Workspace
    from genstudio.testing import make_host

    code, text, err = run(capsys, "query", "1", "lung | smoke=yes, xray=yes", "--json")
    assert code == 0, err
    post = json.loads(text)
    assert set(post) == {"lung"} and set(post["lung"]) == {"yes", "no"}
    ws = Workspace(None)
    model = load_model(make_host(ws.root), ws, 1).model
    net = network_of(model)
    evidence = {
        net.index("smoke"): net.code(net.index("smoke"), "yes"),
        net.index("xray"): net.code(net.index("xray"), "yes"),
    }
    want = brute_force(net, net.index("lung"), evidence)
    assert post["lung"]["yes"] == pytest.approx(want[net.code(net.index("lung"), "yes")], abs=1e-9)
    # learned from 3,000 rows, near the true network's answer
    truth = brute_force(asia(), NAMES.index("lung"), {NAMES.index("smoke"): 0, NAMES.index("xray"): 0})
    assert post["lung"]["yes"] == pytest.approx(truth[0], abs=0.12)
    code, text, err = run(capsys, "query", "1", "lung, bronc | dysp=yes")
    assert code == 0 and "lung" in text and "bronc" in text and "given dysp=yes" in text


def test_the_built_in_asia_table_trains_a_network_that_answers_like_the_true_one(ws, capsys):
    """``--data asia``: rows drawn from the Asia network, no file needed; the learned network's
    posterior is near the true network's (computed by enumerating its joint)."""
    from genstudio.apply.bayes import brute_force

    train(capsys, "bayesnet", "--data", "asia", "--epochs", "1", "--batch-size", "1000")
    code, text, err = run(capsys, "query", "1", "lung | smoke=yes, xray=yes", "--json")
    assert code == 0, err
    truth = brute_force(asia(), NAMES.index("lung"), {NAMES.index("smoke"): 0, NAMES.index("xray"): 0})
    assert json.loads(text)["lung"]["yes"] == pytest.approx(truth[0], abs=0.08)  # 0.49 exactly; prior 0.055


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("cancer | smoke=yes", "no column 'cancer'"),
        ("lung | smoke=often", "column 'smoke' never had the value 'often'; its values: no, yes"),
        ("lung | smoking=yes", "no column 'smoking'"),
    ],
)
def test_query_refuses_bad_questions(asia_run, capsys, query, message):
    code, _, err = run(capsys, "query", "1", query)
    assert code == 2 and message in err and "Traceback" not in err


def test_impute_fills_empty_cells(asia_run, capsys, tmp_path):
    rows = list(csv.reader(asia_run.read_text().splitlines()))[:41]
    holes = tmp_path / "holes.csv"
    for r in rows[1:]:
        r[NAMES.index("lung")] = ""
    rows[1][NAMES.index("either")] = "NA"
    with open(holes, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    filled = tmp_path / "filled.csv"
    code, _, err = run(capsys, "impute", "1", "--data", holes, "-o", filled)
    assert code == 0, err
    assert "filled 41 empty cell(s) of 40 row(s)" in err
    got = list(csv.reader(filled.read_text().splitlines()))
    assert got[0] == NAMES and all(r[NAMES.index("lung")] in ("yes", "no") for r in got[1:])
    original = list(csv.reader(asia_run.read_text().splitlines()))[:41]
    # 'either' is lung OR tub: a row whose either=no must get lung=no
    for r, o in zip(got[1:], original[1:]):
        if o[NAMES.index("either")] == "no" and r is not got[1]:
            assert r[NAMES.index("lung")] == "no"
    code, _, err = run(capsys, "impute", "1", "--data", holes, "-o", tmp_path / "drawn.csv", "--sample")
    assert code == 0, err
    rows[2][NAMES.index("smoke")] = "sometimes"
    with open(holes, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    code, _, err = run(capsys, "impute", "1", "--data", holes, "-o", filled)
    assert code == 2 and "line 3: column 'smoke' never had the value 'sometimes'" in err


def test_edit_writes_a_grid_along_a_label_direction(ws, capsys, tmp_path):
    from PIL import Image

    train(capsys, "tiny", "--data", "tiny", "--steps", "30")
    png = tmp_path / "edit.png"
    code, text, err = run(
        capsys,
        "edit",
        "1",
        "--attribute",
        "label",
        "--from",
        "horizontal",
        "--to",
        "vertical",
        "-o",
        png,
        "-n",
        "3",
        "--json",
    )
    assert code == 0, err
    report = json.loads(text)
    assert report["examples"][0] > 10 and report["norm"] > 0
    assert Image.open(png).size[0] > Image.open(png).size[1]  # 3 rows of 7 steps
    code, _, err = run(capsys, "edit", "1", "--attribute", "scale", "--from", "0.5", "--to", "1", "-o", png)
    assert code == 2 and "no attribute 'scale'; it has: label" in err

"""Quality per CPU-minute: every image family, trained from its defaults for a time budget on
MNIST, scored by the project's MNIST classifier (issue 12).

For each family in ``--families`` (default: vae, gan, rbm, flow, diffusion) this trains with
the family's default config and the trainer's default settings (batch 128, a tenth held out
for validation) on the first 8,000 images of the shared MNIST set for ``--minutes`` of
training, then draws ``--n`` samples (default 1,000; seed 0; metrics at temperature 1) and
reports:

- ``confidence``: the mean top-class probability the classifier gives the samples (bar 0.80);
- ``coverage``: the entropy of the histogram of predicted classes over log 10 (bar 0.85);
- ``fid``: the Fréchet distance between the samples' and the 2,000 held-out test images'
  classifier features, beside ``fid_real``, the same distance for the first ``--n`` real
  training images: the bar is 2.5 x ``fid_real``;
- the likelihood where the family has one (``genstudio eval --metrics nll``: nats per example,
  bits per dimension, and the protocol), on ``--nll-n`` test images;
- ``sample_seconds``: the time to draw the ``--n`` samples; ``steps`` in the budget.

The classifier is the ``classifier`` feature extractor trained on the 8,000 training images
(cached under ``bench/results/.cache``). Grids of 100 samples go to
``bench/results/quality_<family>.png``; the JSON to ``bench/results/quality.json`` (or
``quality_<tag>.json`` with ``--tag``). ``bench/gpu_quality.py`` runs the same on a GPU.

    python bench/quality.py [--families rbm,flow] [--minutes 10] [--n 1000] [--config JSON] [--settings JSON]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench._common import RESULTS, load_mnist, mnist_train_set, write_result  # noqa: E402

FAMILIES = ("vae", "gan", "rbm", "flow", "diffusion")
CACHE = RESULTS / ".cache"
BARS = {"confidence": 0.80, "coverage": 0.85, "fid_ratio": 2.5}


def classifier_extractor(device: str = "cpu"):
    """The project's ``classifier`` extractor trained on the first 8,000 images (cached)."""
    from genstudio.api import Dataset, DataSpec, LoadContext
    from genstudio.metrics.extractors import ClassifierExtractor

    x_train, y_train, x_test, y_test = load_mnist()
    x = np.concatenate([x_train, x_test])
    spec = DataSpec("image", (1, 28, 28), len(x), classes=tuple("0123456789"), source="mnist-10k")
    extractor = ClassifierExtractor(spec, device, LoadContext(cache_dir=CACHE))
    extractor.prepare(Dataset(x, np.concatenate([y_train, y_test]), spec), np.arange(8000))
    return extractor


class Scorer:
    """The project's MNIST classifier and the real images' feature statistics."""

    def __init__(self, n: int, device: str = "cpu"):
        from genstudio.metrics.core import feature_statistics

        x_train, _, x_test, _ = load_mnist()
        self.extractor = classifier_extractor(device)
        self.test_stats = feature_statistics(self.features(x_test))
        self.n = n
        real = self.score(x_train[:n])
        self.fid_real = real["fid"]
        self.real = real

    @torch.no_grad()
    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feats, logits = [], []
        for start in range(0, len(x), 500):
            f, lg = self.extractor.features_and_logits(x[start : start + 500])
            feats.append(f.double().cpu().numpy())
            logits.append(lg.double().cpu().numpy())
        return np.concatenate(feats), np.concatenate(logits)

    def features(self, x: np.ndarray) -> np.ndarray:
        return self._run(x)[0]

    def score(self, x: np.ndarray) -> dict:
        """Confidence, coverage and FID of images ``x`` (N, 1, 28, 28), uint8 or float in [0, 1]."""
        from genstudio.metrics.core import feature_statistics, frechet_distance

        feats, logits = self._run(x)
        p = torch.softmax(torch.from_numpy(logits), 1).numpy()
        hist = np.bincount(p.argmax(1), minlength=10) / len(p)
        entropy = -sum((h * math.log(h) for h in hist if h > 0), 0.0) + 0.0
        fid = frechet_distance(*feature_statistics(feats), *self.test_stats)
        return {
            "confidence": float(p.max(1).mean()),
            "coverage": float(entropy / math.log(10)),
            "class_histogram": [round(float(h), 3) for h in hist],
            "fid": float(fid),
        }


def verdict(scores: dict, fid_real: float) -> dict:
    ratio = scores["fid"] / fid_real
    return {
        "fid_ratio": ratio,
        "passes": bool(
            scores["confidence"] >= BARS["confidence"]
            and scores["coverage"] >= BARS["coverage"]
            and ratio <= BARS["fid_ratio"]
        ),
    }


def likelihood(model, n: int) -> dict | None:
    """``genstudio eval --metrics nll`` on the first ``n`` held-out test images: nats, bits/dim, protocol."""
    from genstudio.api import Dataset, DataSpec, capabilities
    from genstudio.host import create_plugin_manager
    from genstudio.metrics.evaluate import evaluate_model

    if "log_prob" not in capabilities(model):
        return None
    x_train, y_train, x_test, y_test = load_mnist()
    x = np.concatenate([x_train, x_test[:n]])
    spec = DataSpec("image", (1, 28, 28), len(x), classes=tuple("0123456789"), source="mnist")
    data = Dataset(x, np.concatenate([y_train, y_test[:n]]), spec)
    t0 = time.perf_counter()
    report = evaluate_model(
        create_plugin_manager(autoload=False),
        model,
        data,
        metrics=["nll"],
        n=n,
        train_index=np.arange(8000),
        val_index=np.arange(8000, len(x)),
        cache_dir=CACHE,
        seed=0,
    )
    (result,) = report.results
    return {
        **{k: float(v) for k, v in result.values.items()},
        "details": result.details,
        "n": n,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def train_minutes(family: str, minutes: float, config: dict | None = None, data=None, **settings) -> tuple:
    """``genstudio train FAMILY --data mnist-8000 --minutes M``: the family's defaults and
    the trainer's default settings; the run ends by itself at its budget. ``data``: another
    dataset than the first 8,000 MNIST images."""
    import tempfile

    from genstudio.host import create_plugin_manager
    from genstudio.runs.trainer import Trainer
    from genstudio.runs.workspace import Workspace
    from genstudio.training.settings import TrainSettings

    host = create_plugin_manager(autoload=False)
    workspace = Workspace(Path(tempfile.mkdtemp(prefix="genstudio-quality-")) / "workspace")
    trainer = Trainer.new(
        host,
        workspace,
        family,
        mnist_train_set() if data is None else data,
        config=config or {},
        settings=TrainSettings(minutes=minutes, **settings),
    )
    t0, warnings, status = None, [], None
    for event in trainer.events():
        if event.type == "started":
            t0 = time.perf_counter()
        elif event.type == "warning":
            warnings.append(event.message)
        elif event.type == "failed":
            raise RuntimeError(f"{family}: training failed: {event.message}")
        elif event.type == "finished":
            status = getattr(event, "status", "finished")
    seconds = time.perf_counter() - (t0 or time.perf_counter())
    run = {
        "steps": trainer.step,
        "train_seconds": round(seconds, 1),
        "steps_per_second": round(trainer.step / max(seconds, 1e-9), 2),
        "status": status,
        "warnings": warnings,
        "torch_threads": torch.get_num_threads(),
        # for bench/restore.py --run RUN --workspace DIR
        "run": trainer.run.id,
        "workspace": str(workspace.root),
    }
    return trainer, run


def run_family(family: str, scorer: Scorer, minutes: float, args, **settings) -> dict:
    from genstudio.metrics.context import accepts_temperature

    print(f"== {family}: {minutes} min", flush=True)
    trainer, run = train_minutes(family, minutes, config=json.loads(args.config), **settings)
    model = trainer.model.eval()
    t0 = time.perf_counter()
    # metrics at temperature 1 (a family's pictures may default to a lower one: the flow's 0.7)
    unit = {"temperature": 1.0} if accepts_temperature(model.sample) else {}
    with torch.no_grad():
        samples = model.sample(args.n, generator=torch.Generator(model.device).manual_seed(args.seed), **unit)
    sample_seconds = time.perf_counter() - t0
    samples = samples.float().cpu().numpy()
    bad = ~np.isfinite(samples.reshape(len(samples), -1)).all(1)
    out = {
        "config": _config(model),
        **run,
        "sample_seconds": round(sample_seconds, 1),
        "non_finite_samples": int(bad.sum()),
    }
    samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=0.0).clip(0, 1)
    scores = scorer.score(samples)
    out |= scores | verdict(scores, scorer.fid_real)
    from genstudio.data.grid import make_grid, save_png

    grid = RESULTS / f"{args.name}_{args.tag + '_' if args.tag else ''}{family}.png"
    save_png(grid, make_grid(samples[:100], nrow=10), scale=2)
    out["grid"] = str(grid.relative_to(ROOT))
    if family == "flow":  # pictures at a lower temperature (Kingma and Dhariwal 2018, section 5.4)
        with torch.no_grad():
            cold = model.sample(args.n, torch.Generator(model.device).manual_seed(args.seed), temperature=0.7)
        cold = np.nan_to_num(cold.float().cpu().numpy(), nan=0.0).clip(0, 1)
        path = grid.with_name(grid.stem + "_t07.png")
        save_png(path, make_grid(cold[:100], nrow=10), scale=2)
        out["at_temperature_0.7"] = {"grid": str(path.relative_to(ROOT)), **scorer.score(cold)}
    if family == "rbm":  # the same model sampled by parallel tempering (Desjardins et al. 2010)
        saved = (model.ladder, model.config.gibbs_steps)
        model.ladder, model.config.gibbs_steps = 10, 200
        t1 = time.perf_counter()
        with torch.no_grad():
            pt = model.sample(args.n, torch.Generator(model.device).manual_seed(args.seed))
        pt_s = time.perf_counter() - t1
        model.ladder, model.config.gibbs_steps = saved
        pt = pt.float().cpu().numpy()
        path = grid.with_name(grid.stem + "_pt.png")
        save_png(path, make_grid(pt[:100], nrow=10), scale=2)
        scores = scorer.score(pt)
        out["parallel_tempering_sampling"] = {
            "temperatures": 10,
            "gibbs_steps": 200,
            "sample_seconds": round(pt_s, 1),
            "grid": str(path.relative_to(ROOT)),
            **scores,
            **verdict(scores, scorer.fid_real),
        }
    if family == "diffusion":  # fewer sampler steps, evenly or quadratically spread
        out["samplers"] = {}
        for steps, spacing in ((25, "uniform"), (25, "quadratic"), (15, "quadratic")):
            cfg = model.config
            saved = (cfg.sample_steps, cfg.spacing)
            cfg.sample_steps, cfg.spacing = steps, spacing
            t1 = time.perf_counter()
            with torch.no_grad():
                alt = model.sample(args.n, torch.Generator(model.device).manual_seed(args.seed))
            alt_s = time.perf_counter() - t1
            cfg.sample_steps, cfg.spacing = saved
            alt = alt.float().cpu().numpy()
            scores = scorer.score(alt)
            out["samplers"][f"{steps} {spacing}"] = {
                "sample_seconds": round(alt_s, 1),
                **scores,
                **verdict(scores, scorer.fid_real),
            }
    if not args.no_nll:
        out["likelihood"] = likelihood(model, args.nll_n)
    print({k: v for k, v in out.items() if k not in ("config", "warnings")}, flush=True)
    return out


def _config(model) -> dict:
    from genstudio.api import config_to_dict

    return config_to_dict(model.config)


def main(argv: list[str] | None = None, name: str = "quality", device: str = "cpu", minutes: float = 10.0) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated families (default: all five)")
    ap.add_argument("--minutes", type=float, default=minutes, help=f"training budget per family (default {minutes:g})")
    ap.add_argument("--n", type=int, default=1000, help="samples scored per family (default 1,000)")
    ap.add_argument("--nll-n", type=int, default=500, help="held-out images for the likelihood (default 500)")
    ap.add_argument("--no-nll", action="store_true", help="skip the likelihoods")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default="{}", help="JSON of config overrides for every family, e.g. '{\"width\": 32}'")
    ap.add_argument(
        "--settings", default="{}", help="JSON of training settings for every family, e.g. '{\"batch_size\": 64}'"
    )
    ap.add_argument("--tag", default="", help="suffix of the result files (quality_<tag>.json)")
    args = ap.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        ap.error(f"unknown families: {', '.join(unknown)} (choose from {', '.join(FAMILIES)})")
    args.name = name
    scorer = Scorer(args.n, device)
    results = {}
    for family in families:
        settings = {"device": device, "seed": args.seed, **json.loads(args.settings)}
        try:
            results[family] = run_family(family, scorer, args.minutes, args, **settings)
        except Exception as exc:  # one family's failure is a figure; the others still run
            traceback.print_exc()
            results[family] = {"error": f"{type(exc).__name__}: {exc}"}
        # after every family, so that a run cut short keeps what it measured
        write_result(
            f"{name}_{args.tag}" if args.tag else name,
            {
                "data": "MNIST: first 8,000 images of the shared set to train (a tenth held out), last 2,000 to test",
                "minutes": args.minutes,
                "device": device,
                "n": args.n,
                "settings": json.loads(args.settings),
                "bars": BARS,
                "fid_real": scorer.fid_real,
                "real_training_images": scorer.real,
                "fid_note": "classifier features (GenStudio's MNIST classifier); comparable within this file only",
                "families": results,
            },
            quiet=family != families[-1],
        )


if __name__ == "__main__":
    main()

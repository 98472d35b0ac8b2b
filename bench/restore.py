"""Restoration on MNIST: denoising against non-local means, inpainting scored by a classifier.

On the last ``--n`` (default 2,000) images of the shared MNIST set (the test split), with one
run's model (``--run ID --workspace DIR``, such as bench/quality.py's 10-minute checkpoints)
or a model trained here for ``--minutes`` on the first 8,000 images:

- **denoising** at sigma = 0.3: PSNR of the noisy input (clipped to [0, 1]), of non-local
  means (scikit-image's ``denoise_nl_means``, Buades et al. 2005, told the true sigma; the
  classical baseline) and of the model's restoration (the solver GenStudio picks for it);
- **inpainting** of the central 12x12 square: the accuracy with which the project's
  ``classifier`` extractor (trained on the first 8,000 images) labels the restored digits,
  beside its accuracy on the damaged digits (the square left black) and on the clean ones.

Targets (issue 16): diffusion >= 2 dB above non-local means; >= 80% of the restored digits
classified correctly. Writes ``bench/results/restore_<family>.json`` and a picture of the
first 8 of each. scikit-image is needed here only (``pip install scikit-image``).

    python bench/restore.py --family diffusion --minutes 10 [--n 2000] [--steps K]
    python bench/restore.py --run 3 --workspace WS [--n 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from bench._common import RESULTS, load_mnist, mnist_train_set, train_for, write_result
from genstudio.apply.image_metrics import psnr, ssim
from genstudio.apply.operators import make_operator
from genstudio.apply.restore import restore
from genstudio.data.grid import make_grid, save_png

SIGMA = 0.3
BOX = (8, 8, 12, 12)  # the central 12x12 square of a 28x28 image


def nl_means(noisy: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    # scikit-image's recommended settings for a known sigma: h = 0.8 sigma with fast_mode
    out = [
        denoise_nl_means(img[0], h=0.8 * sigma, sigma=sigma, fast_mode=True, patch_size=5, patch_distance=6)
        for img in noisy
    ]
    return np.clip(np.stack(out)[:, None], 0, 1).astype(np.float32)


def classifier():
    # the very classifier bench/quality.py scores with (the same data and spec, so its cache)
    from bench.quality import classifier_extractor

    ext = classifier_extractor()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return (
                torch.cat([ext.logits(torch.from_numpy(c)) for c in np.array_split(x, max(1, len(x) // 500))])
                .argmax(1)
                .numpy()
            )

    return predict, ext.accuracy


def load(args) -> tuple:
    if args.run is not None:
        from genstudio.host import create_plugin_manager
        from genstudio.runs.inference import load_model
        from genstudio.runs.workspace import Workspace

        ws = Workspace(args.workspace)
        loaded = load_model(create_plugin_manager(ws.root), ws, args.run, device="cpu")
        return loaded.model, {"run": args.run, "step": loaded.step, "family": loaded.run.model}
    trainer, figures = train_for(args.family, mnist_train_set(), {}, args.minutes * 60, batch_size=64, n_samples=8)
    return trainer.model.eval(), {"family": args.family, "trained_here": figures, "minutes": args.minutes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", help="train this family here for --minutes")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--run", help="use this run's newest checkpoint instead")
    ap.add_argument("--workspace", help="the run's workspace")
    ap.add_argument("--n", type=int, default=2000, help="test images (the last n of the 2,000)")
    ap.add_argument("--steps", type=int, default=None, help="solver steps (default: the solver's)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if (args.run is None) == (args.family is None):
        ap.error("give --family (train here) or --run (a trained run)")
    if args.threads:
        torch.set_num_threads(args.threads)
    x_train, _, x_test, y_test = load_mnist()
    clean = torch.from_numpy(x_test[-args.n :].astype(np.float32) / 255)
    labels = y_test[-args.n :]
    model, source = load(args)
    family = source["family"]
    shape = (1, 28, 28)
    g = torch.Generator().manual_seed(0)
    result: dict = {"model": source, "n": args.n, "sigma": SIGMA, "box": BOX}

    # -- denoising ----------------------------------------------------------------------------
    op = make_operator("denoise", shape, sigma=SIGMA)
    noisy = op.damage(clean, g)
    t0 = time.perf_counter()
    nlm = torch.from_numpy(nl_means(noisy.numpy(), SIGMA))
    nlm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    den = restore(model, op, noisy, seed=0, steps=args.steps)
    den_s = time.perf_counter() - t0
    restored = torch.from_numpy(den.restored[0])
    rows = {
        "noisy": noisy.clamp(0, 1),
        "nl_means": nlm,
        "restored": restored,
    }
    result["denoise"] = {
        "solver": den.solver,
        **{f"psnr_{k}": float(psnr(v, clean).mean()) for k, v in rows.items()},
        **{f"ssim_{k}": float(ssim(v, clean).mean()) for k, v in rows.items()},
        "seconds_nl_means": round(nlm_s, 1),
        "seconds_restore": round(den_s, 1),
    }
    result["denoise"]["gain_over_nl_means_db"] = result["denoise"]["psnr_restored"] - result["denoise"]["psnr_nl_means"]
    print("denoise", result["denoise"], flush=True)

    # -- inpainting ---------------------------------------------------------------------------
    op = make_operator("inpaint", shape, box=BOX)
    holed = op.damage(clean, g)
    t0 = time.perf_counter()
    inp = restore(model, op, holed, seed=0, steps=args.steps)
    inp_s = time.perf_counter() - t0
    filled = torch.from_numpy(inp.restored[0])
    predict, held_accuracy = classifier()
    acc = {
        k: float((predict(v.numpy()) == labels).mean())
        for k, v in (("clean", clean), ("damaged", holed), ("restored", filled))
    }
    result["inpaint"] = {
        "solver": inp.solver,
        "classifier_held_out_accuracy": held_accuracy,
        **{f"accuracy_{k}": v for k, v in acc.items()},
        "psnr_restored": float(psnr(filled, clean).mean()),
        "seconds_restore": round(inp_s, 1),
    }
    result["targets"] = {
        "denoise_2db_over_nl_means": result["denoise"]["gain_over_nl_means_db"] >= 2.0,
        "inpaint_80_percent": acc["restored"] >= 0.8,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    k = min(8, args.n)
    picture = torch.cat([clean[:k], noisy[:k].clamp(0, 1), nlm[:k], restored[:k], holed[:k], filled[:k]]).numpy()
    save_png(RESULTS / f"restore_{family}.png", make_grid(picture, nrow=k), scale=2)
    result["picture"] = f"bench/results/restore_{family}.png (rows: clean, noisy, NLM, restored, holed, inpainted)"
    del x_train
    write_result(f"restore_{family}", result)


if __name__ == "__main__":
    main()

"""One-class-out anomaly detection on MNIST: trained on digits 0-8, is a 9 unusual?

Each family (default: the likelihood families ``vae``, ``flow``, ``rbm``, and the ``gan``'s
discriminator) trains from its defaults for ``--minutes`` (``genstudio train --minutes``, as
bench/quality.py: the learning-rate schedules follow the budget) on the digits 0-8 among the
first 8,000 images of the shared MNIST set (the ``classes=0-8`` data option), then scores the last 2,000 images (the
test split) with every anomaly score it has; the 9s are the anomalies. Reports AUROC and
average precision per family and per score (``genstudio.apply.anomaly``, scikit-learn's
definitions); a random ranking scores AUROC 0.5 and AP equal to the share of 9s.

Writes ``bench/results/anomaly.json``.

    python bench/anomaly.py [--minutes 10] [--families vae,flow,rbm,gan] [--n 2000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from bench._common import load_mnist, mnist_train_set, write_result
from bench.quality import train_minutes
from genstudio.api import Dataset
from genstudio.apply.anomaly import anomaly_scores, available_scores, curves
from genstudio.data.subset import select_classes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="training time per family")
    ap.add_argument("--families", default="vae,flow,rbm,gan")
    ap.add_argument("--n", type=int, default=2000, help="test images scored (the last n)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train_set = select_classes(mnist_train_set(), "0-8", "mnist-8000")
    _, _, x_test, y_test = load_mnist()
    test = Dataset(x_test[-args.n :], y_test[-args.n :], train_set.spec)
    anomalous = test.y == 9
    out: dict = {
        "minutes_per_family": args.minutes,
        "train_examples": len(train_set),
        "test_examples": len(test),
        "anomalies": int(anomalous.sum()),
        "random_ap": float(anomalous.mean()),
        "families": {},
    }
    for family in [f.strip() for f in args.families.split(",") if f.strip()]:
        trainer, figures = train_minutes(family, args.minutes, data=train_set, device="cpu")
        model = trainer.model.eval() if isinstance(trainer.model, torch.nn.Module) else trainer.model
        row = {"steps": figures["steps"], "train_seconds": figures["train_seconds"], "scores": {}}
        row |= {"run": figures["run"], "workspace": figures["workspace"]}
        for by in available_scores(model):
            if by == "bpd":  # a monotone map of log_prob: the same ranking, the same figures
                continue
            s = anomaly_scores(model, test, by, seed=0)
            c = curves(s, anomalous)
            row["scores"][by] = {"auroc": round(c.auroc, 4), "average_precision": round(c.average_precision, 4)}
        out["families"][family] = row
        print(family, row, flush=True)
    write_result("anomaly", out)


if __name__ == "__main__":
    main()

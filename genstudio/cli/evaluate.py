"""``genstudio eval`` (metrics of a run) and ``genstudio score`` (anomaly scores of a dataset)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    json_arg,
    make_host,
    open_workspace,
    out,
    workspace_arg,
)
from genstudio.training.device import DEVICES


def add_parsers(sub: Any) -> None:
    e = sub.add_parser(
        "eval",
        help="evaluate a run: FID, KID, IS, precision/recall, density/coverage, PPL, likelihood, memorisation",
        description=(
            "Evaluate a run's newest checkpoint against its held-out split and store the results in the run. "
            "Feature metrics are computed with one extractor, named in the output; figures from different "
            "extractors are not comparable."
        ),
    )
    e.add_argument("run", metavar="RUN", help="run id or name")
    e.add_argument(
        "--metrics",
        metavar="LIST",
        help="comma-separated: fid,kid,is,pr,dc,ppl,nll,memo or 'all' "
        "(default: fid,kid,is,pr,dc,nll,memo, each where the run's family and data allow it)",
    )
    e.add_argument("-n", type=int, default=None, metavar="N", help="samples to draw (default 2000)")
    e.add_argument(
        "--extractor",
        metavar="NAME",
        help="features for fid/kid/is/pr/dc/ppl: inception-v3, classifier, raw "
        "(default: inception-v3 for images of 16 px or more when its weights are here, "
        "else the classifier for labelled images, raw for vectors)",
    )
    e.add_argument("--seed", type=int, default=0, help="seed of the samples and subsets (default 0)")
    e.add_argument("--device", default="auto", choices=DEVICES, help="default auto: CUDA, then MPS, then CPU")
    e.add_argument("--no-store", action="store_true", help="do not record the results in the run")
    workspace_arg(e)
    json_arg(e, "print the results as one JSON object")
    e.set_defaults(handler=cmd_eval)

    s = sub.add_parser(
        "score",
        help="anomaly scores of every example of a dataset, as CSV; with --anomalous, ROC, AUROC, PR and AP",
        description=(
            "Score every example of a dataset with a run's model, in the dataset's order: log_prob (nats) where "
            "the family has log_prob, recon_error (mean squared error per value) where it has reconstruct. "
            "With --anomalous LABELS, the examples with those labels count as anomalies: one anomaly score "
            "(--by; higher is more anomalous) ranks every example, and the ROC curve, AUROC, the "
            "precision-recall curve and average precision are printed (and drawn with --roc)."
        ),
    )
    s.add_argument("run", metavar="RUN", help="run id or name")
    s.add_argument(
        "--data", metavar="SOURCE", help="a built-in source's name or a path (default: the data the run trained on)"
    )
    s.add_argument(
        "--data-option",
        action="append",
        default=None,
        metavar="K=V",
        help="a source option (repeatable; default: the run's own options when SOURCE is the run's data)",
    )
    s.add_argument(
        "-o",
        "--output",
        metavar="FILE.csv",
        help="write index,log_prob,recon_error rows; with --anomalous, index,label,anomalous,score rows",
    )
    s.add_argument("--anomalous", metavar="LABELS", help="labels that count as anomalies: 9, 8,9, 0-3 or class names")
    s.add_argument(
        "--by",
        choices=("log_prob", "bpd", "reconstruction", "discriminator"),
        help="the anomaly score (default: the first the family has, in this order)",
    )
    s.add_argument("--roc", metavar="FILE.png", help="draw the ROC and precision-recall curves to a PNG")
    json_arg(s, "print one JSON object, ending the output, with auroc and average_precision")
    s.add_argument("--device", default="auto", choices=DEVICES, help="default auto: CUDA, then MPS, then CPU")
    s.add_argument("--seed", type=int, default=0, help="seed of stochastic estimators (default 0)")
    workspace_arg(s)
    s.set_defaults(handler=cmd_score)


class StageProgress:
    """One line on a terminal per stage of the work: ``stage [#####-----] done/total``."""

    def __init__(self, stream: Any = None, width: int = 24):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.stage = ""
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        new = stage != self.stage
        if new and self.stage and self.tty:
            self.stream.write("\n")
        self.stage = stage
        finished = done >= total
        if not (new or finished or now - self.last > (0.1 if self.tty else 5.0)):
            return
        self.last = now
        frac = done / total if total else 1.0
        filled = round(frac * self.width)
        line = f"{stage:<22} [{'#' * filled}{'-' * (self.width - filled)}] {done}/{total}"
        if self.tty:
            self.stream.write("\r\033[K" + line)
        elif new or finished:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stage and self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self.stage = ""


def _metric_names(text: str | None, host: Any) -> list[str] | None:
    if text is None:
        return None
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    if names == ["all"]:
        return host.metrics.names()
    if not names:
        raise UsageError("--metrics: name at least one metric")
    unknown = [m for m in names if m not in host.metrics]
    if unknown:
        raise UsageError(f"--metrics: unknown metric {unknown[0]!r}; available: {', '.join(host.metrics.names())}")
    return names


def cmd_eval(args: argparse.Namespace) -> int:
    from genstudio.metrics.evaluate import DEFAULT_N
    from genstudio.runs.evaluation import evaluate_run

    n = DEFAULT_N if args.n is None else args.n
    if n < 2:
        raise UsageError("-n must be at least 2")
    workspace = open_workspace(args)
    host = make_host(workspace)
    names = _metric_names(args.metrics, host)
    if args.extractor is not None and args.extractor not in host.extractors:
        raise UsageError(f"--extractor: unknown {args.extractor!r}; available: {', '.join(host.extractors.names())}")
    progress = None if args.json else StageProgress()
    try:
        report = evaluate_run(
            host,
            workspace,
            args.run,
            metrics=names,
            n=n,
            extractor=args.extractor,
            device=args.device,
            seed=args.seed,
            progress=progress,
            store=not args.no_store,
        )
    finally:
        if progress is not None:
            progress.close()
    if args.json:
        out(_json_safe(report.to_dict()))
    else:
        print(format_report(report, explicit=names is not None))
    return EXIT_OK if report.results else EXIT_USAGE


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _fmt(v: float) -> str:
    return f"{v:.6g}" if math.isfinite(v) else str(v)


def format_report(report: Any, explicit: bool = True) -> str:
    """The report for a terminal: feature metrics under their extractor, then the others."""
    lines = [
        f"run {report.run_id} at step {report.step}: {report.n} samples, {report.n_real} held-out examples"
        f" ({report.seconds:.1f} s)"
    ]
    by_extractor: dict[str | None, list[Any]] = {}
    for r in report.results:
        by_extractor.setdefault(r.extractor, []).append(r)
    for identity, results in by_extractor.items():
        if identity is None:
            lines.append("\nwithout features:")
        else:
            name = results[0].details.get("extractor_name", "")
            lines.append(f"\nfeatures: {name} ({identity}), not comparable with other extractors' figures:")
        for r in results:
            shown = []
            keys = list(r.values)
            for key in keys:
                if key.endswith("_std") and key[: -len("_std")] in r.values:
                    continue
                text = _fmt(r.values[key])
                if f"{key}_std" in r.values:
                    text += f" ± {_fmt(r.values[f'{key}_std'])}"
                shown.append(f"{key} {text}")
            better = "lower is better" if r.lower_is_better else "higher is better"
            if r.metric == "memo":
                better = "nn_ratio near 1 is good, well below 1 suggests copying"
            lines.append(f"  {r.metric:<5} {', '.join(shown)}  (n={r.n}; {better})")
            if r.metric == "nll" and r.details.get("protocol"):
                lines.append(f"        protocol: {r.details['protocol']}")
            if r.details.get("warning"):
                lines.append(f"        warning: {r.details['warning']}")
            if r.metric == "memo" and r.details.get("pairs_file"):
                lines.append(f"        closest pairs: {r.details['pairs_file']}")
    if report.notes:
        lines.append("")
        lines += [f"note: {note}" for note in report.notes]
    if report.skipped:
        lines.append("")
        lead = "skipped" if explicit else "not applicable"
        lines += [f"{lead}: {m}: {why}" for m, why in report.skipped.items()]
    if not report.results:
        lines.append("nothing was computed")
    return "\n".join(lines)


def cmd_score(args: argparse.Namespace) -> int:
    from genstudio.data import load_dataset
    from genstudio.metrics.scoring import scorable, score_dataset, write_scores
    from genstudio.runs.inference import load_model

    if args.anomalous is None:
        for flag, given in (("--by", args.by), ("--roc", args.roc), ("--json", args.json)):
            if given:
                raise UsageError(f"{flag} needs --anomalous LABELS (which labels count as anomalies)")
        if args.output is None:
            raise UsageError("score needs -o FILE.csv, or --anomalous LABELS for ROC and average precision")
    for flag, name, suffix in (("-o", args.output, ".csv"), ("--roc", args.roc, ".png")):
        if name is not None and Path(name).suffix.lower() != suffix:
            raise UsageError(f"{flag} {name}: write a {suffix} file")
    if args.anomalous is not None:
        return score_anomalies(args)
    output = Path(args.output)
    workspace = open_workspace(args)
    host = make_host(workspace)
    loaded = load_model(host, workspace, args.run, device=args.device)
    if not scorable(loaded.model):
        raise UsageError(
            f"run {loaded.run.id} ({loaded.run.model}) has neither log_prob nor reconstruct: nothing to score with"
        )
    source, options = _scored_source(args, loaded.run)
    data = load_dataset(host, source, options, cache_dir=workspace.cache_dir)
    progress = StageProgress()
    try:
        scores = score_dataset(
            loaded.model,
            data,
            device=loaded.device,
            seed=args.seed,
            progress=lambda d, t: progress("scoring", d, t),
        )
    finally:
        progress.close()
    write_scores(output, scores)
    print(f"wrote {len(data)} rows ({', '.join(['index', *scores])}) to {output}", file=sys.stderr)
    return EXIT_OK


def _scored_source(args: argparse.Namespace, run: Any, drop: tuple[str, ...] = ()) -> tuple[str, Any]:
    """The source and options ``score`` reads: the run's own data and options (kind=tabular,
    size=...) unless told otherwise; ``drop`` leaves out options that must not carry over."""
    source = args.data or run.data
    options = args.data_option
    if options is None:
        same = source == run.data or Path(source).expanduser().resolve() == Path(run.data).expanduser().resolve()
        options = {k: v for k, v in run.data_options.items() if k not in drop} if same else []
    return source, options


def score_anomalies(args: argparse.Namespace) -> int:
    """``score --anomalous``: one anomaly score per example, then ROC, AUROC, PR and AP."""
    from genstudio.apply import anomaly
    from genstudio.data import load_dataset
    from genstudio.runs.inference import load_model

    workspace = open_workspace(args)
    host = make_host(workspace)
    loaded = load_model(host, workspace, args.run, device=args.device)
    have = anomaly.available_scores(loaded.model)
    if not have:
        raise UsageError(
            f"run {loaded.run.id} ({loaded.run.model}) has no anomaly score (log_prob, reconstruct, critic)"
        )
    by = args.by or have[0]
    # a run trained on classes=0-8 is scored on every class: the others are the anomalies
    source, options = _scored_source(args, loaded.run, drop=("classes",))
    data = load_dataset(host, source, options, cache_dir=workspace.cache_dir)
    wanted = anomaly.parse_labels(args.anomalous, data.spec.classes if data.y is not None else None)
    labels = data.y
    is_anomaly = np.isin(labels, wanted)
    if not is_anomaly.any():
        raise UsageError(f"--anomalous {args.anomalous}: no example of {source} has these labels")
    progress = None if args.json else StageProgress()
    try:
        scores = anomaly.anomaly_scores(
            loaded.model,
            data,
            by,
            device=loaded.device,
            seed=args.seed,
            progress=None if progress is None else (lambda d, t: progress("scoring", d, t)),
        )
    finally:
        if progress is not None:
            progress.close()
    c = anomaly.curves(scores, is_anomaly)
    names = [data.spec.classes[k] for k in wanted]
    if args.output:
        table = anomaly.scores_table({"score": scores}, labels, is_anomaly, data.spec.classes)
        anomaly.write_table(args.output, table)
        print(f"wrote {len(data)} rows (index, label, anomalous, score) to {args.output}", file=sys.stderr)
    if args.roc:
        from genstudio.apply.plot import write_curves_png

        write_curves_png(
            args.roc, c, f"run {loaded.run.id} ({loaded.run.model}), score {by}, anomalous: {', '.join(names)}"
        )
        print(f"wrote the ROC and PR curves to {args.roc}", file=sys.stderr)
    summary = {
        "run": loaded.run.id,
        "model": loaded.run.model,
        "step": loaded.step,
        "data": source,
        "by": by,
        "scores_available": have,
        "n": len(data),
        "anomalous_labels": names,
        "n_anomalous": int(is_anomaly.sum()),
        "auroc": c.auroc,
        "average_precision": c.average_precision,
    }
    if args.json:
        out(summary)
    else:
        print(
            f"run {loaded.run.id} ({loaded.run.model}) at step {loaded.step}: {len(data)} examples of {source}, "
            f"{int(is_anomaly.sum())} anomalous (labels {', '.join(names)})\n"
            f"score {by} (higher is more anomalous; available: {', '.join(have)})\n"
            f"AUROC {c.auroc:.4f}  average precision {c.average_precision:.4f}"
            f"  (a random ranking: AUROC 0.5, AP {is_anomaly.mean():.4f})"
        )
    return EXIT_OK

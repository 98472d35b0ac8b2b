"""``genstudio eval`` (metrics of a run) and ``genstudio score`` (anomaly scores of a dataset)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

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
        help="anomaly scores: log_prob and/or recon_error of every example of a dataset, as CSV",
        description=(
            "Score every example of a dataset with a run's model, in the dataset's order: log_prob (nats) where "
            "the family has log_prob, recon_error (mean squared error per value) where it has reconstruct."
        ),
    )
    s.add_argument("run", metavar="RUN", help="run id or name")
    s.add_argument("--data", required=True, metavar="SOURCE", help="a built-in source's name or a path")
    s.add_argument("--data-option", action="append", default=[], metavar="K=V", help="a source option (repeatable)")
    s.add_argument("-o", "--output", required=True, metavar="FILE.csv", help="write index,log_prob,recon_error rows")
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
    from pathlib import Path

    from genstudio.data import load_dataset
    from genstudio.metrics.scoring import scorable, score_dataset, write_scores
    from genstudio.runs.inference import load_model

    output = Path(args.output)
    if output.suffix.lower() != ".csv":
        raise UsageError(f"-o {output}: write a .csv file")
    workspace = open_workspace(args)
    host = make_host(workspace)
    loaded = load_model(host, workspace, args.run, device=args.device)
    if not scorable(loaded.model):
        raise UsageError(
            f"run {loaded.run.id} ({loaded.run.model}) has neither log_prob nor reconstruct: nothing to score with"
        )
    data = load_dataset(host, args.data, args.data_option, cache_dir=workspace.cache_dir)
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

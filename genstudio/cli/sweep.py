"""``genstudio sweep``: search a family's hyperparameters with Optuna; ``sweep show`` a study."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from genstudio.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    json_arg,
    make_host,
    open_workspace,
    out,
    table,
    workspace_arg,
)

DEVICES = ("auto", "cpu", "cuda", "mps")


def add_parsers(sub: Any) -> None:
    from genstudio.sweeps.study import DIRECTIONS, PRUNERS, SAMPLERS

    s = sub.add_parser(
        "sweep",
        help="search a family's hyperparameters (Optuna); `sweep show STUDY` shows a study",
        description="Search a model family's hyperparameters: each trial is an ordinary run, pruned by its "
        "validation losses. Processes given the same --study and --storage share the study.",
    )
    s.add_argument("model", metavar="MODEL", help="model family, or `show` to show a study")
    s.add_argument("study_ref", metavar="STUDY", nargs="?", help="with `show`: the study's name")
    s.add_argument("--data", metavar="SOURCE", help="a built-in source's name or a path")
    s.add_argument("--data-option", action="append", default=[], metavar="K=V", help="a source option (repeatable)")
    s.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="SPEC",
        help="NAME=LOW:HIGH[:log] or NAME=A,B,C (repeatable); default: the parameters the family marks as "
        "worth tuning, over their declared ranges",
    )
    s.add_argument(
        "--trials", type=int, default=20, metavar="N", help="complete or pruned trials in the study (default 20)"
    )
    length = s.add_mutually_exclusive_group()
    length.add_argument("--minutes-per-trial", type=float, metavar="X", help="train each trial X minutes")
    length.add_argument("--steps", type=int, metavar="N", help="train each trial N steps (default 2000)")
    s.add_argument("--objective", metavar="KEY", help="a scalar the runs log (default: the first validation loss)")
    s.add_argument("--direction", choices=DIRECTIONS, default="minimize", help="default minimize")
    s.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="default tpe")
    s.add_argument("--pruner", choices=PRUNERS, default="median", help="default median")
    s.add_argument("--study", metavar="NAME", help="the study's name (default MODEL-SOURCE); an existing one continues")
    s.add_argument("--storage", metavar="URL", help="an Optuna storage URL (default: sqlite in the workspace)")
    s.add_argument(
        "--sampler-seed", type=int, metavar="N", help="seed of the sampler (leave unset with several processes)"
    )
    s.add_argument("--batch-size", type=int, metavar="N", help="examples per step (default 128)")
    s.add_argument("--cpu-threads", type=int, metavar="N", help="threads per trial for CPU work")
    s.add_argument("--eval-every", type=int, metavar="N", help="steps between evaluations (objective fid, kid, nll)")
    s.add_argument("--eval-metrics", metavar="M[,M...]", help="metrics for --eval-every (default fid)")
    s.add_argument("--device", choices=DEVICES, default="auto", help="default auto: CUDA, then MPS, then CPU")
    workspace_arg(s)
    json_arg(s, "print one JSON object per trial event, and last the best trial")
    s.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.model == "show":
        return cmd_show(args)
    if args.study_ref is not None:
        raise UsageError(f"genstudio sweep: unexpected argument {args.study_ref!r}")
    if not args.data:
        raise UsageError("genstudio sweep: --data SOURCE is required")
    from genstudio.data import option_values, resolve_source
    from genstudio.sweeps import Sweep, SweepSpec, build_space

    workspace = open_workspace(args)
    host = make_host(workspace)
    model_cls = host.model(args.model)
    source_cls, _ = resolve_source(host, args.data)
    settings: dict[str, Any] = {"device": args.device}
    for name in ("batch_size", "cpu_threads", "eval_every", "eval_metrics"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    steps = None if args.minutes_per_trial is not None else (2000 if args.steps is None else args.steps)
    spec = SweepSpec(
        model=args.model, data=args.data, data_options=option_values(source_cls, args.data_option),
        space=build_space(model_cls.Config, args.param), trials=args.trials,
        steps=steps,
        minutes=args.minutes_per_trial, objective=args.objective, direction=args.direction, sampler=args.sampler,
        pruner=args.pruner, study=args.study, storage=args.storage, seed=args.sampler_seed, settings=settings,
    )  # fmt: skip
    sweep = Sweep(host, workspace, spec)
    return drive(sweep, args.json)


def drive(sweep: Any, as_json: bool) -> int:
    """Print a sweep's events; the first Ctrl+C stops the trial in progress (marked failed)."""
    interrupts = 0

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            raise KeyboardInterrupt
        sweep.stop()
        print("stopping the trial in progress (Ctrl+C again to abort)", file=sys.stderr, flush=True)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    last = None
    try:
        for event in sweep.events():
            last = event
            if as_json:
                if event.type != "trial_progress":
                    out(event.to_dict())
            else:
                _show(event)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if last is None or last.status != "finished" or last.best_trial is None:
        return EXIT_FAILED
    return EXIT_OK


def _params(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def _value(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def _show(e: Any) -> None:
    kind = e.type
    if kind == "study":
        space = ", ".join(f"{d['name']}" for d in e.space)
        print(f"study {e.study} in {e.storage}: {e.done} of {e.trials} trials done; searching {space}", flush=True)
    elif kind == "trial_started":
        print(f"trial {e.trial}: run {e.run}, {_params(e.params)}", flush=True)
    elif kind == "trial_ended":
        text = f"trial {e.trial} {e.state} at step {e.step}: {_value(e.value)}"
        print(text + (f" ({e.message})" if e.message else ""), flush=True)
    elif kind == "waiting":
        print(f"waiting: {e.message}", flush=True)
    elif kind == "sweep_ended":
        print(f"{e.status}: {e.complete} complete, {e.pruned} pruned, {e.failed} failed", flush=True)
        if e.message:
            print(f"genstudio: sweep {e.study} {e.status}: {e.message}", file=sys.stderr, flush=True)
        if e.best_trial is not None:
            print(f"best: trial {e.best_trial}, value {_value(e.best_value)}, run {e.best_run}", flush=True)
            print(f"  {_params(e.best_params)}", flush=True)


def cmd_show(args: argparse.Namespace) -> int:
    from genstudio.sweeps import study as st

    if not args.study_ref:
        raise UsageError("genstudio sweep show: name the study: genstudio sweep show STUDY")
    workspace = open_workspace(args)
    url = args.storage or st.default_storage(workspace)
    if args.storage is None and not (Path(workspace.root) / st.STORE_FILE).is_file():
        raise UsageError(f"no sweeps in the workspace {workspace.root} yet")
    study = st.load_study(url, args.study_ref)
    rows = st.trial_rows(study)
    best = st.best_of(study)
    imp, why = st.importances(study)
    attrs = study.user_attrs
    if args.json:
        out(
            {
                "study": study.study_name, "storage": url, "model": attrs.get("model"), "data": attrs.get("data"),
                "objective": attrs.get("objective"), "direction": study.direction.name.lower(), "trials": rows,
                "best": best, "importances": imp,
            }
        )  # fmt: skip
        return EXIT_OK
    print(f"study {study.study_name}: {attrs.get('model')} on {attrs.get('data')}, "
          f"{study.direction.name.lower()} {attrs.get('objective') or 'the first validation loss'}")  # fmt: skip
    body = [
        [r["trial"], r["state"], _value(r["value"]), r["step"], r["run"] or "-", _params(r["params"])] for r in rows
    ]
    print(table(body, ["TRIAL", "STATE", "VALUE", "STEPS", "RUN", "PARAMS"]))
    if best["trial"] is not None:
        print(
            f"best: trial {best['trial']}, value {_value(best['value'])}, run {best['run']}: {_params(best['params'])}"
        )
    if imp:
        print("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in imp.items()))
    elif why:
        print(why)
    return EXIT_OK

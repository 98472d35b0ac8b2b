"""The command line: everything the window does, headless.

::

    genstudio                                   open the window
    genstudio train MODEL --data SOURCE [...]   train a model family
    genstudio resume RUN [--steps N]            continue a run from its last checkpoint
    genstudio sample RUN [-n N] -o FILE         draw samples from a run
    genstudio runs list|show|export             the workspace's runs
    genstudio data list|show                    data sources
    genstudio plugins list                      plugins and what they contribute

Exit status: 0 on success, 2 for a usage error or bad input, 1 for a failed run.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genstudio import __version__
from genstudio.api import ConfigError, GenStudioError, Param, params

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(GenStudioError):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so every usage error exits 2 the same way."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _workspace_arg(p: Any, top: bool = False) -> None:
    # SUPPRESS below the top: a subcommand's default must not undo `genstudio --workspace DIR CMD`
    p.add_argument(
        "--workspace",
        metavar="DIR",
        default=None if top else argparse.SUPPRESS,
        help="workspace folder (default: $GENSTUDIO_WORKSPACE or the user data folder)",
    )


def _json_arg(p: argparse.ArgumentParser, what: str = "print JSON") -> None:
    p.add_argument("--json", action="store_true", help=what)


def _open_workspace(args: argparse.Namespace) -> Any:
    from genstudio.runs.workspace import Workspace

    return Workspace(getattr(args, "workspace", None))


def _host(workspace: Any) -> Any:
    from genstudio.plugins import create_plugin_manager

    host = create_plugin_manager(workspace.root)
    for info in host.failed():
        print(f"genstudio: warning: plugin {info.name!r} failed: {info.error}", file=sys.stderr)
    return host


def _out(obj: Any) -> None:
    print(json.dumps(obj, default=str), flush=True)


# ----------------------------------------------------------------------------------------
# parsers


def _base_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="genstudio", description="GenStudio: train, inspect and evaluate generative models.")
    p.add_argument("--version", action="version", version=f"genstudio {__version__}")
    _workspace_arg(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("train", help="train a model family (genstudio train MODEL --help lists its flags)", add_help=False)

    r = sub.add_parser("resume", help="continue a run from its last checkpoint")
    r.add_argument("run", metavar="RUN", help="run id or name")
    r.add_argument("--steps", type=int, help="train N more steps (default: up to the run's original total)")
    r.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="train on another device than before")
    _workspace_arg(r)
    _json_arg(r, "print one JSON object per event")

    s = sub.add_parser("sample", help="draw samples from a run's last checkpoint")
    s.add_argument("run", metavar="RUN", help="run id or name")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="FILE.png (a grid) or FILE.npy (float32, shaped like the data)",
    )
    s.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"), help="device (default cpu)")
    _workspace_arg(s)

    runs = sub.add_parser("runs", help="list, show and export runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    rl = runs_sub.add_parser("list", help="the workspace's runs")
    _workspace_arg(rl)
    _json_arg(rl)
    rs = runs_sub.add_parser("show", help="one run: settings, command, losses, checkpoints")
    rs.add_argument("run", metavar="RUN")
    _workspace_arg(rs)
    _json_arg(rs)
    re_ = runs_sub.add_parser("export", help="a run's logged scalars as CSV")
    re_.add_argument("run", metavar="RUN")
    re_.add_argument("--csv", required=True, metavar="FILE", help="write step,key,value,wall_time rows here")
    _workspace_arg(re_)

    data = sub.add_parser("data", help="data sources")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    dl = data_sub.add_parser("list", help="built-in sources and file formats, with their options")
    _json_arg(dl)
    _workspace_arg(dl)
    ds = data_sub.add_parser("show", help="load a source and describe it")
    ds.add_argument("source", metavar="SOURCE", help="a built-in source's name or a path")
    ds.add_argument("--data-option", action="append", default=[], metavar="K=V", help="a source option (repeatable)")
    ds.add_argument("--grid", metavar="FILE.png", help="save a picture of the first examples")
    _workspace_arg(ds)
    _json_arg(ds)

    pl = sub.add_parser("plugins", help="plugins")
    pl_sub = pl.add_subparsers(dest="plugins_command", metavar="ACTION", required=True)
    pll = pl_sub.add_parser("list", help="every plugin: version, origin, contributions, errors")
    _workspace_arg(pll)
    _json_arg(pll)
    return p


LOOP_FLAGS: list[tuple[str, type, str]] = [
    ("--batch-size", int, "examples per step (default 128)"),
    ("--seed", int, "random seed; the same seed and device give identical losses (default 0)"),
    ("--val-fraction", float, "share of the data held out for validation (default 0.1)"),
    ("--val-every", int, "steps between validations (default: 20 per run)"),
    ("--sample-every", int, "steps between sample grids (default: 50 per run, and every 15 s)"),
    ("--n-samples", int, "samples per grid (default 64 for images, 1000 for vectors)"),
    ("--checkpoint-every", int, "steps between checkpoints (default: every --checkpoint-minutes)"),
    ("--checkpoint-minutes", float, "minutes between checkpoints (default 2)"),
    ("--keep-checkpoints", int, "checkpoints kept (default 3)"),
]


def _model_help(p: Param) -> str:
    default = p.default if p.type is not bool else ("on" if p.default else "off")
    return f"{p.help or p.name} (default: {default}; {p.describe_range()})"


def _train_parser(model_cls: Any | None, models: Sequence[str]) -> argparse.ArgumentParser:
    prog = "genstudio train"
    desc = "Train a model family on a data source."
    if model_cls is not None:
        desc = f"Train {model_cls.title or model_cls.name} ({model_cls.name}): {model_cls.description}"
    p = _Parser(prog=prog, description=desc)
    p.add_argument("model", metavar="MODEL", help="model family: " + ", ".join(models))
    p.add_argument(
        "--data", required=True, metavar="SOURCE", help="a built-in source's name (digits, moons, ...) or a path"
    )
    p.add_argument("--data-option", action="append", default=[], metavar="K=V", help="a source option (repeatable)")
    if model_cls is not None:
        g = p.add_argument_group(f"{model_cls.name} options")
        for prm in params(model_cls.Config):
            if prm.type is bool:
                g.add_argument(prm.flag, action=argparse.BooleanOptionalAction, default=None, help=_model_help(prm))
            else:
                metavar = "{" + ",".join(map(str, prm.choices)) + "}" if prm.choices else prm.type.__name__.upper()
                g.add_argument(prm.flag, default=None, metavar=metavar, help=_model_help(prm))
    loop = p.add_argument_group("training")
    length = loop.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, metavar="N", help="optimisation steps (default 2000)")
    length.add_argument("--epochs", type=int, metavar="N", help="passes over the training split")
    for flag, typ, text in LOOP_FLAGS:
        loop.add_argument(flag, type=typ, metavar="N" if typ is int else "X", help=text)
    loop.add_argument("--precision", choices=("fp32", "bf16"), help="bf16 autocast needs CUDA (default fp32)")
    loop.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda", "mps"),
        help="default auto: CUDA, then MPS, then CPU",
    )
    out = p.add_argument_group("output")
    _workspace_arg(out)
    out.add_argument("--name", help="the run's name (default MODEL-ID)")
    _json_arg(out, 'print one JSON object per event, and last a line {"run": ID, ...}')
    return p


def _model_config(model_cls: Any, args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for prm in params(model_cls.Config):
        raw = getattr(args, prm.name, None)
        if raw is None:
            continue
        try:
            values[prm.name] = prm.validate(raw) if isinstance(raw, bool) else prm.parse(raw)
        except ConfigError as exc:
            raise UsageError(str(exc).replace(f"{prm.name}:", f"{prm.flag}:", 1)) from None
    return values


def _settings(args: argparse.Namespace) -> Any:
    from genstudio.training.settings import TrainSettings

    kwargs = {"steps": args.steps, "epochs": args.epochs, "device": args.device}
    if args.precision:
        kwargs["precision"] = args.precision
    for flag, _, _ in LOOP_FLAGS:
        name = flag[2:].replace("-", "_")
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
    return TrainSettings(**kwargs)


# ----------------------------------------------------------------------------------------
# train and resume


def cmd_train(argv: list[str]) -> int:
    pre = _Parser(prog="genstudio train", add_help=False)
    pre.add_argument("model", nargs="?")
    _workspace_arg(pre)
    known, _ = pre.parse_known_args(argv)
    workspace = _open_workspace(known)
    host = _host(workspace)
    models = host.models.names()
    model_cls = None
    if known.model and not known.model.startswith("-"):
        model_cls = host.model(known.model)
    parser = _train_parser(model_cls, models)
    if model_cls is None:
        if any(a in ("-h", "--help") for a in argv):
            parser.print_help()
            return EXIT_OK
        raise UsageError("genstudio train: name a model family: " + ", ".join(models))
    args = parser.parse_args(argv)

    from genstudio.data import option_values, resolve_source
    from genstudio.training.loop import Trainer

    source_cls, _ = resolve_source(host, args.data)
    data_options = option_values(source_cls, args.data_option)
    trainer = Trainer.new(
        host,
        workspace,
        args.model,
        args.data,
        data_options=data_options,
        config=_model_config(model_cls, args),
        settings=_settings(args),
        name=args.name,
        progress=None if args.json else _LoadProgress(),
    )
    return _drive(trainer, args.json)


def cmd_resume(args: argparse.Namespace) -> int:
    from genstudio.training.loop import Trainer

    workspace = _open_workspace(args)
    host = _host(workspace)
    trainer = Trainer.resume(host, workspace, args.run, steps=args.steps, device=args.device)
    return _drive(trainer, args.json)


class _LoadProgress:
    """Decoding progress of a large image folder, on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.tty and (now - self.last > 0.2 or done == total):
            self.last = now
            print(f"\rloading data {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


def _fmt_time(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _fmt_losses(losses: dict[str, float], limit: int = 4) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in list(losses.items())[:limit])


class ProgressBar:
    """One line on a terminal: a bar, steps, steps per second, ETA and the latest losses."""

    def __init__(self, stream: Any = None, width: int = 24):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.last_line = 0.0

    def update(self, e: Any) -> None:
        frac = e.step / e.total_steps if e.total_steps else 0.0
        filled = round(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        line = (
            f"[{bar}] {e.step}/{e.total_steps} {frac:4.0%} {e.steps_per_second:7.1f} steps/s "
            f"ETA {_fmt_time(e.eta)}  {_fmt_losses(e.losses)}"
        )
        if self.tty:
            self.stream.write("\r\033[K" + line)
            self.stream.flush()
        elif time.monotonic() - self.last_line > 5.0:  # a log file gets a line every 5 s
            self.last_line = time.monotonic()
            print(line, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        print(text, file=self.stream, flush=True)


def _drive(trainer: Any, as_json: bool) -> int:
    """Iterate a trainer's events on the terminal; the first Ctrl+C stops with a checkpoint."""
    bar = ProgressBar()
    interrupted = {"count": 0}

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted["count"] += 1
        if interrupted["count"] > 1:
            raise KeyboardInterrupt
        trainer.stop()
        if not as_json:
            bar.message("stopping after this step with a checkpoint (Ctrl+C again to abort)")

    previous = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
    last = None
    try:
        for event in trainer.events():
            last = event
            if as_json:
                _out(event.to_dict())
                continue
            kind = event.type
            if kind == "progress":
                bar.update(event)
            elif kind == "started":
                verb = "resuming" if event.resumed else "training"
                bar.message(
                    f"{verb} run {event.run} ({trainer.run.name}): {event.model} on {event.data}, {event.total_steps} steps on {event.device}"
                )
                bar.message(f"run folder: {event.folder}")
            elif kind == "warning":
                bar.message(f"warning at step {event.step}: {event.message}")
            elif kind == "finished":
                bar.message(
                    f"{event.status} at step {event.step} in {_fmt_time(event.elapsed)}: {_fmt_losses(event.losses, 8)}"
                )
                bar.message(f"checkpoint: {event.checkpoint}")
            elif kind == "failed":
                bar.message(f"genstudio: run {event.run} failed at step {event.step}: {event.message}")
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    status = "failed" if last is None or last.type == "failed" else last.status
    record = trainer.store.get_run(trainer.run.id)
    if as_json:
        _out(
            {
                "run": trainer.run.id,
                "name": record.name,
                "status": status,
                "step": trainer.step,
                "losses": getattr(last, "losses", {}),
                "folder": str(trainer.folder),
                "error": getattr(last, "message", None) if status == "failed" else None,
            }
        )
    return EXIT_FAILED if status == "failed" else EXIT_OK


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# ----------------------------------------------------------------------------------------
# sample


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from genstudio.data.grid import picture, save_png
    from genstudio.files import atomic_write
    from genstudio.runs.inference import load_model

    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".npy"):
        raise UsageError(f"-o {out}: write a .png (a grid) or a .npy (the raw samples)")
    if args.n < 1:
        raise UsageError("-n must be at least 1")
    workspace = _open_workspace(args)
    host = _host(workspace)
    loaded = load_model(host, workspace, args.run, device=args.device)
    g = torch.Generator(device=loaded.device).manual_seed(args.seed)
    with torch.no_grad():
        chunks = [loaded.model.sample(min(512, args.n - i), generator=g) for i in range(0, args.n, 512)]
    arr = np.concatenate([c.detach().float().cpu().numpy() for c in chunks]).astype(np.float32)
    if out.suffix.lower() == ".npy":
        atomic_write(out, lambda f: np.save(f, arr, allow_pickle=False))
    else:
        save_png(out, picture(arr), scale=1 if arr.ndim != 4 else max(1, min(4, 64 // max(arr.shape[-2:]))))
    print(f"wrote {len(arr)} samples from run {loaded.run.id} (step {loaded.step}) to {out}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------
# runs


def _ago(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def cmd_runs(args: argparse.Namespace) -> int:
    from genstudio.runs.store import RunStore
    from genstudio.training import checkpoint as ckpt

    store = RunStore(_open_workspace(args))
    if args.runs_command == "list":
        runs = store.list_runs()
        if args.json:
            _out([r.to_dict() for r in runs])
            return EXIT_OK
        if not runs:
            print(f"no runs in {store.workspace.root}")
            return EXIT_OK
        rows = [
            [
                r.id,
                r.name,
                r.model,
                _short(r.data),
                f"{r.step}/{r.total_steps or '?'}",
                r.live_status,
                _ago(r.created),
                _fmt_losses(r.summary, 2),
            ]
            for r in runs
        ]
        print(_table(rows, ["ID", "NAME", "MODEL", "DATA", "STEPS", "STATUS", "CREATED", "LAST LOSSES"]))
        return EXIT_OK
    run = store.get_run(args.run)
    if args.runs_command == "show":
        checkpoints = [str(p) for _, p in ckpt.list_checkpoints(store.workspace.run_dir(run.id) / "checkpoints")]
        scalars = store.scalars(run.id)
        last = {
            k: {"step": int(v[0][-1]), "value": float(v[1][-1]), "count": len(v[0])}
            for k, v in scalars.items()
            if len(v[0])
        }
        info = {
            **run.to_dict(),
            "checkpoints": checkpoints,
            "samples": len(store.artifacts(run.id, "samples")),
            "scalars": last,
            "messages": store.messages(run.id),
            "metrics": store.metrics(run.id),
        }
        if args.json:
            _out(info)
            return EXIT_OK
        print(f"run {run.id}: {run.name}")
        for key in ("model", "plugin", "data", "status", "device", "folder"):
            print(f"  {key:10} {info[key]}")
        print(f"  {'steps':10} {run.step}/{run.total_steps}")
        print(f"  {'created':10} {_ago(run.created)}")
        if run.data_options:
            print(f"  {'data opts':10} {json.dumps(run.data_options)}")
        print(f"  {'config':10} {json.dumps(run.config)}")
        if run.error:
            print(f"  {'error':10} {run.error}")
        print(f"  {'command':10} {run.command}")
        print(f"  {'samples':10} {info['samples']} grids")
        for path in checkpoints:
            print(f"  checkpoint {path}")
        for key, v in last.items():
            print(f"  {key:24} {v['value']:.6g} at step {v['step']} ({v['count']} values)")
        for m in info["messages"]:
            print(f"  [{m['level']} at step {m['step']}] {m['text']}")
        return EXIT_OK
    # export
    return _export_csv(store, run, Path(args.csv))


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


def _export_csv(store: Any, run: Any, path: Path) -> int:
    import csv
    import io

    from genstudio.files import atomic_write_text

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["step", "key", "value", "wall_time"])
    for key, (steps, values, walls) in store.scalars(run.id).items():
        for s, v, t in zip(steps.tolist(), values.tolist(), walls.tolist()):
            w.writerow([s, key, repr(v), f"{t:.3f}"])
    atomic_write_text(path, buf.getvalue())
    print(f"wrote {store.count_scalars(run.id)} scalars of run {run.id} to {path}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------
# data and plugins


def cmd_data(args: argparse.Namespace) -> int:
    from genstudio.data import load_dataset

    workspace = _open_workspace(args)
    host = _host(workspace)
    if args.data_command == "list":
        items = []
        for name, cls in host.datasets.items():
            items.append(
                {
                    "name": name,
                    "title": cls.title,
                    "description": cls.description,
                    "kind": "file format" if cls.path_based else "built-in",
                    "plugin": host.datasets.owner(name),
                    "options": [
                        {
                            "name": p.name,
                            "type": p.type.__name__,
                            "default": p.default,
                            "help": p.help,
                            "allowed": p.describe_range(),
                        }
                        for p in params(cls.Options)
                    ],
                }
            )
        if args.json:
            _out(items)
            return EXIT_OK
        for group in ("built-in", "file format"):
            print(
                "Built-in sources (--data NAME):"
                if group == "built-in"
                else "\nFile formats (--data PATH, recognised by content):"
            )
            for it in (i for i in items if i["kind"] == group):
                print(f"  {it['name']:14} {it['description']}")
                for o in it["options"]:
                    print(f"  {'':14}   {(o['name'] + '=' + str(o['default'])):18} {o['help']} ({o['allowed']})")
        return EXIT_OK
    data = load_dataset(host, args.source, args.data_option, cache_dir=workspace.cache_dir, progress=_LoadProgress())
    spec = data.spec
    info = {
        **spec.to_dict(),
        "labelled": data.y is not None,
        "warnings": data.warnings,
        "dtype": str(data.x.dtype),
    }
    if args.grid:
        from genstudio.data.grid import picture, save_png

        sample = data.as_float(slice(0, 64 if spec.kind == "image" else 5000))
        scale = 1 if spec.kind != "image" else max(1, min(4, 64 // max(spec.shape[-2:])))
        save_png(args.grid, picture(sample), scale=scale)
        info["grid"] = str(args.grid)
    if args.json:
        _out(info)
        return EXIT_OK
    print(f"{spec.source}: {spec.count} {spec.kind} examples shaped {spec.shape}")
    print(f"  values in [{spec.value_range[0]:g}, {spec.value_range[1]:g}], stored as {info['dtype']}")
    if spec.classes:
        shown = ", ".join(spec.classes[:20]) + (" ..." if len(spec.classes) > 20 else "")
        print(f"  {len(spec.classes)} classes: {shown}")
    else:
        print("  no labels")
    if spec.factors:
        print(f"  known factors: {', '.join(spec.factors)}")
    for w in data.warnings:
        print(f"  warning: {w}")
    if args.grid:
        print(f"  wrote {args.grid}")
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    workspace = _open_workspace(args)
    from genstudio.plugins import create_plugin_manager

    host = create_plugin_manager(workspace.root)
    infos = [p.to_dict() for p in host.plugins.values()]
    if args.json:
        _out(infos)
        return EXIT_OK
    rows = []
    for p in infos:
        what = "; ".join(f"{k}: {', '.join(v)}" for k, v in p["contributes"].items()) or "-"
        status = "disabled" if not p["enabled"] else ("FAILED" if p["error"] else "ok")
        rows.append([p["name"], p["version"] or "-", p["source"], status, what])
    print(_table(rows, ["NAME", "VERSION", "SOURCE", "STATUS", "CONTRIBUTES"]))
    for p in infos:
        if p["error"]:
            print(f"\n{p['name']} failed: {p['error']}\n{p['traceback'] or ''}".rstrip())
    return EXIT_OK


# ----------------------------------------------------------------------------------------


def open_window(workspace: str | None) -> int:
    # the window is not built yet: say what the command line offers instead
    _base_parser().print_help()
    return EXIT_OK


def _dispatch(argv: list[str]) -> int:
    # `train` is parsed in two passes: its flags depend on the model family it names
    lead: list[str] = []
    rest = list(argv)
    while rest and rest[0].startswith("--workspace"):
        lead.append(rest.pop(0))
        if "=" not in lead[-1] and rest:
            lead.append(rest.pop(0))
    if rest and rest[0] == "train":
        return cmd_train(rest[1:] + lead)
    parser = _base_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return open_window(args.workspace)
    if args.command == "train":
        return cmd_train([])
    handler = {
        "resume": cmd_resume,
        "sample": cmd_sample,
        "runs": cmd_runs,
        "data": cmd_data,
        "plugins": cmd_plugins,
    }[args.command]
    return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except GenStudioError as exc:
        print(f"genstudio: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ngenstudio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

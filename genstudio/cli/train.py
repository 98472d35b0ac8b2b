"""``genstudio train`` and ``genstudio resume``: drive the training generator on a terminal."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from genstudio.api import ConfigError, Param, params
from genstudio.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Parser,
    UsageError,
    fmt_losses,
    json_arg,
    make_host,
    open_workspace,
    out,
    workspace_arg,
)
from genstudio.training.device import DEVICES
from genstudio.training.events import format_duration, fraction_done
from genstudio.training.settings import DEFAULT_STEPS, setting_params


def add_parsers(sub: Any) -> None:
    # `train` is parsed by train_main in two passes (its flags depend on the model); this entry
    # only lists it in `genstudio --help`
    sub.add_parser("train", help="train a model family (genstudio train MODEL --help lists its flags)", add_help=False)
    r = sub.add_parser("resume", help="continue a run from its last checkpoint")
    r.add_argument("run", metavar="RUN", help="run id or name")
    more = r.add_mutually_exclusive_group()
    more.add_argument("--steps", type=int, help="train N more steps (default: up to the run's original total)")
    more.add_argument(
        "--minutes", type=float, metavar="X", help="train X more minutes (default: up to the run's original budget)"
    )
    r.add_argument("--device", choices=DEVICES, help="train on another device than before")
    workspace_arg(r)
    json_arg(r, "print one JSON object per event")
    r.set_defaults(handler=cmd_resume)


def _model_help(p: Param) -> str:
    default = p.default if p.type is not bool else ("on" if p.default else "off")
    return f"{p.help or p.name} (default: {default}; {p.describe_range()})"


def train_parser(model_cls: Any | None, models: Sequence[str]) -> argparse.ArgumentParser:
    desc = "Train a model family on a data source."
    if model_cls is not None:
        desc = f"Train {model_cls.title or model_cls.name} ({model_cls.name}): {model_cls.description}"
    p = Parser(prog="genstudio train", description=desc)
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
    length.add_argument("--steps", type=int, metavar="N", help=f"optimisation steps (default {DEFAULT_STEPS})")
    length.add_argument("--epochs", type=int, metavar="N", help="passes over the training split")
    length.add_argument(
        "--minutes", type=float, metavar="X", help="minutes of training; the run ends by itself at the budget"
    )
    # every other setting from its declaration in TrainSettings: default, range and help
    for s in setting_params():
        text = f"{s.help} (default {s.default})".replace("%", "%%")  # argparse formats help with %
        if s.choices:
            loop.add_argument(s.flag, choices=s.choices, help=text)
        else:
            metavar = {int: "N", float: "X"}.get(s.type, "M[,M...]")
            loop.add_argument(s.flag, type=s.type, metavar=metavar, help=text)
    output = p.add_argument_group("output")
    workspace_arg(output)
    output.add_argument("--name", help="the run's name (default MODEL-ID)")
    json_arg(output, 'print one JSON object per event, and last a line {"run": ID, ...}')
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

    kwargs: dict[str, Any] = {"steps": args.steps, "epochs": args.epochs, "minutes": args.minutes}
    for s in setting_params():
        value = getattr(args, s.name)
        if value is not None:
            kwargs[s.name] = value
    return TrainSettings(**kwargs)


def train_main(argv: list[str]) -> int:
    """``genstudio train MODEL ...``: a first pass finds MODEL, whose Config makes the flags."""
    pre = Parser(prog="genstudio train", add_help=False)
    pre.add_argument("model", nargs="?")
    workspace_arg(pre)
    known, _ = pre.parse_known_args(argv)
    workspace = open_workspace(known)
    host = make_host(workspace)
    models = host.models.names()
    model_cls = host.model(known.model) if known.model and not known.model.startswith("-") else None
    parser = train_parser(model_cls, models)
    if model_cls is None:
        if any(a in ("-h", "--help") for a in argv):
            parser.print_help()
            return EXIT_OK
        raise UsageError("genstudio train: name a model family: " + ", ".join(models))
    args = parser.parse_args(argv)

    from genstudio.data import option_values, resolve_source
    from genstudio.runs.trainer import Trainer

    source_cls, _ = resolve_source(host, args.data)
    trainer = Trainer.new(
        host,
        workspace,
        args.model,
        args.data,
        data_options=option_values(source_cls, args.data_option),
        config=_model_config(model_cls, args),
        settings=_settings(args),
        name=args.name,
        progress=None if args.json else LoadProgress(),
    )
    return drive(trainer, args.json)


def cmd_resume(args: argparse.Namespace) -> int:
    from genstudio.runs.trainer import Trainer

    workspace = open_workspace(args)
    host = make_host(workspace)
    trainer = Trainer.resume(host, workspace, args.run, steps=args.steps, minutes=args.minutes, device=args.device)
    return drive(trainer, args.json)


class LoadProgress:
    """Decoding progress of a large image folder, on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.tty and (now - self.last > 0.2 or done == total):
            self.last = now
            print(f"\rloading data {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


class ProgressBar:
    """One line on a terminal: a bar, steps, steps per second, ETA and the latest losses."""

    def __init__(self, stream: Any = None, width: int = 24):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.last_line = 0.0

    def update(self, e: Any) -> None:
        frac = fraction_done(e)
        filled = round(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        # a run trained by time counts time; its total of steps is only an estimate
        done = (
            f"{format_duration(e.elapsed)}/{format_duration(e.budget_seconds)}"
            if e.budget_seconds
            else f"{e.step}/{e.total_steps}"
        )
        line = (
            f"[{bar}] {done} {frac:4.0%} {e.steps_per_second:7.1f} steps/s "
            f"ETA {format_duration(e.eta)}  {fmt_losses(e.losses)}"
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


def drive(trainer: Any, as_json: bool) -> int:
    """Iterate a trainer's events on the terminal; the first Ctrl+C stops with a checkpoint."""
    bar = ProgressBar()
    interrupts = 0

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts > 1:
            raise KeyboardInterrupt
        trainer.stop()
        if not as_json:
            bar.message("stopping after this step with a checkpoint (Ctrl+C again to abort)")

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    last = None
    speaks = trainer.world.writer  # under torchrun, rank 0 speaks for all
    try:
        for event in trainer.events():
            last = event
            if not speaks and event.type != "failed":
                continue
            if as_json:
                out(event.to_dict())
            else:
                _show(bar, trainer, event)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    status = "failed" if last is None or last.type == "failed" else last.status
    if as_json and speaks:
        out(
            {
                "run": trainer.run.id,
                "name": trainer.run.name,
                "status": status,
                "step": trainer.step,
                "losses": getattr(last, "losses", {}),
                "folder": str(trainer.folder),
                "error": getattr(last, "message", None) if status == "failed" else None,
            }
        )
    return EXIT_FAILED if status == "failed" else EXIT_OK


def _show(bar: ProgressBar, trainer: Any, event: Any) -> None:
    kind = event.type
    if kind == "progress":
        bar.update(event)
    elif kind == "started":
        verb = "resuming" if event.resumed else "training"
        bar.message(
            f"{verb} run {event.run} ({trainer.run.name}): {event.model} on {event.data}, "
            + (f"{event.budget_seconds / 60:g} minutes" if event.budget_seconds else f"{event.total_steps} steps")
            + f" on {event.device}"
        )
        bar.message(f"run folder: {event.folder}")
    elif kind == "warning":
        bar.message(f"warning at step {event.step}: {event.message}")
    elif kind == "finished":
        bar.message(
            f"{event.status} at step {event.step} in {format_duration(event.elapsed)}: {fmt_losses(event.losses, 8)}"
        )
        bar.message(f"checkpoint: {event.checkpoint}")
    elif kind == "failed":
        bar.message(f"genstudio: run {event.run} failed at step {event.step}: {event.message}")

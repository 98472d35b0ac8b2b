"""The command line: everything the window does, headless.

::

    genstudio                                   open the window
    genstudio train MODEL --data SOURCE [...]   train a model family
    genstudio resume RUN [--steps N]            continue a run from its last checkpoint
    genstudio sample RUN [-n N] -o FILE         draw samples from a run
    genstudio runs list|show|export             the workspace's runs
    genstudio data list|show                    data sources
    genstudio sweep MODEL --data SOURCE [...]   search hyperparameters with Optuna; sweep show STUDY
    genstudio restore RUN --task T --input F    denoise, inpaint, super-resolve images
    genstudio query RUN "a | b=v"               exact Bayesian-network posteriors
    genstudio impute RUN --data F -o F          fill a CSV's empty cells
    genstudio edit RUN --attribute A ...        move examples along an attribute direction
    genstudio plugins list                      plugins and what they contribute
    genstudio plugins install|uninstall SPEC    add or remove a plugin package (pip, host pinned)
    genstudio plugins enable|disable NAME       switch a plugin on or off
    genstudio plugins new NAME [--dir DIR]      start a plugin package from the scaffold

Exit status: 0 on success, 2 for a usage error or bad input, 1 for a failed run. Each
command module adds its parsers (``add_parsers``) and handlers; this module dispatches.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

from genstudio import __version__
from genstudio.api import GenStudioError
from genstudio.cli import apply, data, evaluate, plugins, runs, sweep, train
from genstudio.cli.common import EXIT_OK, EXIT_USAGE, Parser, UsageError, workspace_arg

COMMAND_MODULES = (train, runs, data, evaluate, sweep, apply, plugins)


def base_parser() -> argparse.ArgumentParser:
    p = Parser(prog="genstudio", description="GenStudio: train, inspect and evaluate generative models.")
    p.add_argument("--version", action="version", version=f"genstudio {__version__}")
    workspace_arg(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return p


def open_window(workspace: str | None) -> int:
    """``genstudio`` with no command: the window, where PySide6 is installed."""
    if importlib.util.find_spec("PySide6") is None:
        raise UsageError(
            "the window needs PySide6: pip install 'genstudio[gui]' (every command works without it; see genstudio --help)"
        )
    from genstudio.gui.app import run_app

    return run_app(workspace)


def _split_workspace(argv: list[str]) -> tuple[list[str], list[str]]:
    """Leading ``--workspace DIR`` arguments, and the rest."""
    lead: list[str] = []
    rest = list(argv)
    while rest and rest[0].startswith("--workspace"):
        lead.append(rest.pop(0))
        if "=" not in lead[-1] and rest:
            lead.append(rest.pop(0))
    return lead, rest


def dispatch(argv: list[str]) -> int:
    lead, rest = _split_workspace(argv)
    # `train` is parsed in two passes: its flags depend on the model family it names
    if rest and rest[0] == "train":
        return train.train_main(rest[1:] + lead)
    args = base_parser().parse_args(argv)
    if args.command is None:
        return open_window(args.workspace)
    return args.handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return dispatch(argv)
    except GenStudioError as exc:
        print(f"genstudio: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ngenstudio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


__all__ = ["UsageError", "main"]

"""What every command shares: argparse that raises, workspace and plugin host, output helpers."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from genstudio.api import GenStudioError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(GenStudioError):
    pass


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so every usage error exits 2 the same way."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def workspace_arg(p: Any, top: bool = False) -> None:
    # SUPPRESS below the top: a subcommand's default must not undo `genstudio --workspace DIR CMD`
    p.add_argument(
        "--workspace",
        metavar="DIR",
        default=None if top else argparse.SUPPRESS,
        help="workspace folder (default: $GENSTUDIO_WORKSPACE or the user data folder)",
    )


def json_arg(p: argparse.ArgumentParser, what: str = "print JSON") -> None:
    p.add_argument("--json", action="store_true", help=what)


def open_workspace(args: argparse.Namespace) -> Any:
    from genstudio.runs.workspace import Workspace

    return Workspace(getattr(args, "workspace", None))


def make_host(workspace: Any) -> Any:
    from genstudio.host import create_plugin_manager

    host = create_plugin_manager(workspace.root)
    for info in host.failed():
        print(f"genstudio: warning: plugin {info.name!r} failed: {info.error}", file=sys.stderr)
    return host


def out(obj: Any) -> None:
    print(json.dumps(obj, default=str), flush=True)


def fmt_losses(losses: dict[str, float], limit: int = 4) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in list(losses.items())[:limit])


def ago(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]

"""``genstudio data list|show``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from genstudio.api import params
from genstudio.cli.common import EXIT_OK, UsageError, json_arg, make_host, open_workspace, out, workspace_arg
from genstudio.cli.train import LoadProgress
from genstudio.data.catalogue import CATALOGUE
from genstudio.data.grid import PICTURE_FORMATS, picture_format


def add_parsers(sub: Any) -> None:
    data = sub.add_parser("data", help="data sources")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    dl = data_sub.add_parser("list", help="built-in sources and file formats, with their options")
    json_arg(dl)
    workspace_arg(dl)
    ds = data_sub.add_parser("show", help="load a source and describe it")
    ds.add_argument("source", metavar="SOURCE", help="a built-in source's name or a path")
    ds.add_argument("--data-option", action="append", default=[], metavar="K=V", help="a source option (repeatable)")
    ds.add_argument(
        "--grid", metavar="FILE.png", help="save a picture of the first examples (.png, or .jpg, .bmp, .webp...)"
    )
    workspace_arg(ds)
    json_arg(ds)
    dg = data_sub.add_parser(
        "get",
        help="download a catalogue dataset (verified against its published checksums; resumes)",
        description="Download a standard dataset into the user data folder (or --dir), verified against its "
        "published checksums; an interrupted download resumes. GENSTUDIO_DATASETS_MIRROR points every download "
        "at another base URL (a folder per dataset).",
    )
    dg.add_argument("name", metavar="NAME", help="a catalogue dataset: " + ", ".join(CATALOGUE))
    dg.add_argument("--dir", metavar="DIR", help="where to put its files (default: the user data folder)")
    data.set_defaults(handler=cmd_data)


def cmd_data(args: argparse.Namespace) -> int:
    from genstudio.data import load_dataset
    from genstudio.data.splits import split_counts

    if args.data_command == "get":
        return cmd_data_get(args)
    workspace = open_workspace(args)
    host = make_host(workspace)
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
                            # free text has no range to show
                            "allowed": None if p.type is str and p.choices is None else p.describe_range(),
                        }
                        for p in params(cls.Options)
                    ],
                }
            )
        catalogue = catalogue_status()
        for it in items:
            it["catalogue"] = next((c for c in catalogue if c["name"] == it["name"]), None)
        if args.json:
            out(items)
            return EXIT_OK
        for group in ("built-in", "file format"):
            print(
                "Built-in sources (--data NAME):"
                if group == "built-in"
                else "\nFile formats (--data PATH, recognised by content):"
            )
            for it in (i for i in items if i["kind"] == group and not (i["catalogue"] and i["name"] != "mnist")):
                print(f"  {it['name']:14} {it['description']}")
                for o in it["options"]:
                    allowed = f" ({o['allowed']})" if o["allowed"] else ""
                    print(f"  {'':14}   {(o['name'] + '=' + str(o['default'])):18} {o['help']}{allowed}")
        print("\nCatalogue (genstudio data get NAME; then --data NAME):")
        for c in catalogue:
            where = f"here: {c['folder']}" if c["present"] else "not here"
            if c["name"] == "mnist" and not c["present"]:
                where += " (the built-in 10,000 are used)"
            print(f"  {c['name']:14} {c['title']}; {where}")
        return EXIT_OK
    if args.grid and picture_format(args.grid) is None:
        raise UsageError(f"--grid {args.grid}: write a picture file: {', '.join(PICTURE_FORMATS)}")
    data = load_dataset(host, args.source, args.data_option, cache_dir=workspace.cache_dir, progress=LoadProgress())
    spec = data.spec
    n_train, n_test = split_counts(data)
    info = {
        **spec.to_dict(),
        "splits": {"train": n_train, "test": n_test} if n_test else None,
        "labelled": data.y is not None,
        "warnings": data.warnings,
        "dtype": str(data.x.dtype),
    }
    if args.grid:
        from genstudio.data.grid import picture, save_picture

        sample = data.as_float(slice(0, 64 if spec.kind == "image" else 5000))
        scale = 1 if spec.kind != "image" else max(1, min(4, 64 // max(spec.shape[-2:])))
        save_picture(args.grid, picture(sample), scale=scale)
        info["grid"] = str(args.grid)
    if args.json:
        out(info)
        return EXIT_OK
    print(f"{spec.source}: {spec.count} {spec.kind} examples shaped {spec.shape}")
    if n_test:
        print(f"  its own split: {n_train} train, {n_test} test (the test split validates and is evaluated on)")
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


def catalogue_status() -> list[dict[str, Any]]:
    """Each catalogue set: whether it is on this machine and where."""
    from genstudio.data.download import is_present, recorded_folder

    rows = []
    for e in CATALOGUE.values():
        folder = is_present(e)
        rows.append(
            {
                "name": e.name,
                "title": e.title,
                "present": folder is not None,
                "folder": str(folder or recorded_folder(e.name)),
                "bytes": sum(f.size for f in e.files),
                "licence": e.licence,
            }
        )
    return rows


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def human_time(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds + 0.5)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


class DownloadBar:
    """``file  [#####-----]  12.3 MB / 60.1 MB  4.1 MB/s  0:11 left`` on stderr."""

    def __init__(self, stream: Any = None, width: int = 24):
        self.stream = stream or sys.stderr
        self.width, self.tty, self.last, self.file = width, self.stream.isatty(), 0.0, ""

    def __call__(self, t: Any) -> None:
        now = time.monotonic()
        new_file = t.file != self.file
        if not (new_file or now - self.last > (0.1 if self.tty else 5.0)):
            return
        self.last, self.file = now, t.file
        frac = min(1.0, t.done / t.total) if t.total else 0.0
        bar = "#" * round(frac * self.width) + "-" * (self.width - round(frac * self.width))
        total = human_bytes(t.total) if t.total else "?"
        line = (
            f"{t.file:<28} [{bar}] {human_bytes(t.done)} / {total}  {human_bytes(t.speed)}/s  {human_time(t.eta)} left"
        )
        self.stream.write(("\r\033[K" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.file:
            self.stream.write("\n")
            self.stream.flush()


def cmd_data_get(args: argparse.Namespace) -> int:
    from genstudio.data.catalogue import entry
    from genstudio.data.download import fetch

    e = entry(args.name)
    bar = DownloadBar()
    try:
        folder = fetch(e, Path(args.dir) if args.dir else None, progress=bar)
    finally:
        bar.close()
    print(f"{e.name}: {len(e.files)} files verified in {folder}")
    print(f"  use it with --data {e.name}; licence: {e.licence}; cite: {e.citation}")
    return EXIT_OK

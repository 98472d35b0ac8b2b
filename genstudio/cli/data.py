"""``genstudio data list|show``."""

from __future__ import annotations

import argparse
from typing import Any

from genstudio.api import params
from genstudio.cli.common import EXIT_OK, UsageError, json_arg, make_host, open_workspace, out, workspace_arg
from genstudio.cli.train import LoadProgress
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
    data.set_defaults(handler=cmd_data)


def cmd_data(args: argparse.Namespace) -> int:
    from genstudio.data import load_dataset
    from genstudio.data.splits import split_counts

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
        if args.json:
            out(items)
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
                    allowed = f" ({o['allowed']})" if o["allowed"] else ""
                    print(f"  {'':14}   {(o['name'] + '=' + str(o['default'])):18} {o['help']}{allowed}")
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

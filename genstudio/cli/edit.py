"""``genstudio edit``: move examples along an attribute direction of a run's latent space."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.cli.common import EXIT_OK, UsageError, json_arg, make_host, open_workspace, out, workspace_arg
from genstudio.cli.image_files import write_images


def add_parser(sub: Any) -> None:
    e = sub.add_parser(
        "edit",
        help="edit examples along an attribute direction (difference of mean latent codes) as a grid",
        description=(
            "The direction from the examples whose ATTRIBUTE is FROM to those where it is TO is the difference of "
            "their mean latent codes. The grid shows examples of FROM (one per row) moved along it, from 0 to "
            "1.5 times the direction. ATTRIBUTE is 'label' or a known factor of the data (shapes: scale, "
            "orientation, pos_x, pos_y, shape); a factor's LABEL is a value, or low / high."
        ),
    )
    e.add_argument("run", metavar="RUN", help="run id or name (its family needs encode and decode)")
    e.add_argument("--attribute", required=True, metavar="NAME")
    e.add_argument("--from", dest="source", required=True, metavar="LABEL")
    e.add_argument("--to", dest="target", required=True, metavar="LABEL")
    e.add_argument("-o", "--output", required=True, metavar="FILE.png", help="the grid (.png) or the edits (.npy)")
    e.add_argument("-n", type=int, default=8, metavar="N", help="examples, one row each (default 8)")
    e.add_argument("--steps", type=int, default=7, metavar="K", help="columns from 0 to --scale (default 7)")
    e.add_argument("--scale", type=float, default=1.5, help="the last column's multiple of the direction")
    e.add_argument("--data", metavar="SOURCE", help="data to group (default: the run's own)")
    e.add_argument("--data-option", action="append", default=[], metavar="K=V")
    e.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    workspace_arg(e)
    json_arg(e, "print one JSON object: the groups' sizes and the direction's length")
    e.set_defaults(handler=cmd_edit)


def cmd_edit(args: argparse.Namespace) -> int:
    from genstudio.apply.attributes import direction, edit_examples
    from genstudio.data import load_dataset
    from genstudio.runs.inference import load_model, load_run_data

    if Path(args.output).suffix.lower() not in (".png", ".npy"):
        raise UsageError(f"-o {args.output}: write a .png or a .npy")
    if args.n < 1 or args.steps < 2:
        raise UsageError("-n must be at least 1 and --steps at least 2")
    workspace = open_workspace(args)
    host = make_host(workspace)
    loaded = load_model(host, workspace, args.run, device=args.device)
    if args.data:
        data = load_dataset(host, args.data, args.data_option, cache_dir=workspace.cache_dir)
    else:
        data = load_run_data(host, workspace, loaded.run)
    if tuple(data.spec.shape) != tuple(loaded.model.spec.shape):
        raise UsageError(f"the data's examples are shaped {data.spec.shape}; the run takes {loaded.model.spec.shape}")
    d = direction(loaded.model, data, args.attribute, args.source, args.target)
    alphas = [float(a) for a in np.linspace(0.0, args.scale, args.steps)]
    grid = edit_examples(loaded.model, data, d, n=args.n, alphas=alphas)  # (n, steps, ...)
    write_images(args.output, grid.transpose(1, 0, *range(2, grid.ndim)))
    report = {
        "run": loaded.run.id,
        "attribute": args.attribute,
        "from": args.source,
        "to": args.target,
        "examples": list(d.counts),
        "norm": float(d.vector.norm()),
        "alphas": alphas,
        "output": str(args.output),
    }
    if args.json:
        out(report)
    else:
        print(
            f"{args.attribute}: {args.source} ({d.counts[0]} examples) -> {args.target} ({d.counts[1]}), "
            f"direction length {report['norm']:.3f}; wrote {grid.shape[0]} rows x {grid.shape[1]} steps to {args.output}",
            file=sys.stderr,
        )
    return EXIT_OK

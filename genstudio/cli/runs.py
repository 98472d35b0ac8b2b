"""``genstudio sample`` and ``genstudio runs list|show|export``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from genstudio.cli.common import (
    EXIT_OK,
    UsageError,
    ago,
    fmt_losses,
    json_arg,
    make_host,
    open_workspace,
    out,
    short,
    table,
    workspace_arg,
)
from genstudio.training.device import DEVICES


def add_parsers(sub: Any) -> None:
    s = sub.add_parser("sample", help="draw samples from a run's last checkpoint")
    s.add_argument("run", metavar="RUN", help="run id or name")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="FILE.png (a grid), FILE.npy (float32, shaped like the data) or, for tabular data, FILE.csv",
    )
    s.add_argument("--device", default="cpu", choices=DEVICES, help="device (default cpu)")
    what = s.add_mutually_exclusive_group()
    what.add_argument(
        "--chain",
        action="store_true",
        help="the sampling process of -n samples (models with sample_chain): .npy (frames, n, ...) float32, "
        "or .png with one row per frame (at most 10 frames, first and last included)",
    )
    what.add_argument(
        "--interpolate",
        metavar="A,B",
        help="decode --steps latent codes from the prior draw of seed A to that of seed B (models with decode): "
        ".npy (steps, ...) float32, or .png in one row",
    )
    s.add_argument("--steps", type=int, default=10, help="points along --interpolate, ends included (default 10)")
    s.add_argument(
        "--method", default="spherical", choices=("spherical", "linear"), help="--interpolate path (default spherical)"
    )
    workspace_arg(s)
    s.set_defaults(handler=cmd_sample)

    runs = sub.add_parser("runs", help="list, show and export runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    rl = runs_sub.add_parser("list", help="the workspace's runs")
    workspace_arg(rl)
    json_arg(rl)
    rs = runs_sub.add_parser("show", help="one run: settings, command, losses, checkpoints")
    rs.add_argument("run", metavar="RUN")
    workspace_arg(rs)
    json_arg(rs)
    re_ = runs_sub.add_parser("export", help="a run's logged scalars as CSV")
    re_.add_argument("run", metavar="RUN")
    re_.add_argument("--csv", required=True, metavar="FILE", help="write step,key,value,wall_time rows here")
    workspace_arg(re_)
    runs.set_defaults(handler=cmd_runs)


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from genstudio.api import inference_mode
    from genstudio.data.grid import picture, save_png
    from genstudio.files import atomic_write
    from genstudio.host.blame import blame
    from genstudio.runs.inference import load_model, sample_array

    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".npy", ".csv"):
        raise UsageError(f"-o {out}: write a .png (a grid) or a .npy (the raw samples); for tabular data, a .csv")
    if args.n < 1:
        raise UsageError("-n must be at least 1")
    workspace = open_workspace(args)
    host = make_host(workspace)
    loaded = load_model(host, workspace, args.run, device=args.device)
    tabular = loaded.model.spec.kind == "tabular"
    if tabular and suffix == ".png":
        raise UsageError(f"-o {out}: run {loaded.run.id} models tabular data; write a .csv (rows) or a .npy (codes)")
    if not tabular and suffix == ".csv":
        raise UsageError(f"-o {out}: only runs on tabular data sample to .csv; write a .png or a .npy")
    for problem in loaded.damaged:
        print(f"warning: {problem}", file=sys.stderr)
    if args.chain or args.interpolate:
        return _process(args, loaded, out, suffix)
    g = torch.Generator(device=loaded.device).manual_seed(args.seed)
    spec = loaded.model.spec
    temperature = getattr(loaded.model.config, "temperature", None)  # a flow's, say
    with blame("sampling (sample)", host.plugin_of_model(loaded.run.model)), inference_mode(loaded.model):
        chunks = [loaded.model.sample(min(512, args.n - i), generator=g) for i in range(0, args.n, 512)]
        arr = np.concatenate(
            [sample_array(c, spec, offset=512 * i, temperature=temperature) for i, c in enumerate(chunks)]
        )
    if suffix == ".csv":
        from genstudio.data.tabular import write_csv

        # continuous columns get values drawn within their bins, from the same seed
        write_csv(out, loaded.model.spec, np.rint(arr).astype(np.int64), rng=np.random.default_rng(args.seed))
    elif suffix == ".npy":
        atomic_write(out, lambda f: np.save(f, arr, allow_pickle=False))
    else:
        save_png(out, picture(arr), scale=1 if arr.ndim != 4 else max(1, min(4, 64 // max(arr.shape[-2:]))))
    print(f"wrote {len(arr)} samples from run {loaded.run.id} (step {loaded.step}) to {out}")
    return EXIT_OK


#: Rows of a chain's picture: the first frame, the last, and evenly spaced ones between.
CHAIN_ROWS = 10


def _process(args: argparse.Namespace, loaded: Any, out: Path, suffix: str) -> int:
    """``sample --chain`` and ``sample --interpolate``: what the window's Samples and Latent
    tabs show, written to ``out``."""
    import numpy as np

    from genstudio.api import capabilities
    from genstudio.data.grid import make_grid, save_png
    from genstudio.files import atomic_write
    from genstudio.runs import inference

    model, run = loaded.model, loaded.run
    caps = capabilities(model)
    if suffix == ".csv":
        raise UsageError(f"-o {out}: write a .npy (every frame) or a .png")
    if args.chain:
        if "sample_chain" not in caps:
            raise UsageError(f"run {run.id}: the {run.model} family has no sampling chain (sample_chain)")
        arr = inference.sample_chain(model, args.n, args.seed)  # (F, n, ...)
        rows = sorted({round(i) for i in np.linspace(0, len(arr) - 1, min(CHAIN_ROWS, len(arr)))})
        shown, what = arr[rows], f"a chain of {len(arr)} frames of {args.n} samples"
    else:
        if "decode" not in caps:
            raise UsageError(f"run {run.id}: the {run.model} family has no decoder to interpolate with")
        try:
            a, b = (int(v) for v in args.interpolate.split(","))
        except ValueError:
            raise UsageError(f"--interpolate {args.interpolate}: give two seeds, A,B (e.g. 0,1)") from None
        if args.steps < 2:
            raise UsageError("--steps must be at least 2")
        codes = inference.prior_codes(model, (a, b))
        arr = inference.interpolate(model, codes[0], codes[1], args.steps, args.method)  # (steps, ...)
        shown, what = arr[None], f"{args.steps} points from seed {a} to seed {b} ({args.method})"
    if suffix == ".npy":
        atomic_write(out, lambda f: np.save(f, arr, allow_pickle=False))
    elif arr.ndim - (1 if args.chain else 0) != 4:
        raise UsageError(f"-o {out}: run {run.id} does not model images; write a .npy")
    else:
        n_rows, n_cols = shown.shape[0], shown.shape[1]
        grid = make_grid(shown.reshape(n_rows * n_cols, *shown.shape[2:]), nrow=n_cols)
        save_png(out, grid, scale=max(1, min(4, 64 // max(shown.shape[-2:]))))
    print(f"wrote {what} from run {run.id} (step {loaded.step}) to {out}")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from genstudio.runs.store import RunStore
    from genstudio.training import checkpoint as ckpt

    store = RunStore(open_workspace(args))
    if args.runs_command == "list":
        runs = store.list_runs()
        if args.json:
            out([r.to_dict() for r in runs])
            return EXIT_OK
        if not runs:
            print(f"no runs in {store.workspace.root}")
            return EXIT_OK
        rows = [
            [
                r.id,
                r.name,
                r.model,
                short(r.data),
                f"{r.step}/{r.total_steps or '?'}",
                r.live_status,
                ago(r.created),
                fmt_losses(r.summary, 2),
            ]
            for r in runs
        ]
        print(table(rows, ["ID", "NAME", "MODEL", "DATA", "STEPS", "STATUS", "CREATED", "LAST LOSSES"]))
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
            out(info)
            return EXIT_OK
        print(f"run {run.id}: {run.name}")
        for key in ("model", "plugin", "data", "status", "device", "folder"):
            print(f"  {key:10} {info[key]}")
        print(f"  {'steps':10} {run.step}/{run.total_steps}")
        print(f"  {'created':10} {ago(run.created)}")
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

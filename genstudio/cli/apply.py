"""``genstudio restore``, ``query``, ``impute`` and ``edit``: trained models put to work."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.cli.common import EXIT_OK, UsageError, json_arg, make_host, open_workspace, out, workspace_arg
from genstudio.cli.image_files import read_images, write_images

DEVICES = ("auto", "cpu", "cuda", "mps")


def add_parsers(sub: Any) -> None:
    r = sub.add_parser(
        "restore",
        help="denoise, inpaint or raise the resolution of images with a trained model",
        description=(
            "Restore damaged images with a run's model. --input is the damaged observation (PNG, or .npy shaped "
            "like the run's data: one example or many); --sigma, --mask/--box and --factor describe its damage. "
            "With --damage the input is clean: it is damaged first (seeded), and PSNR and SSIM of the damaged "
            "and the restored images against it are printed. The solver is chosen by what the model can do "
            "(docs/apply.md)."
        ),
    )
    r.add_argument("run", metavar="RUN", help="run id or name")
    r.add_argument("--task", required=True, choices=("denoise", "inpaint", "superres"))
    r.add_argument("--input", required=True, metavar="FILE", help="PNG or .npy: the observation (clean with --damage)")
    r.add_argument("--sigma", type=float, default=None, metavar="S", help="noise level in [0, 1] pixel units")
    r.add_argument("--mask", metavar="FILE", help="inpaint: PNG or .npy (H, W), white (1) where pixels are missing")
    r.add_argument("--box", metavar="X,Y,W,H", help="inpaint: the missing rectangle (column, row, width, height)")
    r.add_argument("--factor", type=int, default=None, metavar="F", help="superres: the downsampling factor")
    r.add_argument("--damage", action="store_true", help="the input is clean: damage it first, then score")
    r.add_argument("-n", type=int, default=1, metavar="N", help="restorations of each input (default 1)")
    r.add_argument("--seed", type=int, default=0, help="seed of the damage and the solver (default 0)")
    r.add_argument("--solver", metavar="NAME", help="force a solver: ddrm, repaint, latent, gradient, gibbs, ...")
    r.add_argument("--steps", type=int, default=None, metavar="K", help="solver steps (default: the solver's)")
    r.add_argument("-o", "--output", required=True, metavar="FILE", help="PNG or .npy, in the input's shape")
    r.add_argument("--device", default="auto", choices=DEVICES)
    workspace_arg(r)
    json_arg(r, "print one JSON object: solver, PSNR and SSIM (with --damage), the output")
    r.set_defaults(handler=cmd_restore)

    q = sub.add_parser(
        "query",
        help='exact posteriors of a Bayesian network run: "lung | smoke=yes, xray=yes"',
        description="Exact posterior of the query columns given the evidence, by variable elimination.",
    )
    q.add_argument("run", metavar="RUN", help="run id or name")
    q.add_argument("query", metavar="QUERY", help='"col[, col] | col=value, col=value" (the evidence may be empty)')
    q.add_argument("--device", default="cpu", choices=DEVICES)
    workspace_arg(q)
    json_arg(q, "print {column: {value: probability}}")
    q.set_defaults(handler=cmd_query)

    i = sub.add_parser(
        "impute",
        help="fill the empty cells of a CSV with a Bayesian network's most probable values",
        description=(
            "Fill the empty cells (or NA, ?, null) of a CSV with the run's columns: each row's missing cells get "
            "their jointly most probable values given the row's other cells, or a draw from that posterior "
            "with --sample. Filled continuous columns get their bin's midpoint (a value drawn in it with --sample)."
        ),
    )
    i.add_argument("run", metavar="RUN", help="run id or name")
    i.add_argument("--data", required=True, metavar="FILE.csv", help="a CSV with a header naming the run's columns")
    i.add_argument("-o", "--output", required=True, metavar="FILLED.csv")
    i.add_argument("--sample", action="store_true", help="draw the missing cells from their posterior")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--device", default="cpu", choices=DEVICES)
    workspace_arg(i)
    i.set_defaults(handler=cmd_impute)

    from genstudio.cli import edit

    edit.add_parser(sub)


# --------------------------------------------------------------------------------------
# restore


def _mask(path: str, shape: tuple[int, ...]) -> np.ndarray:
    """The file's missing-pixel mask (white/1 = missing) as the observed mask (1 = kept)."""
    m = read_images(path, (1,), "--mask")
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise UsageError(f"--mask {path}: shaped {m.shape}; a mask is one image (H, W)")
    if m.shape != tuple(shape[-2:]):
        raise UsageError(
            f"--mask {path}: the mask is {m.shape[0]}x{m.shape[1]} pixels; the run's images are {shape[1]}x{shape[2]}"
        )
    return (m <= 0.5).astype(np.float32)


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--box {text!r}: write X,Y,W,H as four integers (column, row, width, height)") from None
    return x, y, w, h


def cmd_restore(args: argparse.Namespace) -> int:
    import torch

    from genstudio.apply.operators import Noise, make_operator
    from genstudio.apply.restore import check_observation, restore
    from genstudio.runs.inference import load_model

    suffix = Path(args.output).suffix.lower()
    if suffix not in (".png", ".npy"):
        raise UsageError(f"-o {args.output}: write a .png or a .npy")
    if args.n < 1:
        raise UsageError("-n must be at least 1")
    workspace = open_workspace(args)
    host = make_host(workspace)
    loaded = load_model(host, workspace, args.run, device=args.device)
    spec = loaded.model.spec
    if spec.kind != "image":
        raise UsageError(f"run {loaded.run.id} models {spec.kind} data; restore works on images")
    shape = tuple(spec.shape)
    mask = _mask(args.mask, shape) if args.mask else None
    box = _box(args.box) if args.box else None
    if args.task != "inpaint" and (mask is not None or box is not None):
        raise UsageError(f"--mask and --box describe inpainting, not --task {args.task}")
    if args.task != "superres" and args.factor is not None:
        raise UsageError(f"--factor describes super-resolution, not --task {args.task}")
    op = make_operator(args.task, shape, sigma=args.sigma or 0.0, mask=mask, box=box, factor=args.factor)
    raw = read_images(args.input, shape, "--input")
    clean = None
    generator = torch.Generator().manual_seed(args.seed)
    if args.damage:
        clean = check_observation(raw, Noise(0.0), shape, f"--input {args.input}")  # clean: the run's shape
        y = op.damage(clean, generator)
    else:
        y = check_observation(raw, op, shape, f"--input {args.input}")
    progress = None
    if not args.json:
        from genstudio.cli.evaluate import StageProgress

        bar = StageProgress()

        def progress(done: int, total: int) -> None:
            bar("restoring", done, total)

    try:
        result = restore(
            loaded.model,
            op,
            y,
            n=args.n,
            seed=args.seed,
            solver=args.solver,
            steps=args.steps,
            clean=clean,
            progress=progress,
        )
    finally:
        if progress is not None:
            bar.close()
    restored = result.restored  # (n, N, C, H, W)
    single = raw.ndim == len(shape)  # one example in, one out
    arr = restored[:, 0] if single else restored
    if args.n == 1:
        arr = arr[0]
    write_images(args.output, arr)
    report = {
        "run": loaded.run.id,
        "model": loaded.run.model,
        "task": args.task,
        "damage": op.describe(),
        "solver": result.solver,
        "n": args.n,
        "output": str(args.output),
        **result.scores,
    }
    if args.json:
        out(report)
    else:
        print(f"restored {restored.shape[1]} image(s) x {args.n} with {result.solver_title} ({op.describe()})")
        if result.scores:
            s = result.scores
            print(f"damaged:  PSNR {s['psnr_damaged']:.2f} dB  SSIM {s['ssim_damaged']:.4f}")
            print(f"restored: PSNR {s['psnr_restored']:.2f} dB  SSIM {s['ssim_restored']:.4f}")
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------------------
# query and impute


def _network(args: argparse.Namespace) -> tuple[Any, Any]:
    from genstudio.apply.bayes import network_of
    from genstudio.runs.inference import load_model

    workspace = open_workspace(args)
    host = make_host(workspace)
    loaded = load_model(host, workspace, args.run, device=args.device)
    return loaded, network_of(loaded.model)


def cmd_query(args: argparse.Namespace) -> int:
    from genstudio.apply.bayes import parse_query, posterior

    loaded, net = _network(args)
    query, evidence = parse_query(args.query, net)
    post = posterior(net, query, evidence)
    if args.json:
        out(post)
        return EXIT_OK
    given = ", ".join(f"{net.names[c]}={net.categories[c][k]}" for c, k in evidence.items()) or "no evidence"
    print(f"run {loaded.run.id} ({loaded.run.model}), given {given}:")
    for name, dist in post.items():
        width = max(len(v) for v in dist)
        print(f"  {name}")
        for value, p in dist.items():
            print(f"    {value:<{width}}  {p:.6f}  {'#' * round(40 * p)}")
    return EXIT_OK


def cmd_impute(args: argparse.Namespace) -> int:
    from genstudio.apply.tabular import fill_csv

    if Path(args.output).suffix.lower() != ".csv":
        raise UsageError(f"-o {args.output}: write a .csv file")
    loaded, net = _network(args)
    filled, total = fill_csv(args.data, args.output, net, loaded.model.spec, sample=args.sample, seed=args.seed)
    how = "drawn from their posterior" if args.sample else "with their most probable values"
    print(f"filled {filled} empty cell(s) of {total} row(s) {how}; wrote {args.output}", file=sys.stderr)
    return EXIT_OK

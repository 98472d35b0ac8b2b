"""Smoke test of the desktop bundle: ``python packaging/smoke.py [dist/GenStudio]``.

Runs the bundled program, never the Python it was built from: ``--version``, the plugin list
(every built-in loads without entry points), a short headless training, sampling from it,
and the window offscreen until its plugins and default data are loaded. Reports each step
and the bundle's size to ``bench/results/bundle.json``; exits 1 if a step fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import write_result  # noqa: E402 - after the path is set

EXPECTED_FAMILIES = {"vae", "gan", "rbm", "flow", "diffusion", "bayesnet"}


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def largest(folder: Path, n: int = 8) -> list[dict]:
    sizes = [(p.stat().st_size, p) for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return [{"file": str(p.relative_to(folder)), "mb": round(s / 1e6, 1)} for s, p in sorted(sizes, reverse=True)[:n]]


def step(name: str, argv: list[str], env: dict, timeout: float, check: Callable[[str], str | None]) -> dict:
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = None, exc.stdout or "", f"timed out after {timeout} s"
        out = out.decode() if isinstance(out, bytes) else out
    seconds = round(time.perf_counter() - started, 2)
    problem = None
    if code != 0:
        problem = f"exit {code}: {(err or out).strip()[-600:]}"
    else:
        try:
            problem = check(out)
        except Exception as exc:  # a check that cannot even read the output failed
            problem = f"{type(exc).__name__}: {exc}"
    result = {"step": name, "ok": problem is None, "seconds": seconds, "problem": problem}
    print(
        f"{'ok  ' if problem is None else 'FAIL'} {name} ({seconds} s){': ' + problem if problem else ''}", flush=True
    )
    return result


def main() -> int:
    bundle = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "dist" / "GenStudio").resolve()
    program = bundle / ("GenStudio.exe" if os.name == "nt" else "GenStudio")
    if not program.exists():
        print(f"no bundle at {program}: run make bundle", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="genstudio-bundle-smoke-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GENSTUDIO_"))},
        "QT_QPA_PLATFORM": "offscreen",
        "GENSTUDIO_WORKSPACE": str(work / "ws"),
        "GENSTUDIO_CONFIG_DIR": str(work / "config"),
        "HOME": str(work),  # the window's settings land here, not in the user's
    }

    def families(out: str) -> str | None:
        plugins = {p["name"]: p for p in json.loads(out)}
        failed = [f"{n}: {p['error']}" for n, p in plugins.items() if p["error"]]
        models = {m for p in plugins.values() for m in p["contributes"].get("models", [])}
        if failed:
            return "failed plugins: " + "; ".join(failed)
        return None if models >= EXPECTED_FAMILIES else f"missing families: {EXPECTED_FAMILIES - models}"

    def trained(out: str) -> str | None:
        last = json.loads(out.splitlines()[-1])
        return None if last["status"] == "finished" and last["step"] == 20 else f"ended {last}"

    def sampled(out: str) -> str | None:
        return None if (work / "samples.png").stat().st_size > 0 else "no samples.png"

    def window(out: str) -> str | None:
        line = next((x for x in out.splitlines() if x.startswith("GenStudio window ready")), None)
        if line is None:
            return "the window never said it was ready"
        return None if "visible=True" in line and "failed plugins: none" in line else line

    steps = [
        step("version", [str(program), "--version"], env, 120, lambda out: None if "genstudio" in out else out),
        step("plugins list", [str(program), "plugins", "list", "--json"], env, 300, families),
        step(
            "train vae on digits, 20 steps, headless",
            [str(program), "train", "vae", "--data", "digits", "--steps", "20", "--json"],
            env,
            600,
            trained,
        ),
        step(
            "sample the run",
            [str(program), "sample", "1", "-n", "16", "-o", str(work / "samples.png")],
            env,
            300,
            sampled,
        ),
        step("window offscreen", [str(program)], {**env, "GENSTUDIO_SMOKE_QUIT": "1"}, 180, window),
    ]
    size = folder_size(bundle)
    result = {
        "bundle": str(bundle),
        "size_mb": round(size / 1e6, 1),
        "files": sum(1 for p in bundle.rglob("*") if p.is_file()),
        "largest_files": largest(bundle),
        "steps": steps,
        "ok": all(s["ok"] for s in steps),
    }
    write_result("bundle", result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

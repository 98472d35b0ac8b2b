"""Nothing GenStudio reads is ever unpickled: not checkpoints, not data sets, not plugin
metadata. Unpickling a file runs whatever code its author put in it, so a shared checkpoint
or .npy file would be a way in. The source is scanned, not sampled."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "genstudio").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")])
TEMPLATES = sorted((ROOT / "genstudio" / "scaffold" / "template").rglob("*.tmpl"))
UNPICKLERS = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
# TorchScript archives load through TorchScript's own deserializer, which rebuilds TorchScript
# code and tensors only; it never calls arbitrary Python. The Inception weights come so.
JIT_LOAD_ALLOWED = {"genstudio/metrics/inception.py"}


def _name(node: ast.AST) -> str:
    """``torch.jit.load`` for the expression ``torch.jit.load``."""
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


def _keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else "<expression>"
    return None


def problems(path: Path, root: Path = ROOT) -> list[str]:
    rel = path.relative_to(root).as_posix()
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{rel}:{node.lineno} imports {m}" for m in modules if m.split(".")[0] in UNPICKLERS]
        if not isinstance(node, ast.Call):
            continue
        called = _name(node.func)
        if _keyword(node, "allow_pickle") not in (None, False):
            found.append(f"{rel}:{node.lineno} {called}(allow_pickle=...) may unpickle")
        if called in ("torch.load", "torch.serialization.load") and _keyword(node, "weights_only") is not True:
            found.append(f"{rel}:{node.lineno} {called} without weights_only=True")
        if called.endswith("read_pickle"):
            found.append(f"{rel}:{node.lineno} {called}")
        if called == "torch.jit.load" and rel not in JIT_LOAD_ALLOWED:
            found.append(f"{rel}:{node.lineno} torch.jit.load outside {sorted(JIT_LOAD_ALLOWED)}")
    return found


def test_the_scan_covers_the_code():
    assert len(SOURCES) > 40 and TEMPLATES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_source_file_unpickles(path):
    assert problems(path) == []


def test_the_scan_catches_what_it_should(tmp_path):
    bad = tmp_path / "genstudio" / "bad.py"
    bad.parent.mkdir()
    bad.write_text(
        "import pickle\nimport numpy as np\nimport torch\n"
        "np.load('x.npy', allow_pickle=True)\ntorch.load('x.pt')\ntorch.load('x.pt', weights_only=False)\n"
        "torch.load('x.pt', weights_only=True)\n"
    )
    found = problems(bad, tmp_path)
    assert [f.split(" ", 1)[1] for f in found] == [
        "imports pickle",
        "np.load(allow_pickle=...) may unpickle",
        "torch.load without weights_only=True",
        "torch.load without weights_only=True",
    ]


def test_the_scaffold_templates_do_not_unpickle():
    for path in TEMPLATES:
        text = path.read_text()
        assert "pickle" not in text and "torch.load(" not in text, path


class _Payload:
    """Unpickling this runs code: it creates the file named in ``marker``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_pickled_weight_file_is_refused_without_running_its_code(tmp_path):
    # behaviour, not only the scan: a .pt built to run code when unpickled is refused with a
    # message naming it, and the code never runs
    import torch

    from genstudio.api import ConfigError
    from genstudio.metrics.inception import load_inception

    marker = tmp_path / "pwned"
    bad = tmp_path / "pt_inception-2015-12-05.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": _Payload(str(marker))}, bad)
    with pytest.raises(ConfigError, match=r"pt_inception-2015-12-05\.pth: not an Inception-v3 weight file"):
        load_inception(bad)
    assert not marker.exists()
    # the same file through plain pickle semantics would have run it: the test's payload is live
    torch.load(bad, weights_only=False)
    assert marker.exists()

"""Plugin administration without Qt: what is protected, what the preview says, pip as a
cancellable subprocess, and making a fresh install visible to the running process."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

from genstudio.host import admin
from genstudio.host.admin import Installer, InstallTarget, PipRun, make_preview

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = {
    "genstudio": ("genstudio", "0.1.0"),
    "torch": ("torch", "2.13.0+cpu"),
    "numpy": ("numpy", "2.4.6"),
    "requests": ("requests", "2.0"),
}


def report(*packages: tuple[str, str], requested: str = "") -> dict:
    return {
        "install": [
            {"metadata": {"name": name, "version": version}, "requested": name == requested}
            for name, version in packages
        ]
    }


def test_every_dependency_of_genstudio_is_protected():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["gui"]
    names = {admin.normalize(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) for d in deps}
    assert names | {"genstudio"} <= set(admin.PROTECTED)


def test_pins_name_the_installed_versions_of_protected_packages_only():
    assert Installer.pins(INSTALLED) == ["genstudio==0.1.0", "torch==2.13.0+cpu", "numpy==2.4.6"]


def test_the_preview_lists_new_and_replaced_packages():
    target = InstallTarget("genstudio-foo", "requirement")
    preview = make_preview(
        target, report(("genstudio-foo", "1.0"), ("requests", "2.1"), requested="genstudio-foo"), INSTALLED, []
    )
    assert preview.ok and preview.requested == ["genstudio-foo"] and preview.replaced == ["requests"]
    text = preview.describe()
    assert "genstudio-foo 1.0 (new)" in text and "requests 2.1 (replaces 2.0)" in text


@pytest.mark.parametrize(
    ("package", "reason"),
    [
        (("torch", "2.0.0"), "it would replace torch 2.13.0+cpu with 2.0.0"),
        (("genstudio", "0.0.1"), "it would replace genstudio 0.1.0 with 0.0.1"),
        (("NumPy", "1.26.0"), "it would replace NumPy 2.4.6 with 1.26.0"),
    ],
)
def test_the_preview_refuses_to_replace_genstudio_or_what_it_runs_on(package, reason):
    preview = make_preview(InstallTarget("x", "requirement"), report(("x", "1"), package), INSTALLED, [])
    assert not preview.ok and any(reason in r for r in preview.refused)
    assert "Refused: " in preview.describe()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "is not a package name"),
        ("--index-url=http://evil", "is not a package name"),
        ("./nowhere.whl", "no such file or folder"),
        ("dir/sub", "no such file or folder"),
    ],
)
def test_install_targets_are_checked(spec, message):
    with pytest.raises(admin.PluginAdminError, match=message):
        InstallTarget.parse(spec)


def test_install_targets_by_kind(tmp_path):
    assert InstallTarget.parse("genstudio-foo>=1").pip_args() == ["genstudio-foo>=1"]
    wheel = tmp_path / "a-1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    assert InstallTarget.parse(str(wheel)).kind == "file"
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(admin.PluginAdminError, match="install a wheel"):
        InstallTarget.parse(str(tmp_path / "notes.txt"))
    project = tmp_path / "proj"
    project.mkdir()
    with pytest.raises(admin.PluginAdminError, match=r"needs a pyproject\.toml"):
        InstallTarget.parse(str(project))
    (project / "pyproject.toml").write_text("")
    assert InstallTarget.parse(str(project), editable=True).pip_args() == ["-e", str(project.resolve())]


def test_the_host_itself_is_never_uninstalled():
    with pytest.raises(admin.PluginAdminError, match="never removed"):
        Installer().uninstall("Torch")


def test_pip_output_streams_line_by_line_and_a_failure_shows_its_end():
    run = PipRun([sys.executable, "-c", "print('one'); print('two'); raise SystemExit(3)"], what="testing")
    assert list(run.lines()) == ["one", "two"]
    with pytest.raises(admin.PluginAdminError, match=r"testing failed \(pip exited with 3\):\none\ntwo"):
        run.result()


def test_cancel_interrupts_the_process():
    script = "import time\nprint('started', flush=True)\ntime.sleep(60)"
    run = PipRun([sys.executable, "-c", script], what="waiting")
    lines = run.lines()
    assert next(lines) == "started"
    run.cancel(grace=10)
    rest = list(lines)  # ends: the process is gone
    assert run.process.poll() is not None and "KeyboardInterrupt" in "\n".join(rest)  # the interrupt came first
    with pytest.raises(admin.CancelledError):
        run.result()


def test_a_cancel_before_the_start_runs_nothing():
    run = PipRun([sys.executable, "-c", "raise SystemExit(0)"])
    run.cancel()
    assert list(run.lines()) == [] and run.process is None
    with pytest.raises(admin.CancelledError):
        run.result()


def test_new_path_files_are_processed_as_python_would_at_start(tmp_path, monkeypatch):
    site_dir, project = tmp_path / "site", tmp_path / "project"
    site_dir.mkdir()
    project.mkdir()
    (project / "gs_editable_demo.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(site_dir))
    before = admin.path_files()
    (site_dir / "__editable__.demo.pth").write_text(str(project) + "\n")
    try:
        assert admin.activate_new_path_files(before) == [site_dir / "__editable__.demo.pth"]
        importlib.invalidate_caches()
        assert importlib.import_module("gs_editable_demo").VALUE == 42
    finally:
        sys.modules.pop("gs_editable_demo", None)
        if str(project) in sys.path:
            sys.path.remove(str(project))


def test_loaded_modules_name_what_a_restart_would_renew():
    assert admin.loaded_modules(["pluggy"]) == ["pluggy"]
    assert admin.loaded_modules(["no-such-distribution"]) == []


def test_what_pip_wrote_is_removed_whether_it_succeeded_or_not(tmp_path):
    for code in (0, 1):
        left = tmp_path / f"report-{code}.json"
        left.write_text("{}")
        run = PipRun(
            [sys.executable, "-c", f"raise SystemExit({code})"], parse=lambda p=left: p.read_text(), outputs=[left]
        )
        list(run.lines())
        if code:
            with pytest.raises(admin.PluginAdminError):
                run.result()
        else:
            assert run.result() == "{}" and run.result() == "{}"  # parsed once, kept
        assert not left.exists()

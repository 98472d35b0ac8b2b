"""``genstudio plugins install|uninstall|enable|disable|new``: from a scaffold to a trained,
switched off, switched on and removed plugin, in a throwaway environment."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genstudio.cli import main
from genstudio.host import create_plugin_manager
from genstudio.host.admin import disabled_plugins, state_path
from tests.plugin_env import build_wheel, layered_env, offline_env


@pytest.fixture
def config(tmp_path, monkeypatch):
    """A config folder of the test's own, so saved plugin states do not leak between tests."""
    folder = tmp_path / "config"
    monkeypatch.setenv("GENSTUDIO_CONFIG_DIR", str(folder))
    return folder


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_scaffold_to_wheel_to_install_train_disable_enable_uninstall(tmp_path, capsys, config):
    assert main(["plugins", "new", "demo-mix", "--dir", str(tmp_path)]) == 0
    project = tmp_path / "genstudio-demo-mix"
    wheel = build_wheel(project, tmp_path / "wheels")
    python = layered_env(tmp_path / "env")
    env = offline_env(GENSTUDIO_CONFIG_DIR=str(config), GENSTUDIO_WORKSPACE=str(tmp_path / "ws"))

    def genstudio(*args, **kw):
        done = subprocess.run([str(python), "-m", "genstudio", *args], env=env, capture_output=True, text=True, **kw)
        return done.returncode, done.stdout, done.stderr

    def listed():
        code, out, err = genstudio("plugins", "list", "--json")
        assert code == 0, err
        return {p["name"]: p for p in json.loads(out)}

    # no terminal to ask on, and no --yes: nothing is installed
    code, out, err = genstudio("plugins", "install", str(wheel), stdin=subprocess.DEVNULL)
    assert code == 2 and "pass --yes" in err
    assert "genstudio-demo-mix 0.1.0 (new)" in out and "torch==" in out and "genstudio==" in out
    assert "demo-mix" not in listed()

    code, out, err = genstudio("plugins", "install", str(wheel), "--yes")
    assert code == 0, err
    assert "Successfully installed genstudio-demo-mix-0.1.0" in out and "plugin demo-mix: models: demo-mix" in out
    plugin = listed()["demo-mix"]
    assert (plugin["source"], plugin["version"], plugin["error"]) == ("entrypoint", "0.1.0", None)
    assert plugin["contributes"] == {"models": ["demo-mix"]}

    code, out, err = genstudio("train", "demo-mix", "--data", "moons", "--steps", "60", "--json")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["status"] == "finished"

    assert genstudio("plugins", "disable", "demo-mix")[0] == 0
    plugin = listed()["demo-mix"]
    assert plugin["enabled"] is False and plugin["contributes"] == {}
    code, _, err = genstudio("train", "demo-mix", "--data", "moons", "--steps", "5")
    assert code == 2 and "unknown model 'demo-mix'" in err
    assert genstudio("plugins", "enable", "demo-mix")[0] == 0
    assert listed()["demo-mix"]["enabled"] is True

    # the scaffold's own tests pass, the entry-point one included now that it is installed
    tested = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "4 passed" in tested.stdout

    code, out, err = genstudio("plugins", "uninstall", "demo-mix", "--yes")
    assert code == 0, err
    assert "Removed genstudio-demo-mix 0.1.0" in out
    assert "demo-mix" not in listed()


def test_a_plugin_that_wants_another_genstudio_is_refused(tmp_path, config):
    project = tmp_path / "greedy"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "genstudio-greedy"
            version = "1.0"
            dependencies = ["genstudio>=99", "torch<2"]
            [project.entry-points.genstudio]
            greedy = "genstudio_greedy"
            [tool.setuptools]
            py-modules = ["genstudio_greedy"]
            """
        )
    )
    (project / "genstudio_greedy.py").write_text("")
    wheel = build_wheel(project, tmp_path / "wheels")
    python = layered_env(tmp_path / "env")
    done = subprocess.run(
        [str(python), "-m", "genstudio", "plugins", "install", str(wheel), "--yes"],
        env=offline_env(GENSTUDIO_CONFIG_DIR=str(config)),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "genstudio: error: checking" in done.stderr and "genstudio==0.1.0" in done.stderr
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, check=True
    )
    assert "genstudio-greedy" not in listing.stdout


def test_enable_and_disable_are_remembered(tmp_path, capsys, config):
    ws = str(tmp_path / "ws")
    code, out, _ = run(capsys, "plugins", "disable", "vae", "--workspace", ws)
    assert code == 0 and "Disabled plugin 'vae'" in out
    assert disabled_plugins() == {"vae"}
    assert json.loads(state_path().read_text())["disabled"] == ["vae"]
    host = create_plugin_manager(ws, autoload=False)
    assert host.plugins["vae"].enabled is False and "vae" not in host.models
    assert "vae" in create_plugin_manager(ws, autoload=False, disabled=()).models  # explicit wins
    code, out, _ = run(capsys, "plugins", "list", "--workspace", ws)
    assert [line.split()[3] for line in out.splitlines() if line.startswith("vae ")] == ["disabled"]

    code, out, _ = run(capsys, "plugins", "disable", "vae", "--workspace", ws)
    assert code == 0 and "disabled already" in out
    code, out, _ = run(capsys, "plugins", "enable", "vae", "--workspace", ws)
    assert code == 0 and disabled_plugins() == set()
    assert "vae" in create_plugin_manager(ws, autoload=False).models


def test_a_broken_state_file_switches_nothing_off(config):
    state_path().parent.mkdir(parents=True)
    state_path().write_text("{not json")
    assert disabled_plugins() == set()
    state_path().write_text(json.dumps({"disabled": ["gan", "datasets", 3]}))
    assert disabled_plugins() == {"gan"}  # GenStudio's own data sources are never switched off


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plugins", "disable", "nope"], "unknown plugin 'nope'; plugins: "),
        (["plugins", "enable", "nope"], "unknown plugin 'nope'"),
        (["plugins", "disable", "datasets"], "part of GenStudio itself and cannot be disabled"),
        (["plugins", "uninstall", "nope", "--yes"], "no installed plugin, plugin package or drop-in file named 'nope'"),
        (["plugins", "uninstall", "vae", "--yes"], "built into GenStudio; switch it off instead"),
        (["plugins", "install", "--yes", "./no/such.whl"], "no such file or folder"),
        (["plugins", "install", "--yes", "-e", "genstudio-foo"], "only a folder installs editable"),
        (["plugins", "new", "Bad Name"], "is not a plugin name"),
        (["plugins", "new", "vae"], "a plugin named 'vae' exists already"),
    ],
)
def test_bad_names_exit_2_with_a_message(tmp_path, capsys, config, args, message):
    code, out, err = run(capsys, *args, *(["--workspace", str(tmp_path)] if args[1] != "new" else []))
    assert code == 2
    assert err.startswith("genstudio: error: ") and message in err
    assert "Traceback" not in err + out


def test_a_dropin_file_is_removed_by_name(tmp_path, capsys, config):
    plugins = tmp_path / "ws" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "scratch.py").write_text("")
    code, _, _ = run(capsys, "plugins", "disable", "scratch", "--workspace", str(tmp_path / "ws"))
    assert code == 0
    code, _, err = run(capsys, "plugins", "uninstall", "scratch", "--workspace", str(tmp_path / "ws"))
    assert code == 2 and "pass --yes" in err and (plugins / "scratch.py").exists()
    code, _, _ = run(capsys, "plugins", "uninstall", "scratch", "--yes", "--workspace", str(tmp_path / "ws"))
    assert code == 0 and not (plugins / "scratch.py").exists()


def test_new_writes_a_package_that_lints_clean_and_refuses_to_overwrite(tmp_path, capsys):
    code, out, _ = run(capsys, "plugins", "new", "my_mix", "--dir", str(tmp_path))
    folder = tmp_path / "genstudio-my_mix"
    assert code == 0 and str(folder) in out
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "genstudio_my_mix/__init__.py",
        "genstudio_my_mix/model.py",
        "pyproject.toml",
        "tests/test_my_mix.py",
    ]
    pyproject = (folder / "pyproject.toml").read_text()
    assert 'name = "genstudio-my_mix"' in pyproject and 'my_mix = "genstudio_my_mix"' in pyproject
    # the plugin declares the family without importing torch; the class takes the declared facts
    assert 'location="genstudio_my_mix.model:MyMixMixture"' in (folder / "genstudio_my_mix" / "__init__.py").read_text()
    assert "class MyMixMixture(TorchModel, family=FAMILY)" in (folder / "genstudio_my_mix" / "model.py").read_text()
    probe = [sys.executable, "-c", "import sys, genstudio_my_mix; print('torch' in sys.modules)"]
    done = subprocess.run(probe, cwd=folder, capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
    assert "{{" not in "".join(p.read_text() for p in folder.rglob("*") if p.is_file())
    code, _, err = run(capsys, "plugins", "new", "my_mix", "--dir", str(tmp_path))
    assert code == 2 and "already exists and is not empty" in err
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists() or shutil.which("ruff"):
        ruff = ruff if ruff.exists() else Path(shutil.which("ruff"))
        for check in (["check"], ["format", "--check"]):
            done = subprocess.run([ruff, *check, "--no-cache", "."], cwd=folder, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr


def test_a_family_that_fails_to_sample_is_named(tmp_path, capsys, config, monkeypatch):
    from genstudio.testing import TinyModel

    ws = tmp_path / "ws"
    (ws / "plugins").mkdir(parents=True)
    (ws / "plugins" / "tiny_models.py").write_text(
        "from genstudio.api import hookimpl\nfrom genstudio.testing import TinyImages, TinyModel\n\n"
        "@hookimpl\ndef genstudio_register_models(registry):\n    registry.add(TinyModel)\n\n"
        "@hookimpl\ndef genstudio_register_datasets(registry):\n    registry.add(TinyImages)\n"
    )
    monkeypatch.delenv("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    assert main(["--workspace", str(ws), "train", "tiny", "--data", "tiny", "--steps", "5"]) == 0

    def broken(self, n, generator=None):
        raise RuntimeError("no samples today")

    monkeypatch.setattr(TinyModel, "sample", broken)
    code, _, err = run(capsys, "sample", "1", "-o", str(tmp_path / "x.npy"), "--workspace", str(ws))
    assert code == 2
    assert "plugin 'tiny_models' failed while sampling (sample): RuntimeError: no samples today" in err
    assert "Traceback" not in err


def test_plugins_list_shows_a_declared_family_whose_class_does_not_import_as_failed(
    tmp_path, capsys, config, monkeypatch
):
    """A declared family (genstudio.api.Family) is imported only when used; `plugins list`, the
    diagnostic, imports it, so a plugin whose class is missing shows failed with the reason."""
    monkeypatch.delenv("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", raising=False)  # drop-ins load
    ws = tmp_path / "ws"
    (ws / "plugins").mkdir(parents=True)
    (ws / "plugins" / "ghost.py").write_text(
        textwrap.dedent(
            """
            from genstudio.api import Family, hookimpl

            @hookimpl
            def genstudio_register_models(registry):
                registry.add(Family(name="ghost", location="no_such_module_here:Ghost", accepts={"vector"}))
            """
        )
    )
    code, out, _ = run(capsys, "plugins", "list", "--workspace", str(ws), "--json")
    assert code == 0
    ghost = next(p for p in json.loads(out) if p["name"] == "ghost")
    assert ghost["error"] == "importing ghost: ModuleNotFoundError: No module named 'no_such_module_here'"
    assert ghost["contributes"] == {}

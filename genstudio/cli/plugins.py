"""``genstudio plugins list|install|uninstall|enable|disable|new``.

Installs and removals run pip in a subprocess of this Python, with GenStudio's own packages
pinned (:mod:`genstudio.host.admin`); both ask before changing anything, unless ``--yes``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from genstudio.cli.common import EXIT_OK, UsageError, json_arg, open_workspace, out, table, workspace_arg


def add_parsers(sub: Any) -> None:
    pl = sub.add_parser("plugins", help="plugins: list, install, remove, switch on and off, start a new one")
    pl_sub = pl.add_subparsers(dest="plugins_command", metavar="ACTION", required=True)
    pll = pl_sub.add_parser("list", help="every plugin: version, origin, contributions, errors")
    workspace_arg(pll)
    json_arg(pll)
    pll.set_defaults(handler=cmd_list)

    pli = pl_sub.add_parser("install", help="install a plugin package with pip (shows what changes first)")
    pli.add_argument(
        "spec", metavar="SPEC", help="a package name or requirement, a .whl/.tar.gz/.zip file, or a folder"
    )
    pli.add_argument("-e", "--editable", action="store_true", help="install a project folder in editable mode")
    pli.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    workspace_arg(pli)
    pli.set_defaults(handler=cmd_install)

    plu = pl_sub.add_parser("uninstall", help="remove an installed plugin package or a drop-in file")
    plu.add_argument("name", metavar="NAME", help="the plugin's name or its distribution's name")
    plu.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    workspace_arg(plu)
    plu.set_defaults(handler=cmd_uninstall)

    for action, what in (("enable", "load a disabled plugin again"), ("disable", "stop loading a plugin")):
        p = pl_sub.add_parser(action, help=f"{what} (remembered across restarts)")
        p.add_argument("name", metavar="NAME", help="the plugin's name, as `genstudio plugins list` shows it")
        workspace_arg(p)
        p.set_defaults(handler=cmd_enable, enable=action == "enable")

    pln = pl_sub.add_parser("new", help="write a new plugin package that installs, passes its tests and trains")
    pln.add_argument("name", metavar="NAME", help="the plugin's (and its model family's) name, e.g. my-mixture")
    pln.add_argument("--dir", default=".", metavar="DIR", help="where to create genstudio-NAME/ (default: here)")
    pln.set_defaults(handler=cmd_new)


def cmd_list(args: argparse.Namespace) -> int:
    workspace = open_workspace(args)
    from genstudio.host import create_plugin_manager

    host = create_plugin_manager(workspace.root)
    host.load_declared()  # a declared family whose class does not import shows as its plugin's failure
    infos = [p.to_dict() for p in host.plugins.values()]
    if args.json:
        out(infos)
        return EXIT_OK
    rows = []
    for p in infos:
        what = "; ".join(f"{k}: {', '.join(v)}" for k, v in p["contributes"].items()) or "-"
        status = "disabled" if not p["enabled"] else ("FAILED" if p["error"] else "ok")
        rows.append([p["name"], p["version"] or "-", p["source"], status, what])
    print(table(rows, ["NAME", "VERSION", "SOURCE", "STATUS", "CONTRIBUTES"]))
    for p in infos:
        if p["error"]:
            print(f"\n{p['name']} failed: {p['error']}\n{p['traceback'] or ''}".rstrip())
    return EXIT_OK


def confirm(question: str, yes: bool) -> bool:
    """Ask on the terminal; without one, only ``--yes`` goes ahead."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for confirmation on: pass --yes to go ahead")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer in ("y", "yes"):
        return True
    print("Nothing changed.", file=sys.stderr)
    return False


def _run(run: Any, echo: bool = True) -> Any:
    """Run pip to the end, showing its output; Ctrl-C cancels it (and lets pip roll back)."""
    try:
        return run.run(echo=(lambda line: print(f"  {line}", flush=True)) if echo else None)
    except KeyboardInterrupt:
        run.cancel()
        raise


def cmd_install(args: argparse.Namespace) -> int:
    from genstudio.host import admin

    workspace = open_workspace(args)
    target = admin.InstallTarget.parse(args.spec, editable=args.editable)
    installer = admin.Installer()
    print(f"Checking what pip would install for {target.spec}…", file=sys.stderr, flush=True)
    preview = _run(installer.preview(target), echo=False)
    print(preview.describe())
    if not preview.ok:
        raise UsageError("; ".join(preview.refused))
    if not confirm("Install?", args.yes):
        return EXIT_OK
    before = admin.path_files()
    _run(installer.install(target))
    admin.after_change(before)
    return _report_installed(workspace, preview.requested)


def _report_installed(workspace: Any, requested: list[str]) -> int:
    from genstudio.host import admin, create_plugin_manager

    host = create_plugin_manager(workspace.root)
    host.load_declared()
    for name in requested:
        package = admin.find_package(name)
        if package is None:
            print(
                f"genstudio: warning: {name} provides no GenStudio plugin (no 'genstudio' entry point)", file=sys.stderr
            )
            continue
        print(f"Installed {package.name} {package.version}.")
        for plugin in package.plugins:
            info = host.plugins.get(plugin)
            if info is None:
                continue
            if info.error:
                print(f"genstudio: warning: plugin {plugin!r} failed: {info.error}", file=sys.stderr)
            elif not info.enabled:
                print(f"  plugin {plugin}: disabled (genstudio plugins enable {plugin})")
            else:
                what = "; ".join(f"{k}: {', '.join(v)}" for k, v in info.contributes.items() if v) or "nothing"
                print(f"  plugin {plugin}: {what}")
    return EXIT_OK


def cmd_uninstall(args: argparse.Namespace) -> int:
    from genstudio.host import admin

    workspace = open_workspace(args)
    name = args.name
    known = admin.known_plugins(workspace.root)
    if known.get(name) == "builtin":
        raise UsageError(
            f"plugin {name!r} is built into GenStudio; switch it off instead: genstudio plugins disable {name}"
        )
    package = admin.find_package(name)
    if package is not None:
        if not confirm(f"Remove {package.describe()}?", args.yes):
            return EXIT_OK
        _run(admin.Installer().uninstall(package.name))
        admin.refresh_metadata()
        for plugin in package.plugins:  # a later install of it starts switched on
            if plugin in admin.disabled_plugins():
                admin.set_enabled(plugin, True)
        print(f"Removed {package.name} {package.version}.")
        return EXIT_OK
    path = admin.dropin_file(workspace.root, name)
    if path is not None:
        if not confirm(f"Delete the drop-in plugin file {path}?", args.yes):
            return EXIT_OK
        path.unlink()
        print(f"Deleted {path}.")
        return EXIT_OK
    installed = sorted(p.name for p in admin.plugin_packages().values())
    raise UsageError(
        f"no installed plugin, plugin package or drop-in file named {name!r}; "
        f"plugin packages installed: {', '.join(installed) or 'none'}"
    )


def cmd_enable(args: argparse.Namespace) -> int:
    from genstudio.host import admin

    workspace = open_workspace(args)
    name, enable = args.name, args.enable
    known = admin.known_plugins(workspace.root)
    if name not in known and not (enable and name in admin.disabled_plugins()):
        raise UsageError(f"unknown plugin {name!r}; plugins: {', '.join(sorted(known))}")
    changed = admin.set_enabled(name, enable)
    state = "enabled" if enable else "disabled"
    if not changed:
        print(f"Plugin {name!r} is {state} already.")
    elif enable:
        print(f"Enabled plugin {name!r}: GenStudio loads it from now on.")
    else:
        print(f"Disabled plugin {name!r}: GenStudio no longer loads it (genstudio plugins enable {name} undoes this).")
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    from genstudio.host import admin
    from genstudio.scaffold import create_plugin

    if args.name in admin.known_plugins():
        raise UsageError(f"a plugin named {args.name!r} exists already; pick another name")
    folder = create_plugin(args.name, args.dir)
    print(f"Created {folder}:")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        print(f"  {path.relative_to(folder)}")
    print(
        "\nNext:\n"
        f"  cd {folder}\n"
        "  genstudio plugins install -e .      # or: pip install -e .\n"
        "  python -m pytest                    # its tests\n"
        f"  genstudio train {args.name} --data moons --steps 500"
    )
    return EXIT_OK

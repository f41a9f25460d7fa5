"""The `eigen` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import anyio


def _domains(spec: str) -> list:
    from environments import registry

    names = dict.fromkeys(n.strip() for n in spec.split(",") if n.strip())  # ordered, unique
    return [registry.get(name) for name in names]


def cmd_envs_list(args: argparse.Namespace) -> int:
    from environments import registry

    found = registry.bundles()
    if args.json:
        print(json.dumps([
            {"name": b.name, "tools": len(b.tools), "description": b.description}
            for b in found.values()], indent=2))
        return 0
    for b in sorted(found.values(), key=lambda b: b.name):
        kinds = {"read": sum(t.read_only for t in b.tools),
                 "destructive": sum(t.destructive for t in b.tools)}
        print(f"{b.name:32} {len(b.tools):3} tools ({kinds['read']} read-only, "
              f"{kinds['destructive']} destructive)  {b.description[:70]}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from servers.transports import deploy, quiet_logs, serve_http, serve_stdio

    quiet_logs()
    bundles = _domains(args.domains)
    scenarios = {}
    if args.scenario:
        data = json.loads(Path(args.scenario).read_text())
        if len(bundles) == 1 and "tables" in data:
            data = {bundles[0].name: data}
        scenarios = data
    namespaced = None if args.namespaced is None else args.namespaced == "yes"
    if args.transport == "stdio":
        dep = deploy(bundles, namespaced=namespaced, unbound="shared", scenarios=scenarios)
        anyio.run(serve_stdio, dep)
        return 0
    dep = deploy(bundles, namespaced=namespaced, unbound=args.unbound, scenarios=scenarios)
    print(f"serving {', '.join(b.name for b in bundles)} on http://{args.host}:{args.port}/mcp "
          f"(admin: /admin/mcp){' with bearer token' if args.token else ''}", file=sys.stderr)
    try:
        anyio.run(lambda: serve_http(dep, host=args.host, port=args.port, token=args.token,
                                     allow_remote=args.allow_remote, admin=not args.no_admin))
    except PermissionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_state_export(args: argparse.Namespace) -> int:
    from environments.envdb import build_database

    (bundle,) = _domains(args.domain)
    scenario = json.loads(Path(args.scenario).read_text()) if args.scenario else None
    out = Path(args.out)
    if out.exists():
        out.unlink()
    db = build_database(bundle, scenario, path=str(out))
    db.close()
    print(f"wrote {out}")
    return 0


def cmd_state_diff(args: argparse.Namespace) -> int:
    from environments.capture import CHANGES
    from environments.envdb import connect
    from environments.state import StateReader, compare, compare_snapshots, table_meta

    (bundle,) = _domains(args.domain)
    readers = []
    for p in (args.before, args.after):
        if not Path(p).exists():
            print(f"error: no such database {p}", file=sys.stderr)
            return 2
        db = connect(p)
        readers.append(StateReader(db, bundle.rules, table_meta(db, bundle.rules)))
    a, b = readers
    logged = all(r.db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (CHANGES,)).fetchone()
                 for r in readers)
    if args.full or not logged:
        d = compare_snapshots(a.snapshot(), b.snapshot(), bundle.rules, a.meta)
    else:  # both copies of one scenario: read only the rows either changed
        d = compare(a, b)
        d.labels = ("before", "after")
    if args.json:
        print(json.dumps(d.model_dump(mode="json"), indent=2, default=str))
    else:
        print(d.to_text())
    return 0 if d.empty else 1


def cmd_install_claude(args: argparse.Namespace) -> int:
    from eigencore.claude_desktop import install

    _domains(",".join(args.domains))  # fail early on an unknown domain
    path, name = install(args.domains, name=args.name,
                         config_path=Path(args.config) if args.config else None)
    print(f"added '{name}' to {path}; restart Claude Desktop to load it")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from eigencore.demo import run

    return run()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eigen", description="EigenData command line")
    sub = p.add_subparsers(dest="command", required=True)

    envs = sub.add_parser("envs", help="domain environments").add_subparsers(dest="sub",
                                                                              required=True)
    ls = envs.add_parser("list", help="list the registered domains")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_envs_list)

    serve = sub.add_parser("serve", help="publish domains as an MCP server")
    serve.add_argument("domains", help="DOMAIN[,DOMAIN...]")
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--token", help="require this bearer token (HTTP)")
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow binding a non-loopback address")
    serve.add_argument("--no-admin", action="store_true", help="do not serve /admin/mcp")
    serve.add_argument("--unbound", choices=["reject", "shared"], default="reject",
                       help="HTTP requests naming no episode and no stateful session")
    serve.add_argument("--namespaced", choices=["yes", "no"],
                       help="prefix tool names with the domain (default: when several)")
    serve.add_argument("--scenario", help="JSON file: initial state ({domain: scenario})")
    serve.set_defaults(fn=cmd_serve)

    state = sub.add_parser("state", help="database state").add_subparsers(dest="sub",
                                                                          required=True)
    exp = state.add_parser("export", help="write a domain's scenario database to a file")
    exp.add_argument("domain")
    exp.add_argument("out")
    exp.add_argument("--scenario", help="JSON scenario file (default: the bundle's)")
    exp.set_defaults(fn=cmd_state_export)
    diff = state.add_parser("diff", help="diff two databases of a domain (exit 1 if they differ)")
    diff.add_argument("domain")
    diff.add_argument("before")
    diff.add_argument("after")
    diff.add_argument("--json", action="store_true")
    diff.add_argument("--full", action="store_true",
                      help="compare full snapshots (databases of different lineage)")
    diff.set_defaults(fn=cmd_state_diff)

    inst = sub.add_parser("install", help="install into an MCP client").add_subparsers(
        dest="sub", required=True)
    cd = inst.add_parser("claude-desktop", help="add a server entry to Claude Desktop")
    cd.add_argument("domains", nargs="+")
    cd.add_argument("--name", help="entry name (default: eigendata-DOMAINS)")
    cd.add_argument("--config", help="config file (default: the platform's)")
    cd.set_defaults(fn=cmd_install_claude)

    demo = sub.add_parser("demo", help="serve and exercise the showcase domain")
    demo.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

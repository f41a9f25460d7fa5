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
    names = [n for n in (args.domains or "").split(",") if n.strip()]
    for d in args.bundle or []:
        # An explicit directory, even one written without a separator (`--bundle shop`).
        path = Path(d).expanduser().resolve()
        if not (path / "__init__.py").is_file():
            raise ValueError(f"{d} is not a bundle directory (no __init__.py)")
        names.append(str(path))
    if not names:
        raise ValueError("name a domain or a bundle directory (DOMAIN[,DOMAIN...] or --bundle)")
    bundles = _domains(",".join(names))
    scenarios = {}
    if args.scenario:
        data = json.loads(Path(args.scenario).read_text())
        if len(bundles) == 1 and "tables" in data:
            data = {bundles[0].name: data}
        scenarios = data
    namespaced = None if args.namespaced is None else args.namespaced == "yes"
    if args.transport == "stdio":
        dep = deploy(bundles, namespaced=namespaced, unbound="shared", scenarios=scenarios,
                     admin_in_band=args.with_admin)
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


def _target(spec: str, token: str | None):
    from eigencore.evaluation.harness import Target

    if spec in ("inprocess", "stdio"):
        return Target(kind=spec)
    if spec.startswith(("http://", "https://")):
        return Target(kind="url", url=spec, token=token)
    raise ValueError(f"--target must be inprocess, stdio or an http(s) URL, not {spec!r}")


def _print_summary(store, run_id: str) -> None:
    from eigencore.evaluation.metrics import grouped, rates

    verdicts = store.verdicts(run_id)
    r = rates(verdicts)

    def pct(x: float | None) -> str:
        return "  n/a" if x is None else f"{100 * x:5.1f}%"

    print(f"run {run_id}: {r.tasks} tasks, {r.samples} samples (k={r.k})")
    for m in r.success:
        print(f"  {m:9} success {pct(r.success[m])}   pass^{r.k} {pct(r.pass_k[m])}")
    for cat, cr in grouped(verdicts, "category").items():
        print(f"  [{cat}] " + "  ".join(f"{m} {pct(v)}" for m, v in cr.success.items()))
    from eigencore.evaluation.report import rescore_note

    if note := rescore_note(store.run(run_id)):
        print(f"  {note}")


def _task_ids(spec: str | None) -> list[str]:
    """`--tasks`: comma-separated task ids, or @FILE with ids one per line (or comma-separated)."""
    if not spec:
        return []
    if spec.startswith("@"):
        spec = Path(spec[1:]).read_text(encoding="utf-8").replace("\n", ",")
    return list(dict.fromkeys(i.strip() for i in spec.split(",") if i.strip()))


def _concurrency(model: str, asked: int | None) -> int:
    """Tasks run at once. An embedded model is one llama.cpp context shared under a lock:
    interleaved tasks gain nothing and each step loses the prompt prefix cached from the
    task's previous step, so `local:` runs one task at a time."""
    if model.startswith("local:"):
        if asked and asked > 1:
            print(f"note: {model} runs one task at a time (--concurrency {asked} ignored: the "
                  "embedded model is shared, and interleaving tasks loses its prompt cache)",
                  file=sys.stderr)
        return 1
    return asked or 4


def cmd_eval_run(args: argparse.Namespace) -> int:
    from clients.models.specs import adapter_factory
    from eigencore.evaluation.runner import RunConfig, run_suite
    from eigencore.evaluation.store import RunStore
    from eigencore.evaluation.suites import load_suite
    from servers.transports import quiet_logs

    quiet_logs()
    store = RunStore(args.store)
    if args.resume:
        prev = store.run(args.resume)
        cfg = prev["config"]
        if "rescored_from" in cfg:
            raise ValueError(f"run {args.resume} is a rescore; run `eigen eval rescore "
                             f"{cfg['rescored_from']}` again instead of resuming it")
        args.model, args.suite = prev["model"], prev["suite"]
        args.k, args.categories, args.limit = cfg["k"], ",".join(cfg["categories"]), cfg["limit"]
        args.max_steps = cfg.get("max_steps", args.max_steps)
        if args.concurrency is None:
            args.concurrency = cfg.get("concurrency")
        # `--tasks` with `--resume` narrows the run to a part of it: a second worker
        # process can share a run (each skips what the other has finished).
        part, args.tasks = _task_ids(args.tasks), ",".join(cfg.get("task_ids") or [])
    else:
        part = []
    args.concurrency = _concurrency(args.model, args.concurrency)
    categories = [c for c in (args.categories or "").split(",") if c]
    tasks = load_suite(args.suite, categories or None)
    task_ids = _task_ids(args.tasks)
    if task_ids:
        unknown = sorted(set(task_ids) - {t.id for t in tasks})
        if unknown:
            raise KeyError(f"--tasks names ids not in suite {args.suite}"
                           f"{' ' + ','.join(categories) if categories else ''}: {unknown[:5]}")
        tasks = [t for t in tasks if t.id in set(task_ids)]
    if args.limit:
        tasks = tasks[: args.limit]
    if part:
        outside = sorted(set(part) - {t.id for t in tasks})
        if outside:
            raise KeyError(f"--tasks names ids outside run {args.resume}: {outside[:5]}")
        tasks = [t for t in tasks if t.id in set(part)]
    config = RunConfig(model=args.model, suite=args.suite, k=args.k,
                       concurrency=args.concurrency, max_steps=args.max_steps,
                       categories=categories, limit=args.limit, task_ids=task_ids,
                       target=_target(args.target, args.token))
    factory = adapter_factory(args.model)
    run_id = anyio.run(lambda: run_suite(tasks, factory, store, config, run_id=args.resume,
                                         progress=not args.quiet))
    _print_summary(store, run_id)
    print(f"results: {store.path} (run {run_id}); report: eigen eval report {run_id}")
    return 0


def cmd_eval_score(args: argparse.Namespace) -> int:
    from clients.models.scripted import load_result_file

    ids = set(load_result_file(args.predictions))
    args.model = f"replay:{args.predictions}"
    args.resume = None
    args.categories = None
    args.limit = None
    args.k = 1
    from eigencore.evaluation.suites import load_suite

    tasks = [t for t in load_suite(args.suite) if t.id in ids]
    missing = ids - {t.id for t in tasks}
    if missing:
        print(f"warning: {len(missing)} ids are not in suite {args.suite}: "
              f"{sorted(missing)[:5]}...", file=sys.stderr)
    from clients.models.specs import adapter_factory
    from eigencore.evaluation.runner import RunConfig, run_suite
    from eigencore.evaluation.store import RunStore
    from servers.transports import quiet_logs

    quiet_logs()
    store = RunStore(args.store)
    config = RunConfig(model=args.model, suite=args.suite, concurrency=args.concurrency)
    run_id = anyio.run(lambda: run_suite(tasks, adapter_factory(args.model), store, config,
                                         progress=not args.quiet))
    _print_summary(store, run_id)
    return 0


def cmd_eval_rescore(args: argparse.Namespace) -> int:
    from eigencore.evaluation.rescore import rescore
    from eigencore.evaluation.store import RunStore
    from servers.transports import quiet_logs

    quiet_logs()
    store = RunStore(args.store)
    out = rescore(store, args.run, args.suite, concurrency=args.concurrency,
                  progress=not args.quiet)
    _print_summary(store, out.run_id)
    print(f"rescored run {args.run} ({out.source['suite']}) against {args.suite}: "
          f"{out.reproduced} samples reproduced and scored, {len(out.diverged)} diverged "
          f"(not scored), {len(out.not_in_suite)} tasks not in {args.suite}")
    if out.names_only:
        print(f"note: {out.names_only} source samples predate tool digests; their tools were "
              "compared by name only, not by description and schema")
    for d in out.diverged[:10]:
        print(f"  diverged {d['task_id']} sample {d['sample']}: {d['reason'][:300]}")
    if out.diverged:
        ids = sorted({d["task_id"] for d in out.diverged})
        tasks = ",".join(ids)
        if len(ids) > 10:
            path = store.path.parent / f"{out.run_id}.diverged.txt"
            path.write_text("\n".join(ids) + "\n", encoding="utf-8")
            tasks = f"@{path}"
        cfg = out.source["config"]
        k = f" --k {cfg['k']}" if (cfg.get("k") or 1) > 1 else ""
        print("re-run the diverged tasks with the model (a new run):\n"
              f"  eigen eval run --model {out.source['model']} --suite {args.suite} "
              f"--tasks {tasks} --max-steps {cfg.get('max_steps') or 20}{k} "
              f"--store {store.path}")
    print(f"results: {store.path} (run {out.run_id}); report: eigen eval report {out.run_id}")
    return 0


def cmd_eval_report(args: argparse.Namespace) -> int:
    from eigencore.evaluation.store import RunStore

    store = RunStore(args.store)
    run_ids = args.runs or [r["run_id"] for r in store.runs()]
    try:
        from eigencore.evaluation.report import html_report, leaderboard
    except ImportError:
        for r in run_ids:
            _print_summary(store, r)
        return 0
    print(leaderboard(store, run_ids))
    if args.html:
        html_report(store, run_ids, Path(args.html))
        print(f"wrote {args.html}")
    return 0


def cmd_bfcl_fetch(args: argparse.Namespace) -> int:
    from eigencore.bfcl.release import load_release

    release = load_release(args.release)
    print(f"BFCL release {release.version}: {release.path} (sha256 {release.sha256})")
    return 0


def cmd_bfcl_serve(args: argparse.Namespace) -> int:
    """A task-scoped server: one BFCL entry's domains, loaded with that entry's scenario
    (with --repaired: the repaired entry's scenario, the port's code fixes on, and the
    patched BFCL function docs as resources)."""
    from eigencore.bfcl.release import load_release
    from eigencore.bfcl.suite import entry_task
    from servers.transports import deploy, quiet_logs, serve_http, serve_stdio

    quiet_logs()
    docs: dict[str, list[dict[str, object]]] = {}
    if args.repaired:
        from eigencore.audit.repaired_suite import publish_docs, repaired_entry

        task, docs = repaired_entry(args.entry, args.release,
                                    Path(args.repaired_dir) if args.repaired_dir else None)
    else:
        entries = {e.id: e for e in load_release(args.release).all_entries()}
        if args.entry not in entries:
            raise KeyError(f"no BFCL entry {args.entry!r} (e.g. multi_turn_base_0)")
        task = entry_task(entries[args.entry])
    bundles = _domains(",".join(task.domains))
    unbound = "shared" if args.transport == "stdio" else "reject"
    dep = deploy(bundles, namespaced=False, unbound=unbound, scenarios=task.scenarios)
    if docs:
        publish_docs(dep.server, docs)
    if args.transport == "stdio":
        anyio.run(serve_stdio, dep)
        return 0
    print(f"serving {'repaired ' if args.repaired else ''}{args.entry} "
          f"({', '.join(task.domains)}) on http://{args.host}:{args.port}/mcp", file=sys.stderr)
    anyio.run(lambda: serve_http(dep, host=args.host, port=args.port, token=args.token))
    return 0


def cmd_bfcl_audit(args: argparse.Namespace) -> int:
    from eigencore.audit.run import main as run_audit

    if (args.llm_limit is not None or args.llm_cache) and not args.llm:
        print("--llm-limit and --llm-cache need --llm SPEC", file=sys.stderr)
        return 2
    entries = [e.strip() for e in (args.entries or "").split(",") if e.strip()] or None
    # An unknown model spec or entry id is a ValueError, reported by `main`.
    return run_audit(args.release, Path(args.out), llm=args.llm, llm_limit=args.llm_limit,
                     llm_cache=Path(args.llm_cache) if args.llm_cache else None,
                     entry_ids=entries)


def cmd_bfcl_repair(args: argparse.Namespace) -> int:
    from eigencore.audit.repaired_suite import main as run_repair
    from servers.transports import quiet_logs

    quiet_logs()
    return run_repair(args.release, Path(args.out) if args.out else None,
                      Path(args.audit) if args.audit else None, args.trajectory_only)


def cmd_bfcl_labels(args: argparse.Namespace) -> int:
    from eigencore.bfcl.labels import main as build

    return build(Path(args.out), args.entries, args.seed)


def cmd_eval_validity(args: argparse.Namespace) -> int:
    from eigencore.evaluation.validity import validity
    from servers.transports import quiet_logs

    quiet_logs()
    report = validity(Path(args.labels))
    print(report.to_text())
    if args.json:
        Path(args.json).write_text(report.to_json())
    return 0


def cmd_synth_env(args: argparse.Namespace) -> int:
    from eigencore.agents.orchestrator import run_args

    return run_args(args)


def _data_settings(args: argparse.Namespace):
    from eigencore.agents.data.pipeline import Settings
    from eigencore.agents.data.tasks import VARIANTS

    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        raise ValueError(f"--variants takes some of {', '.join(VARIANTS)}, not {args.variants!r}")
    return Settings(n_turns=args.turns, seed=args.seed, max_steps=args.max_steps,
                    embedder=args.embedder, optimiser=args.optimiser, variants=variants)


def _print_data_summary(summary, out: str) -> None:
    for r in summary.rounds:
        print(f"round {r.round}: prompt v{r.prompt_version}, yield {r.yield_:.2f} "
              f"({r.kept}/{r.attempted}), failures {r.failures or '{}'}"
              + (f", findings {len(r.findings)}" if r.findings else ""))
    for fmt, path in summary.export.items():
        print(f"  {fmt}: {path}")
    print(f"run directory: {out} (summary.json; re-run the same command to resume)")


def cmd_synth_data(args: argparse.Namespace) -> int:
    from eigencore.agents.data.pipeline import run as synth_data
    from servers.transports import quiet_logs

    quiet_logs()
    summary = synth_data(args.domain, args.llm, args.out, args.rounds, args.tasks,
                         assistant_spec=args.assistant, judge=not args.no_judge,
                         settings=_data_settings(args), log=print)
    _print_data_summary(summary, args.out)
    return 0


def cmd_synth_domain(args: argparse.Namespace) -> int:
    from eigencore.agents.domain import run_domain
    from servers.transports import quiet_logs

    quiet_logs()
    out = args.out or str(Path("synth") / Path(args.spec).stem)
    summary = run_domain(args.spec, args.llm, out, rounds=args.rounds,
                         tasks_per_round=args.tasks, assistant_spec=args.assistant,
                         judge=not args.no_judge, settings=_data_settings(args),
                         scale=args.scale, max_repairs=args.max_repairs, log=print)
    if summary.data is not None:
        _print_data_summary(summary.data, str(Path(out) / "data"))
    for i, r in enumerate(summary.repairs, 1):
        print(f"repair {i}: {r.outcome} ({', '.join(r.findings)})")
    print(f"{summary.name}: {'OK' if summary.ok else 'FAILED'}: {summary.outcome}; "
          f"state in {Path(out) / 'domain.json'}")
    return 0 if summary.ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from eigencore.demo import run

    return run(args.out, args.per_category)


def build_parser() -> argparse.ArgumentParser:
    from eigencore.agents.options import add_arguments as add_synthesis_arguments

    p = argparse.ArgumentParser(prog="eigen", description="EigenData command line")
    sub = p.add_subparsers(dest="command", required=True)

    envs = sub.add_parser("envs", help="domain environments").add_subparsers(dest="sub",
                                                                              required=True)
    ls = envs.add_parser("list", help="list the registered domains")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_envs_list)

    serve = sub.add_parser("serve", help="publish domains as an MCP server")
    serve.add_argument("domains", nargs="?",
                       help="DOMAIN[,DOMAIN...]; a path (out/shop, ./shop) is a bundle directory")
    serve.add_argument("--bundle", action="append", metavar="DIR",
                       help="serve a bundle directory (e.g. one `eigen synth env` wrote); "
                            "repeatable")
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
    serve.add_argument("--with-admin", action="store_true",
                       help="stdio only: also expose the admin tools (prefix eigendata_admin_) "
                            "for a harness that filters them out; never for a model's client")
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

    ev = sub.add_parser("eval", help="outcome-aware evaluation").add_subparsers(
        dest="sub", required=True)
    run = ev.add_parser("run", help="run a model on a suite against live MCP servers")
    run.add_argument("--model", help="anthropic:MODEL, openai:MODEL@URL, local:NAME, "
                                     "replay:FILE, oracle, noop")
    run.add_argument("--suite", default="bfcl-v3", help="bfcl-v3 or library-demo")
    run.add_argument("--categories", help="comma-separated, e.g. base,miss_func")
    run.add_argument("--limit", type=int, help="first N tasks only")
    run.add_argument("--k", type=int, default=1, help="samples per task (pass^k)")
    run.add_argument("--concurrency", type=int,
                     help="tasks at once (default 4; 1 for local: models; a resumed run keeps "
                          "its own)")
    run.add_argument("--max-steps", type=int, default=20, help="model steps per turn")
    run.add_argument("--target", default="inprocess", help="inprocess, stdio or a server URL")
    run.add_argument("--token", help="bearer token for a URL target")
    run.add_argument("--store", default="runs/eval.db", help="SQLite run store")
    run.add_argument("--resume", metavar="RUN_ID", help="continue a killed run")
    run.add_argument("--tasks", help="only these task ids: comma-separated, or @FILE "
                                     "(one id per line); with --resume, the part of the run "
                                     "this process takes (workers share a run)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(fn=cmd_eval_run)
    sc = ev.add_parser("score", help="score a BFCL-format result file (no model needed)")
    sc.add_argument("--predictions", required=True, help="JSONL: {id, result}")
    sc.add_argument("--suite", default="bfcl-v3")
    sc.add_argument("--store", default="runs/eval.db")
    sc.add_argument("--concurrency", type=int, default=4)
    sc.add_argument("--quiet", action="store_true")
    sc.set_defaults(fn=cmd_eval_score)
    res = ev.add_parser("rescore", help="score a stored run against another suite's "
                                        "references by replaying it (no model needed)")
    res.add_argument("run", metavar="RUN_ID", help="the run to rescore")
    res.add_argument("--suite", required=True, help="target suite, e.g. bfcl-v3-repaired")
    res.add_argument("--store", default="runs/eval.db", help="SQLite run store (source and "
                                                             "new run)")
    res.add_argument("--concurrency", type=int, default=4)
    res.add_argument("--quiet", action="store_true", help="no progress bar")
    res.set_defaults(fn=cmd_eval_rescore)
    rep = ev.add_parser("report", help="leaderboard (terminal) and an HTML report")
    rep.add_argument("runs", nargs="*", help="run ids (default: all in the store)")
    rep.add_argument("--store", default="runs/eval.db")
    rep.add_argument("--html", help="write a static HTML report here")
    rep.set_defaults(fn=cmd_eval_report)

    val = ev.add_parser("validity", help="agreement of each metric with labelled trajectories")
    val.add_argument("--labels", required=True, help="JSONL {id, label, result} (BFCL ids)")
    val.add_argument("--json", help="also write the report as JSON here")
    val.set_defaults(fn=cmd_eval_validity)

    bfcl = sub.add_parser("bfcl", help="the BFCL-V3 multi-turn benchmark").add_subparsers(
        dest="sub", required=True)
    bserve = bfcl.add_parser("serve", help="serve one entry's domains with its scenario")
    bserve.add_argument("entry", help="e.g. multi_turn_base_0")
    bserve.add_argument("--release", default="2025.6.8")
    bserve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    bserve.add_argument("--host", default="127.0.0.1")
    bserve.add_argument("--port", type=int, default=8765)
    bserve.add_argument("--token")
    bserve.add_argument("--repaired", action="store_true",
                        help="serve the repaired entry: its repaired scenario, the port's code "
                             "fixes on, the patched function docs as bfcl://func_docs/CLASS")
    bserve.add_argument("--repaired-dir", metavar="DIR",
                        help="the repaired benchmark (default: the user cache, generated there "
                             "when absent)")
    bserve.set_defaults(fn=cmd_bfcl_serve)
    aud = bfcl.add_parser("audit", help="audit the release: schemas, code, reference trajectories")
    aud.add_argument("--release", default="2025.6.8")
    aud.add_argument("--llm", help="judge for semantic checks (anthropic:M, openai:M@URL, local:N)")
    aud.add_argument("--llm-limit", type=int, metavar="N",
                     help="judge at most N distinct questions, most doubtful first")
    aud.add_argument("--llm-cache", metavar="PATH",
                     help="judge response cache (default: OUT/judge-cache.sqlite)")
    aud.add_argument("--entries", metavar="ID,...",
                     help="audit only these entries' trajectories (skips schema/code checks)")
    aud.add_argument("--out", default="runs/audit", help="directory for audit.json/.md/.html")
    aud.set_defaults(fn=cmd_bfcl_audit)
    rep_ = bfcl.add_parser("repair", help="write the repaired benchmark (BFCL format + suite)")
    rep_.add_argument("--release", default="2025.6.8")
    rep_.add_argument("--out", help="directory (default: the user cache, used by the suite)")
    rep_.add_argument("--audit", help="an audit.json from `eigen bfcl audit` to repair from")
    rep_.add_argument("--trajectory-only", action="store_true",
                      help="audit the reference trajectories only (faster; schema and "
                           "implementation findings then get no disposition)")
    rep_.set_defaults(fn=cmd_bfcl_repair)
    labels = bfcl.add_parser("labels", help="build the labelled validity set from the release")
    labels.add_argument("--out", required=True)
    labels.add_argument("--entries", type=int, default=40)
    labels.add_argument("--seed", type=int, default=0)
    labels.set_defaults(fn=cmd_bfcl_labels)
    fetch = bfcl.add_parser("fetch", help="download and hash-check a bfcl-eval release")
    fetch.add_argument("--release", default="2025.6.8")
    fetch.set_defaults(fn=cmd_bfcl_fetch)

    synth = sub.add_parser("synth", help="EigenCore synthesis agents").add_subparsers(
        dest="sub", required=True)
    senv = synth.add_parser("env", help="DatabaseAgent + CodingAgent: a new environment")
    add_synthesis_arguments(senv)
    senv.set_defaults(fn=cmd_synth_env)

    def data_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--llm", required=True,
                       help="the model of every agent (the assistant too unless --assistant)")
        p.add_argument("--assistant", help="a different model spec for the assistant")
        p.add_argument("--rounds", type=int, default=3)
        p.add_argument("--tasks", type=int, default=6, help="tasks per round")
        p.add_argument("--turns", type=int, default=2, help="user requests per task")
        p.add_argument("--variants", default="base,miss_param,miss_func",
                       help="task variants, rotated through each round")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--max-steps", type=int, default=8, help="assistant steps per turn")
        p.add_argument("--embedder", choices=("auto", "minilm", "ngram"), default="auto",
                       help="near-duplicate embedding (auto: MiniLM when installed)")
        p.add_argument("--optimiser", choices=("auto", "gepa", "builtin"), default="auto",
                       help="prompt revision (auto: GEPA's proposal step when installed)")
        p.add_argument("--no-judge", action="store_true", help="skip the LLM judge pass")

    sdata = synth.add_parser("data", help="DataAgent: verified multi-turn trajectories")
    sdata.add_argument("--domain", required=True,
                       help="a domain name or a bundle directory (`eigen synth env` output)")
    sdata.add_argument("--out", required=True, help="run directory (resumable)")
    data_options(sdata)
    sdata.set_defaults(fn=cmd_synth_data)
    sdom = synth.add_parser("domain", help="spec -> environment -> verified data, end to end")
    sdom.add_argument("--spec", required=True, help="a domain spec (see examples/)")
    sdom.add_argument("--out", help="run directory (resumable; default synth/<spec name>)")
    sdom.add_argument("--scale", type=float, help="multiply the spec's seed volumes")
    sdom.add_argument("--max-repairs", type=int, default=2,
                      help="repairs of the environment for findings of the data stage")
    data_options(sdom)
    sdom.set_defaults(fn=cmd_synth_domain)

    demo = sub.add_parser("demo", help="the main job: serve, exercise and evaluate")
    demo.add_argument("--out", default="runs", help="where the run store and report go")
    demo.add_argument("--per-category", type=int, default=25,
                      help="BFCL tasks per category to evaluate")
    demo.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    except ValueError as e:
        if type(e) is not ValueError:  # subclasses (e.g. pydantic) are bugs: show them whole
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

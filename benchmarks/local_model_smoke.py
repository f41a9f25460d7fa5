"""Smoke benchmark of the offline local models on the showcase suite (`library-demo`, 5 tasks).

For each installed local model, one after the other (never two loaded at once): the time to
assemble or verify its GGUF file, the time to load it, then every task through the real
harness (`rollout` against in-process MCP servers), scored against the reference outcome.
Per task: outcome and per-turn verdicts, steps, tokens, seconds, how steps ended, and
llama.cpp's own counters for prompt and generation throughput (prompt tokens counted are
those actually evaluated: a prefix shared with the previous step is reused from the cache).

Run: `python -m benchmarks.local_model_smoke [--models NAME,...] [--options 'seed=1&...']
[--tasks 1,3] [--json FILE]`
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections import Counter
from typing import Any

import anyio

from clients.models import gguf
from clients.models.local import (
    LocalAdapter,
    default_threads,
    load_model,
    parse_spec,
    unload_model,
)
from eigencore.evaluation.harness import rollout
from eigencore.evaluation.outcome import reference_outcome
from eigencore.evaluation.scoring import score
from eigencore.evaluation.suites import load_suite
from servers.transports import quiet_logs


def _rate(tokens: float, ms: float) -> float:
    return tokens / (ms / 1000) if ms > 0 else 0.0


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}


async def run_model(name: str, options: str, task_ids: set[str] | None) -> dict[str, Any]:
    spec = f"{name}?{options}" if options else name
    _, opts = parse_spec(spec)
    t0 = time.perf_counter()
    path = gguf.ensure_model(name)
    prepare_s = time.perf_counter() - t0
    model = load_model(name, n_ctx=opts.n_ctx, threads=opts.threads)
    print(f"\n== local:{spec}  file {path.name} ({path.stat().st_size / 1e6:.0f} MB): "
          f"assemble/verify {prepare_s:.2f} s, load {model.load_s:.2f} s, "
          f"n_ctx {opts.n_ctx}, threads {opts.threads or default_threads()}")
    tasks = [t for t in load_suite("library-demo") if task_ids is None or t.id in task_ids]
    header = (f"{'task':<16} {'outcome':>7} {'per-turn':>8} {'steps':>5} {'tok in':>7} "
              f"{'tok out':>7} {'sec':>6} {'pp tok/s':>8} {'tg tok/s':>8}  step ends")
    print(header, flush=True)
    rows = []
    for task in tasks:
        adapter = LocalAdapter(spec)
        before = model.perf()
        started = time.perf_counter()
        transcript = await rollout(task, adapter)
        seconds = time.perf_counter() - started
        perf = _delta(model.perf(), before)
        verdict = score(task, transcript, reference_outcome(task))
        steps = sum(len(t.steps) for t in transcript.turns)
        ends = Counter(_step_end(s) for t in transcript.turns for s in t.steps)
        row = {"task": task.id, "outcome": verdict.outcome, "per_turn": verdict.per_turn,
               "steps": steps, "input_tokens": transcript.usage.input_tokens,
               "output_tokens": transcript.usage.output_tokens, "seconds": round(seconds, 2),
               "prompt_tok_s": round(_rate(perf["prompt_tokens"], perf["prompt_ms"]), 1),
               "gen_tok_s": round(_rate(perf["gen_tokens"], perf["gen_ms"]), 1),
               "perf": perf, "step_ends": dict(ends), "error": transcript.error,
               "explain": verdict.explain(),
               "calls": transcript.decoded_calls(),
               "replies": [t.reply_text for t in transcript.turns]}
        rows.append(row)
        print(f"{task.id:<16} {_yn(verdict.outcome):>7} {_yn(verdict.per_turn):>8} "
              f"{steps:>5} {row['input_tokens']:>7} {row['output_tokens']:>7} "
              f"{seconds:>6.1f} {row['prompt_tok_s']:>8.1f} {row['gen_tok_s']:>8.1f}  "
              f"{', '.join(f'{k} x{v}' for k, v in sorted(ends.items()))}"
              + (f"  ERROR {transcript.error}" if transcript.error else ""), flush=True)
    total = {k: sum(r["perf"][k] for r in rows) for k in ("prompt_tokens", "prompt_ms",
                                                           "gen_tokens", "gen_ms")}
    summary = {
        "model": f"local:{spec}", "prepare_s": round(prepare_s, 2),
        "load_s": round(model.load_s, 2),
        "outcome_pass": sum(r["outcome"] for r in rows),
        "per_turn_pass": sum(r["per_turn"] for r in rows), "tasks": len(rows),
        "seconds": round(sum(r["seconds"] for r in rows), 1),
        "prompt_tok_s": round(_rate(total["prompt_tokens"], total["prompt_ms"]), 1),
        "gen_tok_s": round(_rate(total["gen_tokens"], total["gen_ms"]), 1),
        "perf": total, "rows": rows,
    }
    # Peak for the process so far: run one model per process for a per-model figure.
    summary["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    print(f"outcome {summary['outcome_pass']}/{len(rows)}, per-turn "
          f"{summary['per_turn_pass']}/{len(rows)}, {summary['seconds']} s; llama.cpp: "
          f"{total['prompt_tokens']:.0f} prompt tokens at {summary['prompt_tok_s']} tok/s, "
          f"{total['gen_tokens']:.0f} generated at {summary['gen_tok_s']} tok/s; "
          f"peak RSS {summary['peak_rss_gb']} GB")
    for r in rows:
        for turn, (calls, reply) in enumerate(zip(r["calls"], r["replies"], strict=False)):
            flat = [c for step in calls for c in step]
            print(f"  {r['task']} turn {turn}: calls {flat}; reply {reply[:160]!r}")
    unload_model(name)
    return summary


def _step_end(step: Any) -> str:
    return "calls" if step.calls else "reply"


def _yn(ok: bool) -> str:
    return "pass" if ok else "fail"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(gguf.MODELS),
                        help="comma-separated local model names (default: all installed)")
    parser.add_argument("--options", default="", help="spec options, e.g. 'temperature=0.7'")
    parser.add_argument("--tasks", default="", help="task numbers, e.g. 1,3 (default: all)")
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args()
    quiet_logs()
    task_ids = ({f"library-demo-{n.strip()}" for n in args.tasks.split(",")}
                if args.tasks else None)
    print(f"cores usable {len(os.sched_getaffinity(0))}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        cached = (gguf.cache_dir() / gguf.model_spec(name).filename).is_file()
        if not gguf.parts_installed(name) and not cached:
            print(f"\n== local:{name}: not installed ({gguf.model_spec(name).install_hint()})")
            continue
        results.append(anyio.run(run_model, name, args.options, task_ids))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, default=str)


if __name__ == "__main__":
    main()

"""Orchestrator: spec → DatabaseAgent → CodingAgent (→ DatabaseAgent again when the code
needs a schema change) → a bundle directory `eigen serve` can publish.

The coding stage runs in one of two modes: `whole` (one structured answer holding the whole
module, `coding_agent.CodingAgent`) or `per-tool` (one tool and its tests at a time, as a
fenced code block, `tool_coder.PerToolCodingAgent`); `auto` picks per-tool for `local:`
models, which cannot put a module in a JSON string, and whole for the others.

Everything stays on disk under `out/`:

    spec.json                  the parsed spec
    rounds/<stage>-<n>/        prompt.md, response.json, validation.json (+ schema.sql,
                               scenario.json or bundle/<name>/ of that round); stages are
                               database, coding (whole) or coding-<tool>, coding-recheck,
                               coding-assembled (per-tool)
    <name>/                    the accepted bundle (load with `load_bundle_dir`)
    summary.json, summary.txt  rounds per stage, what failed and how it was fixed
    llm-cache.db               every model exchange (`main` only): replays offline

Re-running on the same `out/` resumes: rounds whose prompt is unchanged are replayed from
disk (no model call, no sandbox run), so only the unfinished part costs anything.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Literal

import anyio

from eigencore.agents import Journal, StructuredMode, write_atomic
from eigencore.agents.coding_agent import CodingAgent, load_bundle_dir
from eigencore.agents.database_agent import DatabaseAgent, scenario_of, schema_text
from eigencore.agents.options import PER_TOOL_ROUNDS, WHOLE_ROUNDS, add_arguments
from eigencore.agents.sandbox import Sandbox
from eigencore.agents.spec import load_spec
from eigencore.agents.tool_coder import PerToolCodingAgent
from eigencore.llm.structured import LLM
from environments.conformance import check_bundle

__all__ = ["add_arguments", "choose_modes", "load_bundle_dir", "main", "synthesize"]

Structured = Literal["auto", "text", "tool"]
Coding = Literal["auto", "whole", "per-tool"]


def choose_modes(model: str, structured: Structured = "auto",
                 coding: Coding = "auto") -> tuple[StructuredMode, Literal["whole", "per-tool"]]:
    """What `auto` means for a model: a local (llama.cpp, grammar-constrained) model answers
    structured requests as tool calls and writes the tools one at a time; any other model
    answers in JSON text and writes the module whole."""
    local = model.startswith("local:")
    mode: StructuredMode = ("tool" if local else "text") if structured == "auto" else structured
    return mode, ("per-tool" if local else "whole") if coding == "auto" else coding


async def synthesize(spec_path: str | Path, llm: LLM, out_dir: str | Path, *,
                     scale: float | None = None, sandbox: Sandbox | None = None,
                     db_rounds: int = 4, code_rounds: int | None = None,
                     schema_revisions: int = 2, structured: Structured = "auto",
                     coding: Coding = "auto", fix_drafts: bool = True,
                     resample: bool = True) -> dict[str, Any]:
    """Run both agents; returns the run summary (also written to `out_dir`).

    `structured="auto"` asks a local (grammar-constrained) model for answers as tool calls and
    any other model for JSON text; see `eigencore.agents.StructuredMode`. `coding="auto"`
    writes the tools one at a time for a local model and as one module otherwise;
    `code_rounds` is the whole stage's budget in the whole mode (default 6) and each tool's
    in the per-tool mode (default 3). `fix_drafts=False` leaves every database finding to
    the model (see `eigencore.agents.draft_fixes`); `resample=False` stops a stage or a tool
    when the model repeats itself instead of asking again sampled.
    """
    started = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = load_spec(spec_path, scale=scale)
    write_atomic(out / "spec.json", spec.model_dump_json(indent=1))
    journal = Journal(out)
    mode, coding_mode = choose_modes(llm.adapter.name, structured, coding)
    dba = DatabaseAgent(llm, journal, max_rounds=db_rounds, mode=mode,
                        fix_drafts=fix_drafts, resample=resample)
    coder: CodingAgent | PerToolCodingAgent
    if coding_mode == "per-tool":
        coder = PerToolCodingAgent(llm, journal, sandbox or Sandbox(),
                                   rounds_per_tool=code_rounds or PER_TOOL_ROUNDS,
                                   resample=resample)
    else:
        coder = CodingAgent(llm, journal, sandbox or Sandbox(),
                            max_rounds=code_rounds or WHOLE_ROUNDS, mode=mode)
    summary: dict[str, Any] = {"spec": spec.name, "spec_path": str(spec_path), "ok": False,
                               "bundle": None, "schema_revisions": 0, "outcome": "",
                               "model": llm.adapter.name, "structured": mode,
                               "coding": coding_mode}

    db = await dba.design(spec)
    revisions = 0
    bundle_dir: Path | None = None
    while db.ok and db.draft is not None:
        frozen = revisions >= schema_revisions
        note = ""
        if revisions:
            note = ("The schema above was revised at your request; adapt the code to it.")
        coding = await coder.build(spec, schema_text(spec, db.draft), scenario_of(db.draft),
                                   schema_note=note, schema_frozen=frozen)
        if coding.ok:
            bundle_dir = coding.bundle_dir
            break
        if coding.schema_request is None:
            summary["outcome"] = f"coding stage ended: {coding.stopped}"
            break
        revisions += 1
        db = await dba.design(spec, previous=db.draft, requests=[coding.schema_request])
    else:
        summary["outcome"] = (f"database stage ended: {db.stopped}; last problems: "
                              + "; ".join(f.message for f in db.findings[:3]))
    summary["schema_revisions"] = revisions
    if isinstance(coder, PerToolCodingAgent):
        summary["tools"] = coder.status()

    if bundle_dir is not None:
        final = out / spec.name
        if final.exists():
            shutil.rmtree(final)
        shutil.copytree(bundle_dir, final, ignore=shutil.ignore_patterns(
            "__pycache__", "junit.xml"))
        # The sandbox verdict was on this very code; this re-check is in-process, as serving.
        problems = check_bundle(load_bundle_dir(final))
        summary.update(ok=not problems, bundle=str(final),
                       outcome="all checks passed" if not problems else f"final check: {problems}")
    summary.update(_history(journal))
    summary["stale_rounds"] = _archive_stale(out, journal)
    acc = llm.accounting
    summary["llm"] = {"calls": acc.calls, "cached": acc.cached,
                      "input_tokens": acc.usage.input_tokens,
                      "output_tokens": acc.usage.output_tokens,
                      "cost_usd": round(acc.cost_usd, 6)}
    summary["duration_s"] = round(time.monotonic() - started, 1)
    write_atomic(out / "summary.json", json.dumps(summary, indent=1, ensure_ascii=False))
    write_atomic(out / "summary.txt", summary_text(summary))
    return summary


def _archive_stale(out: Path, journal: Journal) -> list[str]:
    """Rounds on disk that this run did not reach (an earlier run took another path, e.g.
    before the validator changed) move to `stale-rounds/`: kept, but not mistaken for
    this run's record."""
    live = {r.path.name for r in journal.rounds}
    stale = sorted(p for p in (out / "rounds").iterdir() if p.is_dir() and p.name not in live)
    if stale:
        dest = out / "stale-rounds" / time.strftime("%Y%m%dT%H%M%S")
        dest.mkdir(parents=True, exist_ok=True)
        for p in stale:
            shutil.move(str(p), dest / p.name)
    return [p.name for p in stale]


def _problems(validation: dict[str, Any] | None) -> list[str]:
    if not validation:
        return ["(no validation recorded)"]
    if validation.get("routed"):
        return [f"routed to the DatabaseAgent: {validation['schema_request']['message']}"]
    items = [f"[{f['check']}] {f['message']}" for f in validation.get("findings", [])]
    items += [p.splitlines()[0] for p in validation.get("problems", [])]
    items += [f"test {t['name']} failed: {t['message']}"
              for t in validation.get("failed_tests", [])]
    return items


def _history(journal: Journal) -> dict[str, Any]:
    history: list[dict[str, Any]] = []
    per_stage: dict[str, int] = {}
    for rnd in journal.rounds:
        per_stage[rnd.stage] = per_stage.get(rnd.stage, 0) + 1
        validation = rnd.read_json("validation.json")
        response = rnd.read_json("response.json") or {}
        entry = {"round": rnd.label, "ok": bool(validation and validation.get("ok")),
                 "replayed": rnd.replayed,
                 "llm_requests": 0 if rnd.replayed else response.get("llm_requests", 0),
                 "problems": [] if validation and validation.get("ok") else
                 _problems(validation)}
        if validation and validation.get("fixes"):
            entry["agent_fixes"] = validation["fixes"]
        notes = (response.get("value") or {}).get("notes")
        if notes:
            entry["model_notes"] = notes
        history.append(entry)
    fixes: list[str] = []
    failed: dict[str, list[dict[str, Any]]] = {}
    for h in history:
        stage = h["round"].rsplit("-", 1)[0]
        if not h["ok"]:
            failed.setdefault(stage, []).append(h)
        elif stage in failed:
            chain = "; ".join(f"{b['round']}: " + " / ".join(p[:80] for p in b["problems"][:3])
                              for b in failed.pop(stage))
            fixes.append(f"{chain} -> passed in {h['round']} after that feedback")
    return {"rounds": per_stage, "history": history, "fixes": fixes}


def summary_text(s: dict[str, Any]) -> str:
    lines = [f"synthesis of {s['spec']}: {'ACCEPTED' if s['ok'] else 'NOT accepted'}"
             f" ({s['outcome']})"]
    if s.get("bundle"):
        lines.append(f"bundle: {s['bundle']}")
    lines.append("rounds: " + ", ".join(f"{k} {v}" for k, v in s.get("rounds", {}).items())
                 + f"; schema revisions requested by the code: {s['schema_revisions']}")
    for h in s.get("history", []):
        mark = "ok " if h["ok"] else "FAIL"
        lines.append(f"  {mark} {h['round']}{' (replayed)' if h['replayed'] else ''}")
        lines += [f"        fixed by the agent {f[2:160]}" for f in h.get("agent_fixes", [])]
        lines += [f"        - {p[:160]}" for p in h["problems"][:6]]
    if s.get("tools"):
        lines.append("tools (per-tool coding):")
        for name, t in s["tools"].items():
            state = f"accepted in {t['accepted_in']}" if t["ok"] else (
                f"NOT accepted: {t['stopped'] or 'not reached'}")
            lines.append(f"  {name}: {state} ({len(t['rounds'])} round(s))")
    if s.get("fixes"):
        lines.append("fixes:")
        lines += [f"  {f}" for f in s["fixes"]]
    if "llm" in s:
        llm = s["llm"]
        lines.append(f"llm: {llm['calls']} calls, {llm['cached']} from cache, "
                     f"{llm['input_tokens']} in / {llm['output_tokens']} out tokens, "
                     f"${llm['cost_usd']}")
    lines.append(f"model: {s.get('model')} (structured answers as {s.get('structured')}, "
                 f"coding {s.get('coding', 'whole')}); time: {s.get('duration_s')} s")
    return "\n".join(lines) + "\n"


def main(spec: str, llm_spec: str, out: str | None = None, *, scale: float | None = None,
         replay: bool = False, structured: Structured = "auto", db_rounds: int = 4,
         code_rounds: int | None = None, coding: Coding = "auto",
         fix_drafts: bool = True, resample: bool = True, replay_from: str | None = None
         ) -> int:
    """`eigen synth env --spec FILE --llm SPEC [--out DIR]`: 0 when a bundle was accepted.

    Model exchanges are recorded in `out/llm-cache.db`; `replay=True` serves only from it
    (no model needed, a miss is an error); `replay_from` first loads an exported run's
    exchanges (`eigencore.agents.export_run`) into it.
    """
    from clients.models.specs import adapter_factory
    from eigencore.llm.cache import ResponseCache

    out_dir = Path(out or Path("synth") / Path(spec).stem)
    cache = ResponseCache(out_dir / "llm-cache.db")
    if replay_from:
        from eigencore.agents.export_run import load_exchanges

        load_exchanges(replay_from, cache)
    llm = LLM(adapter_factory(llm_spec)(), cache=cache, replay_only=replay or bool(replay_from))
    summary = anyio.run(lambda: synthesize(spec, llm, out_dir, scale=scale,
                                           structured=structured, db_rounds=db_rounds,
                                           code_rounds=code_rounds, coding=coding,
                                           fix_drafts=fix_drafts, resample=resample))
    print(summary_text(summary), end="")
    return 0 if summary["ok"] else 1


def run_args(a: argparse.Namespace) -> int:
    return main(a.spec, a.llm, a.out, scale=a.scale, replay=a.replay, structured=a.structured,
                db_rounds=a.db_rounds, code_rounds=a.code_rounds, coding=a.coding,
                fix_drafts=not a.no_fixes, resample=not a.no_resample,
                replay_from=a.replay_from)


def _cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eigencore.agents.orchestrator",
                                description="synthesise a verified environment from a spec")
    add_arguments(p)
    return run_args(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(_cli())

"""Export a synthesis run's model exchanges as readable, committable files.

A run directory holds its exchanges in `llm-cache.db` (the LLM layer's `ResponseCache`,
binary, keyed by request hash) and its rounds in `rounds/`. This writes:

- `exchanges.jsonl`: one line per exchange, oldest first: its cache key, when it was
  recorded, the model spec, the round(s) whose prompt it answered (matched on the exact user
  prompt; an exchange of an earlier attempt whose round directories were since replaced
  matches none),
  the attempt number within the round, the request messages, and the reply (text, tool
  calls, stop reason, token usage);
- `run.json`: the spec, the run's outcome and every round's recorded verdict (findings and
  problems without their evidence), so a test can replay the answers through the current
  validators and compare.

Paths of the machine (the run directory, temporary sandbox directories) are replaced by
placeholders. Usage: `python -m eigencore.agents.export_run RUN_DIR OUT_DIR [--note TEXT]`.

`load_exchanges` turns an export back into a `ResponseCache` under the recorded keys, so the
whole run replays offline (`eigen synth env ... --replay`, or `--replay-from OUT_DIR`) as
long as today's code asks the same prompts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clients.models.base import Message, Reply, ToolCall, Usage
from eigencore.llm.cache import ResponseCache

_TMP = re.compile(r"/tmp/[^\s\"'`]+")
_USER = "<!-- user -->\n"


def scrub(obj: Any, run_dir: str) -> Any:
    if isinstance(obj, str):
        return _TMP.sub("<tmp>", obj.replace(run_dir, "<run>"))
    if isinstance(obj, list):
        return [scrub(x, run_dir) for x in obj]
    if isinstance(obj, dict):
        return {k: scrub(v, run_dir) for k, v in obj.items()}
    return obj


def _round_prompts(run: Path) -> dict[str, str]:
    """Round label (`database-2`, or `stale/<time>/coding-4`) → its user prompt."""
    found: dict[str, str] = {}
    for p in sorted(run.glob("rounds/*/prompt.md")) + sorted(run.glob(
            "stale-rounds/*/*/prompt.md")):
        text = p.read_text(encoding="utf-8")
        if _USER not in text:
            continue
        label = p.parent.name if p.parent.parent.name == "rounds" else \
            f"stale/{p.parent.parent.name}/{p.parent.name}"
        found[label] = text.split(_USER, 1)[1].removesuffix("\n")
    return found


def round_verdict(validation: dict[str, Any] | None) -> dict[str, Any] | None:
    if validation is None:
        return None
    out: dict[str, Any] = {"ok": bool(validation.get("ok"))}
    if "findings" in validation:
        out["findings"] = [{"check": f["check"], "message": f["message"]}
                           for f in validation["findings"]]
    if "problems" in validation:
        out["problems"] = [p.splitlines()[0] if p else p for p in validation["problems"]]
    if "failed_tests" in validation:
        out["failed_tests"] = validation["failed_tests"]
        out["tests_run"] = validation.get("tests_run", 0)
    if validation.get("routed"):
        out["routed"] = validation["routed"]
    return out


def export_run(run_dir: str | Path, out_dir: str | Path, *, note: str = "",
               replay: list[str] | None = None) -> dict[str, Any]:
    """Write `exchanges.jsonl` and `run.json` for the run in `run_dir`; returns `run.json`.

    `replay` is the `eigen synth env` arguments (without `--out`) that replay the run from
    the export, kept in `run.json` for tests and readers."""
    run, out = Path(run_dir), Path(out_dir)
    root = str(run.resolve())
    prompts = _round_prompts(run)
    db = sqlite3.connect(f"file:{run / 'llm-cache.db'}?mode=ro", uri=True)
    rows = db.execute("SELECT key, model, request, reply, created FROM responses "
                      "ORDER BY created").fetchall()
    db.close()
    attempts: dict[str, int] = {}
    lines = []
    for cache_key, model, request, reply, created in rows:
        messages = json.loads(request)
        answer = json.loads(reply)
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        rounds = [label for label, p in prompts.items() if p == user]
        key = rounds[0] if rounds else "unmatched:" + hashlib.sha256(user.encode()).hexdigest()
        attempts[key] = attempts.get(key, 0) + 1
        lines.append(scrub({
            "key": cache_key,
            "recorded_at": datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "model": model, "rounds": rounds, "attempt": attempts[key],
            "request": {"messages": [{k: v for k, v in m.items() if v not in (None, [], "",
                                                                              False)}
                                     for m in messages]},
            "reply": {"text": answer.get("text", ""), "tool_calls": answer.get("tool_calls", []),
                      "stop_reason": answer.get("stop_reason"), "usage": answer.get("usage")},
        }, root))
    out.mkdir(parents=True, exist_ok=True)
    with (out / "exchanges.jsonl").open("w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    summary = json.loads((run / "summary.json").read_text()) if (
        run / "summary.json").is_file() else {}
    verdicts = {}
    for d in sorted((run / "rounds").iterdir()) if (run / "rounds").is_dir() else []:
        v = d / "validation.json"
        verdicts[d.name] = round_verdict(json.loads(v.read_text()) if v.is_file() else None)
    usage = [ln["reply"]["usage"] or {} for ln in lines]
    record = scrub({
        "note": note,
        "replay": replay or [],
        "model": summary.get("model") or (lines[0]["model"] if lines else None),
        "spec": json.loads((run / "spec.json").read_text()) if (run / "spec.json").is_file()
        else None,
        "outcome": {k: summary.get(k) for k in ("ok", "outcome", "rounds", "structured",
                                                "coding", "tools") if k in summary},
        "exchanges": len(lines),
        "unmatched_exchanges": sum(1 for ln in lines if not ln["rounds"]),
        "input_tokens": sum(u.get("input_tokens", 0) for u in usage),
        "output_tokens": sum(u.get("output_tokens", 0) for u in usage),
        "rounds": verdicts,
    }, root)
    (out / "run.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n",
                                  encoding="utf-8")
    (out / "README.md").write_text(_readme(record, out), encoding="utf-8")
    return record


def _readme(record: dict[str, Any], out: Path) -> str:
    outcome = record["outcome"]
    verdict = ("no summary: the run was stopped before it ended" if "ok" not in outcome else
               f"{'ACCEPTED' if outcome['ok'] else 'not accepted'}: {outcome.get('outcome')}")
    lines = [f"# Recorded synthesis run: {out.name}", "",
             record["note"] or "(no provenance note given)", "",
             f"- model: `{record['model']}`",
             f"- {record['exchanges']} exchanges ({record['unmatched_exchanges']} matching no "
             f"kept round), {record['input_tokens']:,} prompt and "
             f"{record['output_tokens']:,} output tokens",
             f"- rounds: {outcome.get('rounds') or sorted(record['rounds'])}",
             f"- outcome: {verdict}"]
    for name, t in (outcome.get("tools") or {}).items():
        lines.append(f"  - `{name}`: " + (f"accepted in {t['accepted_in']}" if t["ok"] else
                                           f"not accepted ({t['stopped'] or 'not reached'})"))
    lines += ["", "`exchanges.jsonl` holds every exchange (request, reply, cache key); `run.json`"
              " the spec, the outcome and each round's verdict."]
    if record["replay"]:
        lines += ["", "Replay it offline (no model; the sandbox checks run again):", "",
                  "    eigen synth env " + " ".join(shlex.quote(a) for a in record["replay"])
                  + f" \\\n        --out /tmp/replay --replay-from examples/recorded/{out.name}",
                  "", "`tests/agents/test_recorded_runs.py` does this and compares every "
                  "round's verdict with the recorded one."]
    return "\n".join(lines) + "\n"


def load_exchanges(export_dir: str | Path, cache: ResponseCache) -> int:
    """Put an export's replies into `cache` under their recorded keys; returns how many."""
    n = 0
    path = Path(export_dir) / "exchanges.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        if "key" not in e:
            raise ValueError(f"{path} predates recorded keys: it replays only answer by answer")
        reply = Reply(text=e["reply"]["text"], stop_reason=e["reply"]["stop_reason"],
                      tool_calls=[ToolCall(**c) for c in e["reply"]["tool_calls"]],
                      usage=Usage(**(e["reply"]["usage"] or {})))
        messages = [Message(**m) for m in e["request"]["messages"]]
        cache.put(e["key"], e["model"], messages, reply)
        n += 1
    return n


def _cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eigencore.agents.export_run",
                                description="export a synthesis run's model exchanges")
    p.add_argument("run_dir", help="a synthesis run directory (holding llm-cache.db)")
    p.add_argument("out_dir", help="where exchanges.jsonl and run.json go")
    p.add_argument("--note", default="", help="a line of provenance stored in run.json")
    p.add_argument("--replay", default="",
                   help="the `eigen synth env` arguments that replay the run (one string, "
                        "without --out and --replay-from), stored in run.json")
    a = p.parse_args(argv)
    record = export_run(a.run_dir, a.out_dir, note=a.note, replay=shlex.split(a.replay))
    print(f"{record['exchanges']} exchanges ({record['unmatched_exchanges']} matching no "
          f"round), {len(record['rounds'])} rounds -> {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(_cli())

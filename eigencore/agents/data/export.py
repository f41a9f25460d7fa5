"""Export verified trajectories for training and their tasks for evaluation.

- `openai.jsonl`: one `{"messages", "tools"}` object per line in OpenAI's chat format
  (assistant `tool_calls` with JSON-string arguments, `tool` messages with `tool_call_id`,
  tools as `{"type": "function", "function": {name, description, parameters}}`); the shape
  OpenAI's fine-tuning accepts, so no other keys.
- `anthropic.jsonl`: one `{"system", "messages", "tools"}` object per line in Anthropic's
  Messages format (`tool_use` blocks in assistant turns, `tool_result` blocks first in the
  following user turn, roles alternating, tools as `{name, description, input_schema}`).
- `data.parquet`: a Hugging Face `datasets`-loadable table (`load_dataset("parquet", ...)`):
  `messages` as OpenAI-shaped structs, `tools` as a JSON string (tool schemas differ in
  shape, which a columnar struct cannot hold), plus ids and verification metadata.
  Needs `pyarrow` (extra `eigendata[export]`).
- `suite.jsonl`: the tasks as an EigenData suite, one `Task` per line (`load_task_file`).
- `manifest.jsonl`: per trajectory its id and its line in the chat files (or null).

Both chat formats fix the tool list for a whole conversation, so a trajectory whose task adds
a tool mid-conversation (miss_func) cannot be written faithfully: with the full list it
would teach "I cannot do that" while the tool is offered. Such trajectories go to the parquet
file (with the tools visible at every turn) and the suite, not to the chat files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clients.models.base import Message, ToolDef
from eigencore.agents.data.bundle_dirs import is_bundle_dir, register_bundle_dir, registered_dirs
from eigencore.agents.data.verify import TrajectoryResult
from eigencore.evaluation.task import Task

_ID = re.compile(r"[^a-zA-Z0-9_-]")


class _Ids:
    """Call ids as exported: valid for Anthropic (^[a-zA-Z0-9_-]+$, which scripted or local
    ids may not be) and unique in the conversation (some models restart at `call_0` every
    step); a result refers to the latest call with its raw id."""

    def __init__(self) -> None:
        self.latest: dict[str, str] = {}
        self.used: set[str] = set()

    def new(self, raw: str) -> str:
        base = _ID.sub("_", raw or "") or "call"
        ident, n = base, 1
        while ident in self.used:
            ident, n = f"{base}_{n}", n + 1
        self.used.add(ident)
        self.latest[raw] = ident
        return ident

    def of(self, raw: str | None) -> str:
        return self.latest.get(raw or "") or self.new(raw or "")


def openai_tools(tools: Sequence[ToolDef]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.input_schema}} for t in tools]


def anthropic_tools(tools: Sequence[ToolDef]) -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in tools]


def openai_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ids = _Ids()
    for m in messages:
        if m.role in ("system", "user"):
            out.append({"role": m.role, "content": m.content})
        elif m.role == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            if m.tool_calls:
                calls = []
                for c in m.tool_calls:
                    calls.append({"id": ids.new(c.id), "type": "function",
                                  "function": {"name": c.name,
                                               "arguments": json.dumps(c.arguments,
                                                                       ensure_ascii=False)}})
                msg["tool_calls"] = calls
            out.append(msg)
        else:
            out.append({"role": "tool", "tool_call_id": ids.of(m.tool_call_id),
                        "content": m.content})
    return out


def anthropic_messages(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """(system, messages): tool results ride in user turns, consecutive turns of one role are
    merged, since the Messages API wants the roles to alternate."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    out: list[dict[str, Any]] = []
    ids = _Ids()

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for m in messages:
        if m.role == "system":
            continue
        if m.role == "user":
            add("user", [{"type": "text", "text": m.content}])
        elif m.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if m.content.strip():
                blocks.append({"type": "text", "text": m.content})
            for c in m.tool_calls:
                blocks.append({"type": "tool_use", "id": ids.new(c.id), "name": c.name,
                               "input": c.arguments})
            if blocks:
                add("assistant", blocks)
        else:
            add("user", [{"type": "tool_result",
                          "tool_use_id": ids.of(m.tool_call_id),
                          "content": m.content, "is_error": m.is_error}])
    return system, out


def _tools_for(result: TrajectoryResult, tools: dict[str, list[ToolDef]]) -> list[ToolDef]:
    # Every tool the task ever shows, withheld ones included: a trainer needs their schemas.
    return [t for d in result.task.domains for t in tools.get(d, [])]


def chat_exportable(result: TrajectoryResult) -> bool:
    return not result.task.withheld


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def write_openai(path: Path, results: Sequence[TrajectoryResult],
                 tools: dict[str, list[ToolDef]]) -> Path:
    return _write_jsonl(path, [
        {"messages": openai_messages(r.dialogue.transcript.messages),
         "tools": openai_tools(_tools_for(r, tools))} for r in results if chat_exportable(r)])


def write_anthropic(path: Path, results: Sequence[TrajectoryResult],
                    tools: dict[str, list[ToolDef]]) -> Path:
    rows = []
    for r in (r for r in results if chat_exportable(r)):
        system, messages = anthropic_messages(r.dialogue.transcript.messages)
        rows.append({"system": system, "messages": messages,
                     "tools": anthropic_tools(_tools_for(r, tools))})
    return _write_jsonl(path, rows)


def parquet_schema() -> Any:
    import pyarrow as pa

    call = pa.struct([("id", pa.string()), ("type", pa.string()),
                      ("function", pa.struct([("name", pa.string()),
                                              ("arguments", pa.string())]))])
    message = pa.struct([("role", pa.string()), ("content", pa.string()),
                         ("tool_calls", pa.list_(call)), ("tool_call_id", pa.string())])
    return pa.schema([
        ("id", pa.string()), ("task_id", pa.string()), ("domain", pa.string()),
        ("variant", pa.string()), ("round", pa.int32()), ("prompt_version", pa.int32()),
        ("goal", pa.string()), ("messages", pa.list_(message)), ("tools", pa.string()),
        ("tools_by_turn", pa.string()), ("assertions", pa.string()),
        ("verification", pa.string()),
    ])


def write_parquet(path: Path, results: Sequence[TrajectoryResult],
                  tools: dict[str, list[ToolDef]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for r in results:
        messages = []
        for m in openai_messages(r.dialogue.transcript.messages):
            messages.append({"role": m["role"], "content": m.get("content"),
                             "tool_calls": m.get("tool_calls", []),
                             "tool_call_id": m.get("tool_call_id")})
        rows.append({
            "id": f"{r.task.id}/0", "task_id": r.task.id, "domain": ",".join(r.task.domains),
            "variant": r.task.category, "round": int(r.task.meta.get("round", 0)),
            "prompt_version": int(r.task.meta.get("prompt_version", 0)),
            "goal": str(r.task.meta.get("goal", "")), "messages": messages,
            "tools": json.dumps(openai_tools(_tools_for(r, tools)), ensure_ascii=False),
            "tools_by_turn": json.dumps([t.tools for t in r.dialogue.transcript.turns]),
            "assertions": json.dumps(r.task.meta.get("assertions", []), ensure_ascii=False),
            "verification": json.dumps({
                "verified": r.verified, "judge": r.judge.model_dump() if r.judge else None,
                "judge_name": r.judge_name}, ensure_ascii=False),
        })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=parquet_schema()), path)
    return path


def write_suite(path: Path, tasks: Sequence[Task]) -> Path:
    """One `Task` per line. A task over a synthesized bundle directory names it in
    `meta["bundle_dirs"]`, so `load_task_file` (`eigen eval run --suite file:PATH`) can serve
    it in a process that has never seen the directory."""
    dirs = registered_dirs()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for t in tasks:
            mine = {d: str(dirs[d]) for d in t.domains if d in dirs}
            if mine:
                t = t.model_copy(update={"meta": {**t.meta, "bundle_dirs": mine}})
            f.write(t.model_dump_json() + "\n")
    return path


def load_task_file(path: str | Path, categories: Sequence[str] | None = None) -> list[Task]:
    """An EigenData suite file (one `Task` JSON per line), e.g. a synthesized `suite.jsonl`;
    bundle directories the tasks name (`meta["bundle_dirs"]`) are registered."""
    tasks = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            task = Task.model_validate_json(line)
            if not categories or task.category in categories:
                tasks.append(task)
    seen: set[str] = set()
    for task in tasks:
        for directory in (task.meta.get("bundle_dirs") or {}).values():
            if directory not in seen and is_bundle_dir(directory):
                seen.add(directory)
                register_bundle_dir(directory)
    return tasks


def export_all(out_dir: Path, results: Sequence[TrajectoryResult],
               tools: dict[str, list[ToolDef]]) -> dict[str, str]:
    """Every format that can be written here; parquet is skipped (and said so) without
    pyarrow."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "openai": str(write_openai(out_dir / "openai.jsonl", results, tools)),
        "anthropic": str(write_anthropic(out_dir / "anthropic.jsonl", results, tools)),
        "suite": str(write_suite(out_dir / "suite.jsonl", [r.task for r in results])),
    }
    line = 0
    manifest = []
    for r in results:
        manifest.append({"id": f"{r.task.id}/0", "task_id": r.task.id,
                         "chat_line": line if chat_exportable(r) else None})
        line += chat_exportable(r)
    paths["manifest"] = str(_write_jsonl(out_dir / "manifest.jsonl", manifest))
    (out_dir / "tools.json").write_text(json.dumps(
        {d: [t.model_dump() for t in ts] for d, ts in tools.items()}, indent=1),
        encoding="utf-8")
    paths["tools"] = str(out_dir / "tools.json")
    try:
        paths["parquet"] = str(write_parquet(out_dir / "data.parquet", results, tools))
    except ImportError:
        paths["parquet"] = "skipped: pyarrow is not installed (pip install 'eigendata[export]')"
    return paths

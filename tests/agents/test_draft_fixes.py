"""The DatabaseAgent's mechanical fixes (`eigencore.agents.draft_fixes`).

The drafts below are SCRIPTED fixtures written in the shape the real 0.5B model answered
(no keys, relations held as names in TEXT columns, one line of DDL): hand-written, not model
output. The tests check what is fixed, what is left to the model, and that the round record
keeps the model's own findings apart from the agent's changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from clients.models.base import Message, Reply, TaskContext, ToolDef, Usage
from eigencore.agents import Journal
from eigencore.agents.database_agent import DatabaseAgent, DatabaseDraft, validate_draft
from eigencore.agents.draft_fixes import apply_fixes
from eigencore.agents.spec import parse_spec
from eigencore.llm.structured import LLM

SPEC = parse_spec("""---
name: clinic
---
# Clinic

Doctors in departments see patients.

## Entities
- departments (2): name (unique), floor
- doctors (2): name, department, email (unique)
- appointments (3): doctor, starts_at, status

## Tools
- list_doctors (read-only): doctors of a department
""")

KEYLESS_DDL = (
    "CREATE TABLE IF NOT EXISTS departments (name TEXT UNIQUE, floor INTEGER NOT NULL); "
    "CREATE TABLE IF NOT EXISTS doctors (name TEXT UNIQUE, department TEXT, email TEXT UNIQUE);"
    " CREATE TABLE appointments (\n  appointment_id INTEGER NOT NULL,\n  doctor TEXT,\n"
    "  starts_at TEXT, status TEXT CHECK (status IN ('booked', 'done')));")
ROWS = {
    "departments": [{"name": "Cardiology", "floor": 1}, {"name": "Pediatrics", "floor": 2}],
    "doctors": [
        {"name": "Dr. Ana Ruiz", "department": "Cardiology", "email": "ana.ruiz@example.com"},
        {"name": "Dr. Ben Okafor", "department": "Pediatrics",
         "email": "ben.okafor@example.com"}],
    "appointments": [
        {"appointment_id": 7, "doctor": "Dr. Ana Ruiz", "starts_at": "2026-01-05 09:00",
         "status": "booked"},
        {"appointment_id": 8, "doctor": "Dr. Ben Okafor", "starts_at": "2026-01-05 09:30",
         "status": "done"},
        {"appointment_id": 9, "doctor": "Dr. Ana Ruiz", "starts_at": "2026-01-05 10:00",
         "status": "booked"}]}


def keyless() -> DatabaseDraft:
    return DatabaseDraft(ddl=KEYLESS_DDL, rows=json.loads(json.dumps(ROWS)))


def test_missing_keys_and_undeclared_relations_are_fixed() -> None:
    before = validate_draft(SPEC, keyless())
    assert {f.check for f in before.findings} == {"primary_key", "implied_relation"}
    fixed, fixes = apply_fixes(keyless(), {f.check for f in before.findings})
    assert validate_draft(SPEC, fixed).ok
    changes = {(f.check, f.table): f.change for f in fixes}
    assert "added `department_id INTEGER PRIMARY KEY`" in changes["primary_key", "departments"]
    # An existing `<singular>_id` column with distinct integers becomes the key, values kept.
    assert changes["primary_key", "appointments"] == \
        "made appointment_id its INTEGER PRIMARY KEY"
    assert [r["appointment_id"] for r in fixed.rows["appointments"]] == [7, 8, 9]
    assert [r["department_id"] for r in fixed.rows["departments"]] == [1, 2]
    assert next(iter(fixed.rows["doctors"][0])) == "doctor_id"
    # Relations held as names point at the parent's UNIQUE name column.
    assert "department TEXT REFERENCES departments(name)" in fixed.ddl
    assert "doctor TEXT REFERENCES doctors(name)" in fixed.ddl
    assert ("implied_relation", "appointments") in changes
    # The rest of each statement is kept as the model wrote it.
    assert "CHECK (status IN ('booked', 'done'))" in fixed.ddl


def test_a_relation_with_values_that_exist_nowhere_is_left_to_the_model() -> None:
    rows = json.loads(json.dumps(ROWS))
    rows["appointments"][1]["doctor"] = "Dr. Nobody"
    draft = DatabaseDraft(ddl=KEYLESS_DDL, rows=rows)
    fixed, fixes = apply_fixes(draft, {"primary_key", "implied_relation"})
    assert ("implied_relation", "appointments") not in {(f.check, f.table) for f in fixes}
    left = validate_draft(SPEC, fixed).findings
    assert [f.check for f in left] == ["implied_relation"]
    assert "'Dr. Nobody'" in left[0].render()


def test_duplicate_key_values_are_not_overwritten() -> None:
    rows = json.loads(json.dumps(ROWS))
    rows["appointments"][2]["appointment_id"] = 7
    fixed, fixes = apply_fixes(DatabaseDraft(ddl=KEYLESS_DDL, rows=rows), {"primary_key"})
    assert ("primary_key", "appointments") not in {(f.check, f.table) for f in fixes}
    assert [r["appointment_id"] for r in fixed.rows["appointments"]] == [7, 8, 7]


def test_a_valid_draft_is_left_alone() -> None:
    fixed, _ = apply_fixes(keyless(), {"primary_key", "implied_relation"})
    again, fixes = apply_fixes(fixed, {"primary_key", "implied_relation"})
    assert fixes == [] and again is fixed


class RepeatingModel:
    """Scripted backend (a fixture, not model output): gives the keyless draft every time,
    as the 0.5B model did."""

    name = "scripted:repeat"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        self.prompts.append(messages[-1].content)
        return Reply(text=keyless().model_dump_json(), usage=Usage(input_tokens=1,
                                                                   output_tokens=1))


def design(tmp_path: Path, *, fix: bool) -> tuple[object, RepeatingModel]:
    model = RepeatingModel()
    agent = DatabaseAgent(LLM(model), Journal(tmp_path), max_rounds=3, fix_drafts=fix)
    return anyio.run(lambda: agent.design(SPEC)), model


def test_the_agent_accepts_after_its_fixes_and_records_both_sides(tmp_path: Path) -> None:
    result, model = design(tmp_path, fix=True)
    assert result.ok and len(model.prompts) == 1
    record = json.loads((tmp_path / "rounds/database-1/validation.json").read_text())
    assert record["ok"] and record["findings"] == []
    assert {f["check"] for f in record["model_draft_findings"]} == {"primary_key",
                                                                    "implied_relation"}
    assert any("departments: added `department_id" in f for f in record["fixes"])
    assert "department_id INTEGER PRIMARY KEY" in \
        (tmp_path / "rounds/database-1/schema.sql").read_text()


def test_without_fixes_the_model_gets_the_findings(tmp_path: Path) -> None:
    result, model = design(tmp_path, fix=False)
    assert not result.ok
    assert "[primary_key] table 'departments' has no primary key" in model.prompts[1]
    # The same answer again is called out, then the stage stops rather than repeat a prompt.
    assert "[unchanged]" in model.prompts[2] and len(model.prompts) == 3


def test_an_unchanged_draft_is_asked_for_again_sampled(tmp_path: Path) -> None:
    seen: list[object] = []

    class Recording(RepeatingModel):
        async def start(self, task: TaskContext) -> None:
            seen.append(task.sampling)

    agent = DatabaseAgent(LLM(Recording()), Journal(tmp_path), max_rounds=3, fix_drafts=False)
    anyio.run(lambda: agent.design(SPEC))
    # Round 2 repeated round 1's draft: round 3 is sampled, its seed the round's index.
    assert seen[:2] == [None, None] and seen[2] is not None and seen[2].seed == 2

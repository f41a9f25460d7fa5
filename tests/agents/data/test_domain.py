"""`eigen synth domain` end to end with SCRIPTED models: spec -> DatabaseAgent + CodingAgent
-> DataAgent, one environment finding routed back to the CodingAgent, the data stage resumed
on the repaired bundle, and a run killed in the data stage resumed without redoing anything.

Every "model answer" here is a hand-written fixture (labelled SCRIPTED), not model output.
The data generator asks for the same task every round: look up a product's price, then
change it with `set_price`, a tool the spec (and so the first bundle) lacks. Round 0 can only
reject it (`invalid_task`, a `missing_tool` finding); the finding goes to the CodingAgent,
whose scripted repair adds the tool; round 1 runs over the repaired bundle and the same task
is verified. The assistant acts on the user's words only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from clients.models.base import Message, Reply, TaskContext, ToolCall, ToolDef, Usage
from eigencore import cli
from eigencore.agents.coding_agent import load_bundle_dir
from eigencore.agents.data import export, pipeline, simulate, tasks, verify
from eigencore.agents.data.evolve import EnvironmentFinding, Evidence
from eigencore.agents.domain import DomainSummary, arun_domain
from eigencore.agents.env_repair import guess_kind, repair
from eigencore.agents.sandbox import Sandbox, SandboxLimits
from eigencore.agents.spec import load_spec
from eigencore.evaluation.store import RunStore
from eigencore.llm.structured import LLM
from environments import registry

SPEC = """---
name: gadget_shop
---
# Gadget shop

A small shop's catalogue: products with a SKU, a name, a price in cents and a stock count.

## Entities
- products (3): sku, name, price_cents, stock

## Tools
- get_product (read-only): a product by its SKU
- restock: add a quantity to a product's stock
"""

DDL = ("CREATE TABLE products (product_id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, "
       "name TEXT NOT NULL, price_cents INTEGER NOT NULL CHECK (price_cents >= 0), "
       "stock INTEGER NOT NULL CHECK (stock >= 0){extra});")
PRODUCTS = [{"product_id": 1, "sku": "K-1", "name": "Kettle", "price_cents": 2500, "stock": 5},
            {"product_id": 2, "sku": "K-2", "name": "Teapot", "price_cents": 1800, "stock": 0},
            {"product_id": 3, "sku": "K-3", "name": "Mug", "price_cents": 600, "stock": 12}]
SCRIPTED_DB = {"ddl": DDL.format(extra=""), "rows": {"products": PRODUCTS}}

TOOLS_V1 = '''
def _product(db, sku):
    row = db.execute("SELECT * FROM products WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise ToolError(f"no product {sku}", kind="not_found", field="sku")
    return row


@tool(read_only=True)
def get_product(db: Db, sku: str) -> dict:
    """Get a product by its SKU.

    Args:
        sku: The product's SKU, e.g. K-1.
    """
    return dict(_product(db, sku))


@tool
def restock(db: Db, sku: str, quantity: Annotated[int, Field(ge=1)]) -> dict:
    """Add a quantity to a product's stock.

    Args:
        sku: The product's SKU.
        quantity: How many units arrived (at least 1).
    """
    row = _product(db, sku)
    db.execute("UPDATE products SET stock = stock + ? WHERE product_id = ?",
               (quantity, row["product_id"]))
    return dict(_product(db, sku))
'''
SET_PRICE = '''

@tool
def set_price(db: Db, sku: str, price_cents: Annotated[int, Field(ge=0)]) -> dict:
    """Set a product's price.

    Args:
        sku: The product's SKU.
        price_cents: The new price in cents.
    """
    row = _product(db, sku)
    db.execute("UPDATE products SET price_cents = ? WHERE product_id = ?",
               (price_cents, row["product_id"]))
    return dict(_product(db, sku))
'''
TESTS_V1 = '''
def test_get_product(env):
    assert ok(env, "get_product", sku="K-1")["name"] == "Kettle"
    assert refused(env, "get_product", sku="NOPE")["kind"] == "not_found"


def test_restock(env):
    assert ok(env, "restock", sku="K-2", quantity=3)["stock"] == 3
    assert refused(env, "restock", sku="NOPE", quantity=1)["kind"] == "not_found"
'''
TEST_SET_PRICE = '''

def test_set_price(env):
    assert ok(env, "set_price", sku="K-2", price_cents=2100)["price_cents"] == 2100
    assert refused(env, "set_price", sku="NOPE", price_cents=1)["kind"] == "not_found"
'''
# SCRIPTED code drafts: the first bundle, then the repair that adds the missing tool.
SCRIPTED_CODE_V1 = {"tools_code": TOOLS_V1, "test_code": TESTS_V1}
SCRIPTED_CODE_V2 = {"tools_code": TOOLS_V1 + SET_PRICE, "test_code": TESTS_V1 + TEST_SET_PRICE}


class SimulatedKill(BaseException):
    """Stands for the process being killed mid-run."""


class ScriptedEnvLLM:
    """SCRIPTED DatabaseAgent/CodingAgent backend: answers each stage from its queue
    (recognised by the answer schema in the system prompt); an empty queue is a failure."""

    name = "scripted:env-agents"

    def __init__(self, database: list[dict], coding: list[dict]):
        self.queues = {"database": [json.dumps(x) for x in database],
                       "coding": [json.dumps(x) for x in coding]}
        self.asked: list[tuple[str, str]] = []

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        stage = "coding" if "tools_code" in messages[0].content else "database"
        self.asked.append((stage, messages[-1].content))
        if not self.queues[stage]:
            raise AssertionError(f"the {stage} agent was asked again")
        return Reply(text=self.queues[stage].pop(0), usage=Usage(input_tokens=10,
                                                                 output_tokens=10))


def _section(prompt: str, name: str) -> str:
    m = re.search(rf"## {re.escape(name)}\n(.*?)(?=\n## |\Z)", prompt, re.DOTALL)
    return m.group(1).strip() if m else ""


RULE = "Use the tools listed and nothing else."


class ScriptedShopData:
    """SCRIPTED generator / simulator / judge / reflector for the gadget shop."""

    name = "scripted:shop-data"

    def __init__(self, kill_on_generation: int | None = None):
        self.generated = 0
        self.kill_on_generation = kill_on_generation

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        system = messages[0].content if messages[0].role == "system" else ""
        prompt = messages[-1].content
        if tasks.GENERATOR_SYSTEM in system:
            self.generated += 1
            if self.generated == self.kill_on_generation:
                raise SimulatedKill
            text = json.dumps(self.generate(prompt))
        elif simulate.SIMULATOR_SYSTEM in system:
            last = "(this is your last request)" in prompt
            text = json.dumps({"action": "done" if last else "next"})
        elif verify.JUDGE_SYSTEM in system:
            text = json.dumps({"reasoning": "scripted judge", "agrees": True})
        else:  # the reflector: adds a rule, fenced as both proposal formats expect
            m = re.search(r"```\n?(.*?)```", prompt, re.DOTALL)
            current = m.group(1).strip() if m else ""
            text = f"```\n{current} {RULE}\n```"
        return Reply(text=text, usage=Usage(input_tokens=len(prompt) // 4, output_tokens=40))

    @staticmethod
    def generate(prompt: str) -> dict[str, Any]:
        sample = json.loads(_section(prompt, "Sample records (real rows of the database)"))
        product = next(p for p in sample["products"] if p["sku"] == "K-2")
        new = product["price_cents"] + 300
        return {
            "goal": "Check a product's price and change it.",
            "turns": [
                {"user": f"What does {product['name'].lower()} {product['sku']} cost?",
                 "calls": [f"get_product(sku='{product['sku']}')"],
                 "owed": [{"value": product["price_cents"], "label": "get_product.price"}]},
                {"user": f"Please set the price of {product['sku']} to {new} cents.",
                 "calls": [f"set_price(sku='{product['sku']}', price_cents={new})"]}],
            "assertions": [{"table": "products", "where": {"sku": product["sku"]},
                            "expect": {"price_cents": new}}],
        }


class ScriptedShopAssistant:
    """SCRIPTED assistant: acts on the user's last message, reports tool results verbatim."""

    name = "scripted:shop-assistant"

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        if messages[-1].role == "tool":
            return Reply(text=f"Here is what I found: {messages[-1].content}")
        said = messages[-1].content
        sku = re.search(r"K-\d", said)
        price = re.search(r"to (\d+) cents", said)
        names = {t.name for t in tools}
        if price and sku and "set_price" in names:
            return Reply(tool_calls=[ToolCall(id=f"c{len(messages)}", name="set_price",
                                              arguments={"sku": sku.group(0),
                                                         "price_cents": int(price.group(1))})])
        if sku and "cost" in said:
            return Reply(tool_calls=[ToolCall(id=f"c{len(messages)}", name="get_product",
                                              arguments={"sku": sku.group(0)})])
        return Reply(text="Sorry, I cannot do that.")


class CountingSandbox(Sandbox):
    def __init__(self) -> None:
        super().__init__(SandboxLimits(cpu_s=20, wall_s=60))
        self.runs = 0

    def run_python(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        return super().run_python(*args, **kwargs)


def _roles(backend: ScriptedShopData) -> pipeline.Roles:
    return pipeline.Roles(generator=LLM(backend), simulator=LLM(backend),
                          reflector=LLM(backend), assistant=ScriptedShopAssistant,
                          judge=verify.LLMJudge(LLM(backend)))


def _run(spec: Path, out: Path, env: ScriptedEnvLLM, data: ScriptedShopData,
         sandbox: Sandbox) -> DomainSummary:
    return anyio.run(lambda: arun_domain(
        spec, "scripted", out, rounds=2, tasks_per_round=1, env_llm=LLM(env),
        roles=_roles(data), sandbox=sandbox, embedder=verify.NgramTfidf(),
        settings=pipeline.Settings(variants=("base",))))


@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run killed in data round 1 (after the repair), then resumed to the end."""
    base = tmp_path_factory.mktemp("domain")
    spec = base / "gadget_shop.md"
    spec.write_text(SPEC)
    out = base / "run"
    env1 = ScriptedEnvLLM([SCRIPTED_DB], [SCRIPTED_CODE_V1, SCRIPTED_CODE_V2])
    data1 = ScriptedShopData(kill_on_generation=2)
    box1 = CountingSandbox()
    with pytest.raises(SimulatedKill):
        _run(spec, out, env1, data1, box1)
    killed_state = json.loads((out / "domain.json").read_text())
    env2, data2, box2 = ScriptedEnvLLM([], []), ScriptedShopData(), CountingSandbox()
    summary = _run(spec, out, env2, data2, box2)
    return {"out": out, "summary": summary, "killed": killed_state, "env1": env1,
            "env2": env2, "data1": data1, "data2": data2, "box1": box1, "box2": box2,
            "spec": spec}


def test_the_finding_is_routed_to_the_coding_agent_and_the_data_resumes_on_the_repair(
        resumed: dict[str, Any]) -> None:
    out, summary = resumed["out"], resumed["summary"]
    assert summary.ok and summary.name == "gadget_shop"
    # env: database then coding; then the repair: coding again, shown the finding.
    assert [s for s, _ in resumed["env1"].asked] == ["database", "coding", "coding"]
    repair_prompt = resumed["env1"].asked[2][1]
    assert "[missing_tool]" in repair_prompt and "set_price(sku='K-2', price_cents=2100)" \
        in repair_prompt
    assert "Your previous answer" in repair_prompt and "def restock" in repair_prompt
    assert "- set_price (write)" in repair_prompt  # added to the spec's tool list

    (fix,) = summary.repairs
    assert fix.ok and fix.routed == {"CodingAgent": fix.findings} and fix.added_tools == [
        "set_price"]
    finding = json.loads(next((out / "data" / "findings").glob("missing_tool-*.json"))
                         .read_text())
    assert finding["route_to"] == "CodingAgent" and finding["tool"] == "set_price"
    assert [f["id"] for f in json.loads((out / "repairs" / "01" / "findings.json")
                                        .read_text())] == [finding["id"]]

    # Round 0 ran on the synthesized bundle, round 1 on the repaired one, with yield 0 -> 1.
    assert summary.round_bundles == {0: str(out / "env" / "gadget_shop"),
                                     1: str(out / "repairs" / "01" / "gadget_shop")}
    rounds = summary.data.rounds  # type: ignore[union-attr]
    assert [r.yield_ for r in rounds] == [0.0, 1.0]
    assert rounds[0].failures == {"invalid_task": 1}
    assert {t.name for t in load_bundle_dir(out / "repairs" / "01" / "gadget_shop").tools} \
        == {"get_product", "restock", "set_price"}
    assert "set_price" not in {t.name for t in load_bundle_dir(out / "env" /
                                                                "gadget_shop").tools}


def test_a_killed_run_resumes_without_redoing_finished_stages(resumed: dict[str, Any]) -> None:
    killed = resumed["killed"]
    assert len(killed["repairs"]) == 1 and killed["round_bundles"] == {
        "0": str(resumed["out"] / "env" / "gadget_shop")}
    assert resumed["box1"].runs == 2  # env coding-1, repair coding-1
    # The resume asked the environment agents nothing and ran no sandbox ...
    assert resumed["env2"].asked == [] and resumed["box2"].runs == 0
    # ... and generated only round 1's task (round 0 is done, the kill was in round 1).
    assert resumed["data1"].generated == 2 and resumed["data2"].generated == 1

    # A finished run re-run does nothing at all.
    again = ScriptedShopData()
    env3, box3 = ScriptedEnvLLM([], []), CountingSandbox()
    summary = _run(resumed["spec"], resumed["out"], env3, again, box3)
    assert summary.ok and again.generated == 0 and env3.asked == [] and box3.runs == 0


def test_the_exported_suite_of_a_synthesized_domain_runs_in_eigen_eval(
        resumed: dict[str, Any], tmp_path: Path) -> None:
    export_dir = resumed["out"] / "data" / "export"
    suite = export.load_task_file(export_dir / "suite.jsonl")
    assert [t.domains for t in suite] == [["gadget_shop"]]
    assert suite[0].meta["bundle_dirs"] == {
        "gadget_shop": str(resumed["out"] / "repairs" / "01" / "gadget_shop")}
    tools = json.loads((export_dir / "tools.json").read_text())["gadget_shop"]
    assert "set_price" in {t["name"] for t in tools}
    rc = cli.main(["eval", "run", "--model", "oracle", "--suite",
                   f"file:{export_dir / 'suite.jsonl'}", "--store", str(tmp_path / "e.db"),
                   "--quiet", "--concurrency", "1"])
    store = RunStore(tmp_path / "e.db")
    (verdict,) = store.verdicts(store.runs()[0]["run_id"])
    assert rc == 0 and verdict.outcome, verdict.explain()
    assert registry.get("gadget_shop").name == "gadget_shop"


def test_a_schema_gap_goes_to_the_database_agent(resumed: dict[str, Any],
                                                 tmp_path: Path) -> None:
    spec = load_spec(resumed["spec"])
    bundle = resumed["out"] / "env" / "gadget_shop"
    gap = EnvironmentFinding(
        id="schema_gap-test", domain="gadget_shop", category="schema_gap",
        route_to="DatabaseAgent", table="products", column="discontinued",
        summary="several tasks expect products.discontinued, which the schema does not have",
        evidence=[Evidence(task_id="t1", round=0, stage="task",
                           message="table products has no column 'discontinued'")])
    revised = {"ddl": DDL.format(extra=", discontinued INTEGER NOT NULL DEFAULT 0 CHECK "
                                       "(discontinued IN (0, 1))"),
               "rows": {"products": [{**p, "discontinued": 0} for p in PRODUCTS]}}
    env = ScriptedEnvLLM([revised], [SCRIPTED_CODE_V1])
    result, _ = anyio.run(lambda: repair(spec, bundle, [gap], LLM(env), tmp_path / "r",
                                         sandbox=CountingSandbox()))
    assert [s for s, _ in env.asked] == ["database", "coding"]
    db_prompt, code_prompt = env.asked[0][1], env.asked[1][1]
    assert "products.discontinued" in db_prompt and "CREATE TABLE products" in db_prompt
    assert "The schema above was revised" in code_prompt and "discontinued INTEGER" in \
        code_prompt
    assert result.ok and result.schema_revised and result.routed == {
        "DatabaseAgent": ["schema_gap-test"]}
    assert "discontinued" in (tmp_path / "r" / "gadget_shop" / "schema.sql").read_text()


def test_tool_kinds_are_guessed_from_the_name() -> None:
    assert [guess_kind(n) for n in ("find_member_by_name", "set_price", "cancel_order")] == [
        "read_only", "write", "destructive"]


def test_synth_data_takes_a_bundle_directory(resumed: dict[str, Any], tmp_path: Path) -> None:
    repaired = resumed["out"] / "repairs" / "01" / "gadget_shop"
    backend = ScriptedShopData()
    summary = anyio.run(lambda: pipeline.arun(
        str(repaired), "scripted", tmp_path, rounds=1, tasks_per_round=1,
        roles=_roles(backend), embedder=verify.NgramTfidf(),
        settings=pipeline.Settings(variants=("base",))))
    assert summary.domain == "gadget_shop" and summary.yields() == [1.0]
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["domain"] == "gadget_shop" and run["source"] == str(repaired)
    # The first version of the bundle (no set_price) can be switched back to by path.
    assert anyio.run(lambda: pipeline.arun(
        str(resumed["out"] / "env" / "gadget_shop"), "scripted", tmp_path / "v0", rounds=1,
        tasks_per_round=1, roles=_roles(ScriptedShopData()), embedder=verify.NgramTfidf(),
        settings=pipeline.Settings(variants=("base",)))).yields() == [0.0]

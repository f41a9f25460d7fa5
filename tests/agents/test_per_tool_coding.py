"""Per-tool coding end to end with a SCRIPTED LLM, and `eigen serve` of the bundle it makes.

Every "model answer" here is a hand-written fixture (`SCRIPTED_*`), not model output. The
script: the database draft has no `stock` column; `get_product` is right at once (after a
re-typed preamble, as the real 1.5B model wrote one); `place_order` first asks for a schema
change (routed to the DatabaseAgent), then crashes and fails its test, then is repaired from
the feedback; `cancel_order` first answers in prose (sent back by the LLM layer: no code
block), then in code. The tests check what reached each prompt, that the assembled bundle
passes `check_bundle` and serves over MCP through the CLI, and that a killed run resumes
without repeating model calls or sandbox runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest

from clients.mcp import stdio_client
from clients.models.base import Message, Reply, TaskContext, ToolDef, Usage
from eigencore.agents.export_run import export_run, load_exchanges
from eigencore.agents.orchestrator import choose_modes, synthesize
from eigencore.agents.pieces import Piece, split_piece
from eigencore.agents.sandbox import Sandbox, SandboxLimits, SandboxResult
from eigencore.agents.spec import parse_spec
from eigencore.agents.tool_coder import schema_change
from eigencore.cli import main as eigen
from eigencore.llm.cache import ResponseCache
from eigencore.llm.code import extract_code
from eigencore.llm.structured import LLM
from environments import registry
from environments.conformance import check_bundle
from tests.agents.test_synthesis import SCRIPTED_DB_FIXED, SCRIPTED_DB_WITH_STOCK, SPEC

SCRIPTED_GET_PRODUCT = '''Here is the tool.

```python
from __future__ import annotations
from . import BUNDLE


def ok(env, tool, **args):
    return env.call(tool, args).value


@tool(read_only=True)
def get_product(db: Db, sku: str) -> dict:
    """Get a product by its SKU.

    Args:
        sku: The product's SKU, e.g. K-1.
    """
    row = db.execute("SELECT * FROM products WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise ToolError(f"no product {sku}", kind="not_found", field="sku")
    return dict(row)


def test_get_product(env):
    assert ok(env, "get_product", sku="K-1")["name"] == "Kettle"
    assert refused(env, "get_product", sku="NOPE")["kind"] == "not_found"
```'''
SCRIPTED_PLACE_ORDER_SCHEMA = ("SCHEMA CHANGE: products needs a column stock INTEGER NOT NULL "
                               "CHECK (stock >= 0) so that place_order can take stock")
PLACE_ORDER_HEAD = '''
@tool
def place_order(db: Db, customer_id: int, sku: str,
                quantity: Annotated[int, Field(ge=1)]) -> dict:
    """Order a quantity of a product for a customer, taking it from stock.

    Args:
        customer_id: Who orders.
        sku: What they order.
        quantity: How many (at least 1).
    """
'''
SCRIPTED_PLACE_ORDER_BUGGY = "```python" + PLACE_ORDER_HEAD + '''\
    product = db.execute("SELECT * FROM products WHERE sku = ?", (sku,)).fetchone()
    return {"total_cents": product["price"] * quantity}


def test_place_order(env):
    assert ok(env, "place_order", customer_id=1, sku="K-1", quantity=2)["status"] == "pending"
```'''
SCRIPTED_PLACE_ORDER_FIXED = "```python" + PLACE_ORDER_HEAD + '''\
    if db.execute("SELECT 1 FROM customers WHERE customer_id = ?", (customer_id,)
                  ).fetchone() is None:
        raise ToolError(f"no customer {customer_id}", kind="not_found", field="customer_id")
    product = db.execute("SELECT * FROM products WHERE sku = ?", (sku,)).fetchone()
    if product is None:
        raise ToolError(f"no product {sku}", kind="not_found", field="sku")
    if product["stock"] < quantity:
        raise ToolError(f"only {product['stock']} of {sku} in stock", kind="not_allowed",
                        field="quantity")
    db.execute("UPDATE products SET stock = stock - ? WHERE product_id = ?",
               (quantity, product["product_id"]))
    cur = db.execute("INSERT INTO orders (customer_id, product_id, quantity, status) "
                     "VALUES (?, ?, ?, 'pending')", (customer_id, product["product_id"], quantity))
    return {"order_id": cur.lastrowid, "status": "pending",
            "total_cents": product["price_cents"] * quantity}


def test_place_order(env):
    assert ok(env, "place_order", customer_id=1, sku="K-1", quantity=2)["status"] == "pending"
    assert ok(env, "get_product", sku="K-1")["stock"] == 3
    assert refused(env, "place_order", customer_id=1, sku="K-2", quantity=1)["kind"] == \\
        "not_allowed"
```'''
SCRIPTED_CANCEL_ORDER_PROSE = "I will cancel the order and restock its product."
SCRIPTED_CANCEL_ORDER = '''```
@tool(destructive=True)
def cancel_order(db: Db, order_id: int) -> dict:
    """Cancel a pending order and put its quantity back in stock.

    Args:
        order_id: The order to cancel.
    """
    order = db.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    if order is None:
        raise ToolError(f"no order {order_id}", kind="not_found", field="order_id")
    if order["status"] != "pending":
        raise ToolError(f"order {order_id} is {order['status']}", kind="not_allowed",
                        field="order_id")
    db.execute("UPDATE orders SET status = 'cancelled' WHERE order_id = ?", (order_id,))
    db.execute("UPDATE products SET stock = stock + ? WHERE product_id = ?",
               (order["quantity"], order["product_id"]))
    return {"order_id": order_id, "status": "cancelled"}


def test_cancel_order_restocks(env):
    ok(env, "cancel_order", order_id=2)
    assert ok(env, "get_product", sku="K-3")["stock"] == 16
    assert refused(env, "cancel_order", order_id=3)["kind"] == "not_allowed"
```'''

SCRIPT = {
    "database": [json.dumps(SCRIPTED_DB_FIXED), json.dumps(SCRIPTED_DB_WITH_STOCK)],
    "get_product": [SCRIPTED_GET_PRODUCT],
    "place_order": [SCRIPTED_PLACE_ORDER_SCHEMA, SCRIPTED_PLACE_ORDER_BUGGY,
                    SCRIPTED_PLACE_ORDER_FIXED],
    "cancel_order": [SCRIPTED_CANCEL_ORDER_PROSE, SCRIPTED_CANCEL_ORDER],
}


class SimulatedKill(BaseException):
    """Stands for the process being killed mid-run."""


class ScriptedWriter:
    """Scripted backend (fixtures, not model output): database requests get the next draft,
    a per-tool request the next answer queued for the tool its prompt names."""

    name = "scripted:per-tool"

    def __init__(self, script: dict[str, list[str]], *, kill_after: int | None = None):
        self.queues = {k: list(v) for k, v in script.items()}
        self.asked: list[tuple[str, list[Message]]] = []
        self.kill_after = kill_after

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        if self.kill_after is not None and len(self.asked) >= self.kill_after:
            raise SimulatedKill
        first = next(m.content for m in messages if m.role == "user")
        m = re.match(r"Write the tool `(\w+)`", first)
        stage = m.group(1) if m else "database"
        self.asked.append((stage, list(messages)))
        return Reply(text=self.queues[stage].pop(0), usage=Usage(input_tokens=10,
                                                                 output_tokens=10))


class CountingSandbox(Sandbox):
    def __init__(self) -> None:
        super().__init__(SandboxLimits(cpu_s=20, wall_s=60))
        self.runs = 0

    def run_python(self, *args, **kwargs) -> SandboxResult:  # type: ignore[override]
        self.runs += 1
        return super().run_python(*args, **kwargs)


def run(spec_file: Path, out: Path, backend: ScriptedWriter,
        sandbox: Sandbox | None = None) -> dict:
    return anyio.run(lambda: synthesize(spec_file, LLM(backend), out, coding="per-tool",
                                        sandbox=sandbox or CountingSandbox()))


def prompt(out: Path, rnd: str) -> str:
    return (out / "rounds" / rnd / "prompt.md").read_text()


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("spec") / "tiny_shop.md"
    p.write_text(SPEC)
    return p


@pytest.fixture(scope="module")
def full_run(spec_file: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("per-tool")
    backend = ScriptedWriter(SCRIPT)
    return out, run(spec_file, out, backend), backend


def test_each_tool_is_written_checked_and_repaired_on_its_own(full_run) -> None:
    out, summary, backend = full_run
    assert [stage for stage, _ in backend.asked] == [
        "database", "get_product", "place_order", "database", "place_order", "place_order",
        "cancel_order", "cancel_order"]
    assert [h["round"] for h in summary["history"]] == [
        "database-1", "coding-get_product-1", "coding-place_order-1", "database-2",
        "coding-recheck-1", "coding-place_order-2", "coding-place_order-3",
        "coding-cancel_order-1", "coding-assembled-1"]
    assert summary["coding"] == "per-tool" and summary["schema_revisions"] == 1
    assert {n: (t["ok"], t["accepted_in"]) for n, t in summary["tools"].items()} == {
        "get_product": (True, "coding-get_product-1"),
        "place_order": (True, "coding-place_order-3"),
        "cancel_order": (True, "coding-cancel_order-1")}
    # The re-typed preamble was dropped, not sent back as a problem.
    piece = json.loads((out / "rounds" / "coding-get_product-1" / "validation.json"
                        ).read_text())["piece"]
    assert any("dropped `ok`" in n for n in piece["notes"])


def test_the_schema_request_goes_to_the_database_agent(full_run) -> None:
    out, _, _ = full_run
    assert "place_order: products needs a column stock" in prompt(out, "database-2")
    assert "asks for these changes" in prompt(out, "database-2")
    recheck = json.loads((out / "rounds" / "coding-recheck-1" / "validation.json").read_text())
    assert recheck["ok"] and "stock" in (out / "rounds" / "coding-recheck-1" / "bundle" /
                                         "tiny_shop" / "schema.sql").read_text()
    assert "revised at your request" in prompt(out, "coding-place_order-2")


def test_feedback_is_for_that_tool_only(full_run) -> None:
    out, _, _ = full_run
    failed = json.loads((out / "rounds" / "coding-place_order-2" / "validation.json"
                         ).read_text())
    assert not failed["ok"] and [t["name"] for t in failed["failed_tests"]] == [
        "test_place_order"]
    assert all("place_order" in p for p in failed["problems"])
    repair = prompt(out, "coding-place_order-3")
    assert "'place_order' crashed" in repair and "No item with that key" in repair
    assert 'product["price"] * quantity' in repair  # the line, and the previous code
    assert "- get_product(sku: str)" in repair  # earlier tools are listed, not re-asked
    assert "def get_product" not in repair


def test_an_answer_without_code_is_sent_back_by_the_llm_layer(full_run) -> None:
    _, _, backend = full_run
    retry = [msgs for stage, msgs in backend.asked if stage == "cancel_order"][1]
    assert retry[-2].content == SCRIPTED_CANCEL_ORDER_PROSE
    assert "no ```python code block" in retry[-1].content


def test_the_assembled_bundle_passes_and_serves_from_the_cli(full_run) -> None:
    out, summary, _ = full_run
    assert summary["ok"] and summary["outcome"] == "all checks passed"
    assert "place_order: accepted in coding-place_order-3" in (out / "summary.txt").read_text()
    bundle = registry.get(str(out / "tiny_shop"))
    assert check_bundle(bundle) == []
    assert registry.get("tiny_shop") is bundle  # later look-ups by name find it
    assert [t.name for t in bundle.tools] == ["get_product", "place_order", "cancel_order"]

    async def serve() -> None:
        # `eigen serve DIR --transport stdio` in a subprocess, as an MCP client starts it.
        async with stdio_client([str(out / "tiny_shop")]) as c:
            assert {t.name for t in await c.list_tools()} == {
                "get_product", "place_order", "cancel_order"}
            placed = await c.call_tool("place_order",
                                       {"customer_id": 2, "sku": "K-3", "quantity": 2})
            assert placed.structured_content["total_cents"] == 1200
            got = await c.call_tool("get_product", {"sku": "K-3"})
            assert got.structured_content["stock"] == 10

    anyio.run(serve)


def test_serve_refuses_a_directory_that_is_not_a_bundle(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert eigen(["serve", "--bundle", str(tmp_path)]) == 2
    assert "not a bundle directory" in capsys.readouterr().err
    assert eigen(["serve", f"{tmp_path}/"]) == 2
    assert "not a bundle (no __init__.py)" in capsys.readouterr().err
    # A registered domain's package reached by a path stays the registered domain.
    library = Path(registry.environments.__path__[0]) / "library"
    assert (library / "__init__.py").is_file() and registry.bundle_dir(str(library)) is None


def test_a_killed_per_tool_run_resumes_without_repeating_work(spec_file: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "synth"
    first = ScriptedWriter(SCRIPT, kill_after=5)  # dies when asked for place_order's fix
    with pytest.raises(SimulatedKill):
        run(spec_file, out, first)
    rest = {"database": [], "get_product": [], "place_order": SCRIPT["place_order"][2:],
            "cancel_order": SCRIPT["cancel_order"]}
    second, sandbox = ScriptedWriter(rest), CountingSandbox()
    summary = run(spec_file, out, second, sandbox)
    assert summary["ok"]
    assert [s for s, _ in second.asked] == ["place_order", "cancel_order", "cancel_order"]
    assert [h["round"] for h in summary["history"] if h["replayed"]] == [
        "database-1", "coding-get_product-1", "coding-place_order-1", "database-2",
        "coding-place_order-2"]
    # Checked code whose verdict is on disk is not checked again: only place_order-3,
    # cancel_order-1 and the assembled module go to the sandbox.
    assert sandbox.runs == 3
    third, sandbox = ScriptedWriter({k: [] for k in SCRIPT}), CountingSandbox()
    assert run(spec_file, out, third, sandbox)["ok"]
    assert third.asked == [] and sandbox.runs == 0


def test_split_piece_keeps_the_model_to_one_tool() -> None:
    spec = parse_spec(SPEC)
    tools = {t.name: t for t in spec.tools}
    earlier = Piece(tool="get_product", code="", helpers={"_row": "def _row(x):\n    return x"},
                    tests=["test_it"])
    code = '''import math
from .tools import get_product
from tools import place_order


def _row(x):
    return dict(x)


@tool
def cancel_order(db: Db, order_id: int) -> dict:
    return {}


@tool(destructive=True)
def place_order(db: Db, sku: str) -> dict:
    return {}


def test_it(env):
    pass


pytest.main()
'''
    piece, problems = split_piece(code, tools["cancel_order"], earlier=[earlier],
                                  all_tools=list(tools))
    assert problems == [
        "`_row` is already defined by the code of `get_product`: call it as it is, or give "
        "yours another name",
        "write only the tool `cancel_order` (and private helpers without @tool); "
        "`place_order` is another tool of the spec, written on its own turn"]
    assert piece.tests == ["test_it_2"] and "def test_it_2(env)" in piece.tests_src
    assert piece.imports == ["import math"] and piece.signature == "cancel_order(order_id: int)"
    assert any("pytest.main()" in n for n in piece.notes)
    assert sum("tools import" in n for n in piece.notes) == 2
    _, problems = split_piece("None", tools["cancel_order"], earlier=[], all_tools=list(tools))
    assert [p.split(":")[0] for p in problems] == [
        "there is no function `def cancel_order(db", "there is no test"]


def test_a_schema_change_is_a_line_of_its_own() -> None:
    assert schema_change("SCHEMA CHANGE: products needs stock") == "products needs stock"
    assert schema_change("**Schema change:** add orders.note") == "add orders.note"
    assert schema_change("No schema change is needed.") is None
    assert schema_change("Schema change not needed here") is None


def test_code_is_taken_from_a_fenced_block() -> None:
    assert extract_code("Sure:\n```python\ndef f():\n    return 1\n```\nDone.") == \
        "def f():\n    return 1"
    assert extract_code("```py\na = 1\n```\ntext\n```python\nb = 2\n```") == "a = 1\n\nb = 2"
    assert extract_code("```python\ndef f():\n    return 1") == "def f():\n    return 1"  # cut
    assert extract_code("@tool\ndef f(db):\n    return 1") == "@tool\ndef f(db):\n    return 1"
    assert extract_code("```sql\nSELECT 1\n```") is None
    assert extract_code("None") is None and extract_code("I would write a function.") is None


def test_modes_follow_the_model() -> None:
    assert choose_modes("local:qwen2.5-coder-1.5b?threads=1") == ("tool", "per-tool")
    assert choose_modes("anthropic:claude") == ("text", "whole")
    assert choose_modes("local:x", "text", "whole") == ("text", "whole")


def test_eigen_synth_env_passes_the_flags(tmp_path: Path) -> None:
    """`eigen synth env` with a local model spec and --replay on an empty run directory: no
    model is loaded (a replay miss fails the round before the adapter is used), and the
    summary shows the flags and the local-model defaults arrived."""
    out = tmp_path / "run"
    code = eigen(["synth", "env", "--spec", str(Path(__file__).resolve().parents[2] / "examples"
                                                / "retail_orders.md"),
                  "--llm", "local:qwen2.5-coder-1.5b", "--out", str(out), "--replay",
                  "--scale", "0.5", "--db-rounds", "1", "--code-rounds", "2"])
    summary = json.loads((out / "summary.json").read_text())
    assert code == 1 and summary["structured"] == "tool" and summary["coding"] == "per-tool"
    assert json.loads((out / "spec.json").read_text())["scale"] == 0.5
    assert summary["rounds"] == {"database": 1}
    assert "no recorded response" in summary["history"][0]["problems"][0]


class StuckWriter(ScriptedWriter):
    """Scripted (fixtures, not model output): `place_order` is answered with the same buggy
    code whenever decoding is greedy, as a small model repeats itself, and correctly only
    when the request is sampled."""

    def __init__(self) -> None:
        super().__init__({"database": [json.dumps(SCRIPTED_DB_WITH_STOCK)],
                          "get_product": [SCRIPTED_GET_PRODUCT],
                          "cancel_order": [SCRIPTED_CANCEL_ORDER]})
        self.sampling: list[object] = []
        self._now: object = None

    async def start(self, task: TaskContext) -> None:
        self._now = task.sampling

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        if "Write the tool `place_order`" in next(m.content for m in messages
                                                  if m.role == "user"):
            self.sampling.append(self._now)
            self.queues["place_order"] = [SCRIPTED_PLACE_ORDER_FIXED if self._now else
                                          SCRIPTED_PLACE_ORDER_BUGGY]
        return await super().respond(messages, tools, turn=turn, step=step)


@pytest.mark.parametrize("resample", [True, False])
def test_a_repeated_failing_answer_is_asked_again_sampled(spec_file: Path, tmp_path: Path,
                                                          resample: bool) -> None:
    backend = StuckWriter()
    summary = anyio.run(lambda: synthesize(spec_file, LLM(backend), tmp_path,
                                           coding="per-tool", sandbox=CountingSandbox(),
                                           resample=resample))
    place = summary["tools"]["place_order"]
    greedy_twice = backend.sampling[:2] == [None, None]
    assert greedy_twice and len(backend.sampling) == 3
    if resample:
        # Round 2 repeated round 1's code, so round 3 is sampled with the round as seed.
        assert backend.sampling[2] is not None and backend.sampling[2].seed == 2
        assert "<!-- sampled: temperature 0.8, seed 2 -->" in prompt(
            tmp_path, "coding-place_order-3")
        assert place["accepted_in"] == "coding-place_order-3" and summary["ok"]
    else:
        assert backend.sampling[2] is None and not place["ok"] and not summary["ok"]
        assert "sampled" not in prompt(tmp_path, "coding-place_order-3")


class NoModel:
    """Stands for the recorded model in a replay: it must never be asked."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def start(self, task: TaskContext) -> None:
        raise AssertionError("a replay asked the model")

    async def respond(self, *args: object, **kwargs: object) -> Reply:
        raise AssertionError("a replay asked the model")


def test_an_exported_run_replays_whole_offline(spec_file: Path, tmp_path: Path) -> None:
    """Export (keys included) → load into a fresh cache → the same run, sampled round and
    all, with no model: what `eigen synth env --replay-from` does with examples/recorded."""
    backend = StuckWriter()
    first = anyio.run(lambda: synthesize(
        spec_file, LLM(backend, cache=ResponseCache(tmp_path / "a" / "llm-cache.db")),
        tmp_path / "a", coding="per-tool", sandbox=CountingSandbox()))
    export_run(tmp_path / "a", tmp_path / "export")
    lines = (tmp_path / "export" / "exchanges.jsonl").read_text().splitlines()
    assert len(lines) == len(backend.asked) and all('"key"' in ln for ln in lines)
    cache = ResponseCache(tmp_path / "b" / "llm-cache.db")
    assert load_exchanges(tmp_path / "export", cache) == len(lines)
    llm = LLM(NoModel(backend.name), cache=cache, replay_only=True)
    again = anyio.run(lambda: synthesize(spec_file, llm, tmp_path / "b", coding="per-tool",
                                         sandbox=CountingSandbox()))
    assert again["ok"] and first["ok"] and llm.accounting.calls == 0
    assert again["tools"] == first["tools"] and again["rounds"] == first["rounds"]
    assert [h["problems"] for h in again["history"]] == [h["problems"] for h in first["history"]]



def test_imports_of_what_the_preamble_provides_are_dropped() -> None:
    # The shape of the real 1.5B answer: every preamble name imported from `typing`.
    tool = parse_spec(SPEC).tools[0]
    code = ("from sqlite3 import Row\n"
            "from typing import Annotated, Any, Literal, BaseModel, Field, Db, ToolError, tool\n"
            "from pydantic import Field as F\n"
            "from environments.contract import tool\n\n\n"
            "@tool(read_only=True)\ndef get_product(db: Db, sku: str) -> dict:\n"
            "    return {}\n\n\ndef test_get_product(env):\n    pass\n")
    piece, problems = split_piece(code, tool, earlier=[], all_tools=[tool.name])
    assert problems == []
    assert piece.imports == ["from sqlite3 import Row", "from pydantic import Field as F"]
    assert sum("the preamble imports them" in n for n in piece.notes) == 2


def test_a_decorated_helper_of_the_tool_is_kept_as_a_helper() -> None:
    # The shape of a real 1.5B answer: place_order with a `get_customer` helper under @tool.
    spec = parse_spec(SPEC)
    tools = {t.name: t for t in spec.tools}
    helper = ("@tool(read_only=True)\ndef get_customer(db: Db, customer_id: int) -> dict:\n"
              "    return {}\n\n\n")
    body = ("@tool\ndef place_order(db: Db, sku: str) -> dict:\n    return get_customer(db, 1)"
            "\n\n\ndef test_place_order(env):\n    pass\n")
    piece, problems = split_piece(helper + body, tools["place_order"], earlier=[],
                                  all_tools=list(tools))
    assert problems == [] and "get_customer" in piece.helpers
    assert "@tool(read_only=True)\ndef get_customer" not in piece.tools_src
    assert "removed @tool from the helper `get_customer`" in piece.notes
    # Without the tool itself, a decorated function is still taken for a misnamed tool.
    _, problems = split_piece(helper + "def test_x(env):\n    pass\n", tools["place_order"],
                              earlier=[], all_tools=list(tools))
    assert problems[0].endswith("`get_customer` is another tool")

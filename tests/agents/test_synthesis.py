"""The synthesis loop end to end with a SCRIPTED LLM.

Every "model answer" below is a hand-written fixture (labelled `SCRIPTED_*`), not model
output: the first drafts are wrong on purpose (a foreign key to a missing table, a seed row
breaking its own CHECK; a read-only tool that writes, a tool that crashes, a destructive tool
not annotated, then a tool blaming the schema), and the later ones repair them. The tests
check that the evidence reached the model, that the final bundle passes `check_bundle` and
serves over MCP, and that a killed run resumes without repeating finished rounds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest
from fastmcp import Client

from clients.models.base import Message, Reply, TaskContext, ToolCall, ToolDef, Usage
from eigencore.agents import SUBMIT, Journal, ask
from eigencore.agents.coding_agent import CodeDraft, load_bundle_dir, run_checks, write_bundle
from eigencore.agents.database_agent import (
    DatabaseDraft,
    scenario_of,
    schema_text,
    split_statements,
    validate_draft,
)
from eigencore.agents.orchestrator import synthesize
from eigencore.agents.sandbox import Sandbox, SandboxLimits
from eigencore.agents.spec import SpecError, load_spec, parse_spec
from eigencore.llm.cache import ResponseCache
from eigencore.llm.structured import LLM
from environments.conformance import check_bundle
from servers.transports import deploy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SPEC = """---
name: tiny_shop
---
# Tiny shop

A tiny shop: customers order products, which are taken from stock.

## Entities
- customers (3): name, email
- products (3): sku, name, price_cents, stock
- orders (3): customer, product, quantity, status (pending/cancelled)

## Tools
- get_product (read-only): a product by its SKU
- place_order: order a quantity of a product for a customer; takes it from stock
- cancel_order (destructive): cancel a pending order and put the quantity back in stock
"""

CUSTOMERS = [{"customer_id": 1, "name": "Ada Lovelace", "email": "ada.lovelace@example.com"},
             {"customer_id": 2, "name": "Alan Turing", "email": "alan.turing@example.com"},
             {"customer_id": 3, "name": "Grace Hopper", "email": "grace.hopper@example.com"}]
PRODUCTS = [{"product_id": 1, "sku": "K-1", "name": "Kettle", "price_cents": 2500},
            {"product_id": 2, "sku": "K-2", "name": "Teapot", "price_cents": 1800},
            {"product_id": 3, "sku": "K-3", "name": "Mug", "price_cents": 600}]
ORDERS = [{"order_id": 1, "customer_id": 1, "product_id": 1, "quantity": 1, "status": "pending"},
          {"order_id": 2, "customer_id": 2, "product_id": 3, "quantity": 4, "status": "pending"},
          {"order_id": 3, "customer_id": 3, "product_id": 2, "quantity": 2,
           "status": "cancelled"}]
DDL = """CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE);
CREATE TABLE products (product_id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL, price_cents INTEGER NOT NULL CHECK (price_cents >= 0){stock});
CREATE TABLE orders (order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES {customers}(customer_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    quantity INTEGER NOT NULL CHECK (quantity >= 1),
    status TEXT NOT NULL CHECK (status IN ('pending', 'cancelled')));
"""
STOCK = ",\n    stock INTEGER NOT NULL CHECK (stock >= 0)"

# SCRIPTED database drafts.
SCRIPTED_DB_WRONG = {  # FK to a table named `customer`; a product priced below zero
    "ddl": DDL.format(stock="", customers="customer"),
    "rows": {"customers": CUSTOMERS,
             "products": [*PRODUCTS[:2], {**PRODUCTS[2], "price_cents": -100}],
             "orders": ORDERS}}
SCRIPTED_DB_FIXED = {"ddl": DDL.format(stock="", customers="customers"),
                     "rows": {"customers": CUSTOMERS, "products": PRODUCTS, "orders": ORDERS},
                     "notes": "FK now targets customers; the mug costs 600"}
SCRIPTED_DB_WITH_STOCK = {
    "ddl": DDL.format(stock=STOCK, customers="customers"),
    "rows": {"customers": CUSTOMERS,
             "products": [{**p, "stock": s} for p, s in zip(PRODUCTS, (5, 0, 12), strict=True)],
             "orders": ORDERS},
    "notes": "added products.stock"}

GET_PRODUCT = '''
@tool(read_only=True)
def get_product(db: Db, sku: str) -> dict:
    """Get a product by its SKU.

    Args:
        sku: The product's SKU, e.g. K-1.
    """
    @EXTRA@row = db.execute("SELECT * FROM products WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise ToolError(f"no product {sku}", kind="not_found", field="sku")
    return dict(row)
'''
TOOLS_BUGGY = GET_PRODUCT.replace(
    "@EXTRA@", 'db.execute("UPDATE products SET name = name WHERE sku = ?", (sku,))\n    ') + '''

@tool
def place_order(db: Db, customer_id: int, sku: str, quantity: int) -> dict:
    """Order a quantity of a product for a customer.

    Args:
        customer_id: Who orders.
        sku: What they order.
        quantity: How many.
    """
    product = db.execute("SELECT * FROM products WHERE sku = ?", (sku,)).fetchone()
    total = product["price"] * quantity
    return {"total_cents": total}


@tool
def cancel_order(db: Db, order_id: int) -> dict:
    """Cancel a pending order.

    Args:
        order_id: The order.
    """
    db.execute("UPDATE orders SET status = 'cancelled' WHERE order_id = ?", (order_id,))
    return {"order_id": order_id, "status": "cancelled"}
'''
TOOLS_FIXED = GET_PRODUCT.replace("@EXTRA@", "") + '''

def _product(db, sku):
    row = db.execute("SELECT * FROM products WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise ToolError(f"no product {sku}", kind="not_found", field="sku")
    return row


@tool
def place_order(db: Db, customer_id: int, sku: str,
                quantity: Annotated[int, Field(ge=1)]) -> dict:
    """Order a quantity of a product for a customer, taking it from stock.

    Args:
        customer_id: Who orders.
        sku: What they order.
        quantity: How many (at least 1).
    """
    if db.execute("SELECT 1 FROM customers WHERE customer_id = ?", (customer_id,)
                  ).fetchone() is None:
        raise ToolError(f"no customer {customer_id}", kind="not_found", field="customer_id")
    product = _product(db, sku)
    if product["stock"] < quantity:
        raise ToolError(f"only {product['stock']} of {sku} in stock", kind="not_allowed",
                        field="quantity")
    db.execute("UPDATE products SET stock = stock - ? WHERE product_id = ?",
               (quantity, product["product_id"]))
    cur = db.execute("INSERT INTO orders (customer_id, product_id, quantity, status) "
                     "VALUES (?, ?, ?, 'pending')", (customer_id, product["product_id"], quantity))
    return {"order_id": cur.lastrowid, "status": "pending",
            "total_cents": product["price_cents"] * quantity}


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
'''
TESTS_BUGGY = '''
def test_get_product(env):
    assert ok(env, "get_product", sku="K-1")["name"] == "Kettle"
'''
TESTS_FIXED = '''
def test_get_product(env):
    assert ok(env, "get_product", sku="K-1")["name"] == "Kettle"
    assert refused(env, "get_product", sku="NOPE")["kind"] == "not_found"


def test_place_order_takes_stock(env):
    assert ok(env, "place_order", customer_id=1, sku="K-1", quantity=2)["status"] == "pending"
    assert ok(env, "get_product", sku="K-1")["stock"] == 3
    assert refused(env, "place_order", customer_id=1, sku="K-2", quantity=1)["kind"] == \\
        "not_allowed"


def test_cancel_order_restocks(env):
    ok(env, "cancel_order", order_id=2)
    assert ok(env, "get_product", sku="K-3")["stock"] == 16
    assert refused(env, "cancel_order", order_id=3)["kind"] == "not_allowed"
'''
# SCRIPTED code drafts.
SCRIPTED_CODE_BUGGY = {"tools_code": TOOLS_BUGGY, "test_code": TESTS_BUGGY}
SCRIPTED_CODE_BLAMES_SCHEMA = {
    "tools_code": TOOLS_BUGGY, "test_code": TESTS_BUGGY, "blame": "schema",
    "schema_request": "place_order must take stock: products needs a column "
                      "stock INTEGER NOT NULL CHECK (stock >= 0)"}
SCRIPTED_CODE_FIXED = {"tools_code": TOOLS_FIXED, "test_code": TESTS_FIXED}

SCRIPT = {"database": [SCRIPTED_DB_WRONG, SCRIPTED_DB_FIXED, SCRIPTED_DB_WITH_STOCK],
          "coding": [SCRIPTED_CODE_BUGGY, SCRIPTED_CODE_BLAMES_SCHEMA, SCRIPTED_CODE_FIXED]}


class SimulatedKill(BaseException):
    """Stands for the process being killed mid-run."""


class ScriptedLLM:
    """Scripted backend (fixtures, not model output): answers each stage's requests from its
    queue, recognising the stage by the JSON Schema in the system prompt."""

    name = "scripted:synthesis"

    def __init__(self, script: dict[str, list[dict]], *, kill_after: int | None = None):
        self.queues = {k: [json.dumps(x) for x in v] for k, v in script.items()}
        self.asked: list[tuple[str, str]] = []
        self.kill_after = kill_after

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        if self.kill_after is not None and len(self.asked) >= self.kill_after:
            raise SimulatedKill
        stage = "coding" if "tools_code" in messages[0].content else "database"
        self.asked.append((stage, messages[-1].content))
        return Reply(text=self.queues[stage].pop(0), usage=Usage(input_tokens=10,
                                                                 output_tokens=10))


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("spec") / "tiny_shop.md"
    p.write_text(SPEC)
    return p


def sandbox() -> Sandbox:
    return Sandbox(SandboxLimits(cpu_s=20, wall_s=60))


def run(spec_file: Path, out: Path, backend: ScriptedLLM) -> dict:
    return anyio.run(lambda: synthesize(spec_file, LLM(backend), out, sandbox=sandbox()))


def prompt(out: Path, rnd: str) -> str:
    return (out / "rounds" / rnd / "prompt.md").read_text()


@pytest.fixture(scope="module")
def full_run(spec_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict,
                                                                                 ScriptedLLM]:
    out = tmp_path_factory.mktemp("synth")
    backend = ScriptedLLM(SCRIPT)
    return out, run(spec_file, out, backend), backend


def test_database_feedback_carries_the_evidence(full_run) -> None:
    out, summary, _ = full_run
    first = json.loads((out / "rounds" / "database-1" / "validation.json").read_text())
    checks = {f["check"] for f in first["findings"]}
    assert {"foreign_key", "check_constraint"} <= checks
    repair = prompt(out, "database-2")
    assert "references missing table 'customer'" in repair
    assert "CHECK constraint failed" in repair and '"price_cents": -100' in repair
    assert summary["history"][1] == {"round": "database-2", "ok": True, "replayed": False,
                                     "llm_requests": 1, "problems": [],
                                     "model_notes": SCRIPTED_DB_FIXED["notes"]}


def test_code_feedback_carries_the_evidence(full_run) -> None:
    out, _, _ = full_run
    feedback = prompt(out, "coding-2")
    assert "'get_product' is read-only but tries to write" in feedback
    assert "UPDATE products SET name = name" in feedback  # where, in tools.py
    assert "'place_order' crashed" in feedback and "No item with that key" in feedback
    assert "'cancel_order' is destructive" in feedback
    assert "test_get_product" in feedback  # the failing generated test, by name


def test_schema_blame_is_routed_to_the_database_agent(full_run) -> None:
    out, summary, backend = full_run
    assert [stage for stage, _ in backend.asked] == [
        "database", "database", "coding", "coding", "database", "coding"]
    assert "stock INTEGER NOT NULL" in prompt(out, "database-3")
    assert "asks for these changes" in prompt(out, "database-3")
    assert "revised at your request" in prompt(out, "coding-3")
    assert summary["schema_revisions"] == 1
    assert summary["rounds"] == {"database": 3, "coding": 3}


def test_the_accepted_bundle_passes_the_contract_and_serves_over_mcp(full_run) -> None:
    out, summary, _ = full_run
    assert summary["ok"] and summary["outcome"] == "all checks passed"
    assert (out / "summary.txt").read_text().startswith("synthesis of tiny_shop: ACCEPTED")
    bundle = load_bundle_dir(out / "tiny_shop")
    assert check_bundle(bundle) == []
    assert {t.name: (t.read_only, t.destructive) for t in bundle.tools} == {
        "get_product": (True, False), "place_order": (False, False),
        "cancel_order": (False, True)}

    async def serve() -> None:
        async with Client(deploy([bundle]).server) as c:
            got = await c.call_tool("get_product", {"sku": "K-3"})
            assert got.structured_content["stock"] == 12
            placed = await c.call_tool("place_order",
                                       {"customer_id": 2, "sku": "K-3", "quantity": 2})
            assert placed.structured_content["total_cents"] == 1200

    anyio.run(serve)


def test_a_killed_run_resumes_without_repeating_rounds(spec_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "synth"
    first = ScriptedLLM(SCRIPT, kill_after=4)  # dies when asked its 5th answer (database-3)
    with pytest.raises(SimulatedKill):
        run(spec_file, out, first)
    assert len(first.asked) == 4  # database-1, database-2, coding-1, coding-2
    rest = {"database": SCRIPT["database"][2:], "coding": SCRIPT["coding"][2:]}
    second = ScriptedLLM(rest)
    summary = run(spec_file, out, second)
    assert summary["ok"] and [s for s, _ in second.asked] == ["database", "coding"]
    replayed = [h["round"] for h in summary["history"] if h["replayed"]]
    assert replayed == ["database-1", "database-2", "coding-1", "coding-2"]

    # A round left over from a path this run did not take is archived, not deleted.
    (out / "rounds" / "coding-9").mkdir()
    # Delete the last stage's outputs: only that round is asked again.
    shutil.rmtree(out / "rounds" / "coding-3")
    shutil.rmtree(out / "tiny_shop")
    third = ScriptedLLM({"database": [], "coding": SCRIPT["coding"][2:]})
    summary = run(spec_file, out, third)
    assert summary["ok"] and [s for s, _ in third.asked] == ["coding"]
    assert summary["stale_rounds"] == ["coding-9"] and not (out / "rounds" / "coding-9").exists()
    assert list((out / "stale-rounds").glob("*/coding-9"))
    assert check_bundle(load_bundle_dir(out / "tiny_shop")) == []

    # Nothing left to do: a re-run asks nothing and runs no sandbox.
    fourth = ScriptedLLM({"database": [], "coding": []})
    assert run(spec_file, out, fourth)["ok"] and fourth.asked == []


def test_the_examples_parse_in_their_different_shapes() -> None:
    specs = {p.stem: load_spec(p) for p in sorted(EXAMPLES.glob("*.md"))}
    assert set(specs) == {"retail_orders", "clinic_appointments", "it_helpdesk"}
    retail, clinic, helpdesk = (specs[n] for n in ("retail_orders", "clinic_appointments",
                                                   "it_helpdesk"))
    assert [e.name for e in clinic.entities][-1] == "appointments"  # a Markdown table
    assert {t.name: t.kind for t in clinic.tools}["cancel_appointment"] == "destructive"
    assert retail.scale == 0.25 and retail.min_rows("order_items") == 10
    assert helpdesk.description.startswith("An internal IT helpdesk")  # a Description section
    assert {t.kind for t in helpdesk.tools} == {"read_only", "write", "destructive"}
    with pytest.raises(SpecError, match="no tools"):
        parse_spec("# X\n\nSomething.\n\n## Entities\n- things (3): name\n")


def test_value_plausibility_checks() -> None:
    spec = parse_spec(SPEC)
    rows = {"customers": [*CUSTOMERS[:2], {**CUSTOMERS[1], "customer_id": 3,
                                            "email": "alan.turing@example"}],
            "products": [{**p, "stock": 1} for p in PRODUCTS],
            "orders": [{**o, "quantity": 1} for o in ORDERS]}
    rows["orders"][2]["placed"] = "x"
    found = validate_draft(spec, DatabaseDraft(ddl=DDL.format(stock=STOCK,
                                                              customers="customers"),
                                               rows=rows)).findings
    text = "\n".join(f.render() for f in found)
    assert "customers.email holds values that are not email addresses" in text
    assert "unknown columns ['placed']" in text
    assert "'orders' has 2 valid seed rows, needs at least 3" in text


class ScriptedToolCaller:
    """Scripted (fixtures, not model output): answers by calling the tool it is offered,
    first with arguments missing a field, then complete."""

    name = "scripted:tool-caller"

    def __init__(self) -> None:
        self.seen: list[tuple[list[Message], list[ToolDef]]] = []

    async def start(self, task: TaskContext) -> None:
        return None

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        self.seen.append((list(messages), list(tools)))
        args = {"ddl": "CREATE TABLE t (t_id INTEGER PRIMARY KEY);"}
        if len(self.seen) > 1:
            args["rows"] = {"t": [{"t_id": 1}]}
        return Reply(tool_calls=[ToolCall(id=f"c{len(self.seen)}", name=tools[0].name,
                                          arguments=args)])


def test_tool_mode_offers_the_schema_as_a_tool_and_replays_offline(tmp_path: Path) -> None:
    backend = ScriptedToolCaller()
    cache = ResponseCache(tmp_path / "llm.db")
    llm = LLM(backend, cache=cache)
    rnd = Journal(tmp_path / "a").next_round("database")
    draft, error = anyio.run(lambda: ask(llm, rnd, "design t", DatabaseDraft, mode="tool"))
    assert error is None and draft.rows == {"t": [{"t_id": 1}]}
    (_, tools), (second, _) = backend.seen
    assert tools[0].name == SUBMIT and "rows" in tools[0].input_schema["properties"]
    assert second[-1].role == "tool" and second[-1].is_error and "rows" in second[-1].content
    # Recorded in the LLM cache: a fresh journal replays it with no model at all.
    replay = LLM(ScriptedToolCaller(), cache=ResponseCache(tmp_path / "llm.db"),
                 replay_only=True)
    rnd2 = Journal(tmp_path / "b").next_round("database")
    again, _ = anyio.run(lambda: ask(replay, rnd2, "design t", DatabaseDraft, mode="tool"))
    assert again == draft and replay.accounting.cached == 2 and replay.accounting.calls == 0


def test_a_generated_tool_that_loops_is_stopped_and_named(tmp_path: Path) -> None:
    spec = parse_spec(SPEC)
    db = DatabaseDraft.model_validate(SCRIPTED_DB_WITH_STOCK)
    looping = TOOLS_FIXED.replace('    row = db.execute("SELECT * FROM products WHERE sku = ?"',
                                  "    while True:\n        pass\n"
                                  '    row = db.execute("SELECT * FROM products WHERE sku = ?"',
                                  1)
    bundle = write_bundle(tmp_path / "tiny_shop", spec, schema_text(spec, db), scenario_of(db),
                          CodeDraft(tools_code=looping, test_code=TESTS_FIXED))
    check = run_checks(Sandbox(SandboxLimits(cpu_s=2, wall_s=20)), bundle, spec)
    assert not check.ok and check.sandbox["limits_hit"] == ["cpu"]
    assert any("stopped while running get_product(" in p for p in check.problems)


def test_statements_split_where_sqlite_says_they_end() -> None:
    one_line = ("CREATE TABLE a (a_id INTEGER PRIMARY KEY, note TEXT DEFAULT 'x;y'); "
                "CREATE TABLE b (b_id INTEGER PRIMARY KEY); CREATE TRIGGER t AFTER INSERT ON a "
                "BEGIN INSERT INTO b DEFAULT VALUES; END; CREATE INDEX i ON a (note)")
    assert [s.split()[1] for s in split_statements(one_line)] == ["TABLE", "TABLE", "TRIGGER",
                                                                   "INDEX"]


def test_a_reference_to_a_column_that_is_not_there_is_reported_not_raised() -> None:
    # The shape of a real local-model draft: the FK names products(product_id), absent.
    spec = parse_spec(SPEC)
    ddl = DDL.format(stock=STOCK, customers="customers").replace(
        "product_id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE", "sku TEXT PRIMARY KEY")
    rows = {"customers": CUSTOMERS, "products": [
        {k: v for k, v in p.items() if k != "product_id"} | {"stock": 1} for p in PRODUCTS],
        "orders": ORDERS}
    text = "\n".join(f.render() for f in validate_draft(spec, DatabaseDraft(ddl=ddl,
                                                                             rows=rows)).findings)
    assert "orders.product_id references products(product_id), which is not a column" in text
    assert "foreign key mismatch" in text


def test_relations_the_names_imply_must_be_declared() -> None:
    spec = parse_spec(SPEC)
    clean = validate_draft(spec, DatabaseDraft.model_validate(SCRIPTED_DB_WITH_STOCK))
    assert clean.ok  # declared references, and `customers.customer_id` is its own key
    # Seeded defect: `orders.customer` and `orders.product_id` name entities, no REFERENCES;
    # one order points at a customer that does not exist.
    ddl = DDL.format(stock=STOCK, customers="customers").replace(
        "customer_id INTEGER NOT NULL REFERENCES customers(customer_id)",
        "customer INTEGER NOT NULL").replace(
        "product_id INTEGER NOT NULL REFERENCES products(product_id)",
        "product_id INTEGER NOT NULL, category TEXT")
    rows = {**SCRIPTED_DB_WITH_STOCK["rows"], "orders": [
        {**{k: v for k, v in o.items() if k != "customer_id"}, "customer": o["customer_id"],
         "category": "kitchen"} for o in ORDERS]}
    rows["orders"][2]["customer"] = 9
    found = [f for f in validate_draft(spec, DatabaseDraft(ddl=ddl, rows=rows)).findings
             if f.check == "implied_relation"]
    assert [(f.table, f.message) for f in found] == [
        ("orders", "orders.customer names the entity 'customers' but declares no REFERENCES, "
                   "so nothing enforces the relation"),
        ("orders", "orders.product_id names the entity 'products' but declares no "
                   "REFERENCES, so nothing enforces the relation")]
    assert found[0].evidence == [
        "column: orders.customer INTEGER, no REFERENCES",
        "it names the entity 'customers' (key customers.customer_id)",
        "declare it: `customer INTEGER NOT NULL REFERENCES customers(customer_id)`",
        "values of orders.customer that are no customers.customer_id: [9]"]
    assert found[1].evidence[-1].startswith("every value of orders.product_id is a "
                                            "products.product_id already")

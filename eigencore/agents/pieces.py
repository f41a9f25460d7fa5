"""One tool's code as a model writes it in per-tool mode, split into what goes in `tools.py`
and what goes in `test_tools.py`, and checked for what can be seen without running it.

The model replies with one Python block: the tool function (and any helper it needs)
followed by its tests. `split_piece` reads it with `ast` (parsing only; nothing is executed
here) and sorts the top-level statements: `test_*` functions and pytest fixtures go to the
tests, imports to both files, definitions the fixed preambles already provide (`env`, `ok`,
`refused`, relative imports, `from __future__`) and top-level calls (`pytest.main()`) are
dropped, the rest (the tool, helpers, constants) goes to the tools. Problems found this way
(no such function, not decorated, another tool defined too, no test, a helper that clashes
with an earlier tool's) go straight back to the model, without a sandbox run.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from eigencore.agents.spec import ToolIntent

PREAMBLE_NAMES = {"env", "ok", "refused", "BUNDLE"}
"""Defined by the fixed test preamble; a model that re-types them is not asked to stop."""
PROVIDED_IMPORTS = {"Annotated", "Any", "Literal", "BaseModel", "Field", "Db", "ToolError",
                    "tool"}
"""Names the tools preamble imports. A model's own import of them is dropped: the 1.5B
model imported all of them `from typing`, and the module no longer loaded."""


@dataclass
class Piece:
    """One tool's accepted (or candidate) code, split."""

    tool: str
    code: str
    """The model's block as given."""
    tools_src: str = ""
    tests_src: str = ""
    imports: list[str] = field(default_factory=list)
    helpers: dict[str, str] = field(default_factory=dict)
    """Top-level names besides the tool (functions, classes, constants) → their source."""
    tests: list[str] = field(default_factory=list)
    signature: str = ""
    """`name(arg: type, ...)`, without `db`: shown to the model writing the next tools."""
    notes: list[str] = field(default_factory=list)
    """What was dropped or renamed (recorded, not fed back)."""

    def to_json(self) -> dict[str, object]:
        return {"tool": self.tool, "code": self.code, "tests": self.tests,
                "helpers": sorted(self.helpers), "signature": self.signature,
                "notes": self.notes}


def _decorator_name(d: ast.expr) -> str:
    f = d.func if isinstance(d, ast.Call) else d
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return ""


def _names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _signature(fn: ast.FunctionDef | ast.AsyncFunctionDef, source: str) -> str:
    args = fn.args.args[1:]  # without `db`
    parts = []
    for a in args:
        ann = ast.get_source_segment(source, a.annotation) if a.annotation else None
        parts.append(f"{a.arg}: {ann}" if ann else a.arg)
    return f"{fn.name}({', '.join(parts)})"


def split_piece(code: str, tool: ToolIntent, *, all_tools: list[str],
                earlier: list[Piece]) -> tuple[Piece, list[str]]:
    """Split `code` for `tool`; returns the piece and the problems to send back (none: it
    can go to the sandbox). `earlier` are the pieces already accepted (their helpers and
    test names must not be clobbered)."""
    piece = Piece(tool=tool.name, code=code)
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        return piece, [f"SyntaxError on line {e.lineno}: {e.msg}"]
    lines = code.splitlines()
    helpers_before = {n: src for p in earlier for n, src in p.helpers.items()}
    owner = {n: p.tool for p in earlier for n in p.helpers}
    tests_before = {t for p in earlier for t in p.tests}
    problems: list[str] = []
    tools_parts: list[str] = []
    tests_parts: list[str] = []
    found_tool: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    has_tool = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == tool.name
                   for n in tree.body)
    for i, node in enumerate(tree.body):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        seg = "\n".join(lines[start - 1:node.end_lineno])
        if isinstance(node, ast.Expr):
            if not (i == 0 and isinstance(node.value, ast.Constant)):
                piece.notes.append(f"dropped a top-level statement: {seg.strip()[:80]}")
            continue
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
            piece.notes.append("dropped an `if __name__ == ...` block")
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                a.name for a in node.names]
            if (isinstance(node, ast.ImportFrom) and node.level) or any(
                    m == "__future__" or m.rsplit(".", 1)[-1] in ("tools", "test_tools")
                    for m in modules):
                # The preambles provide these; the bundle's own modules are not importable
                # by those names (and `from . import` in tools.py would be circular).
                piece.notes.append(f"dropped `{seg.strip()}` (the preambles provide it)")
                continue
            if isinstance(node, ast.ImportFrom):
                kept = [a for a in node.names if a.name not in PROVIDED_IMPORTS or
                        (a.asname and a.asname != a.name)]
                if len(kept) < len(node.names):
                    gone = ", ".join(a.name for a in node.names if a not in kept)
                    piece.notes.append(f"dropped {gone} from `{seg.strip()[:80]}` (the "
                                       "preamble imports them)")
                    if not kept:
                        continue
                    seg = ast.unparse(ast.ImportFrom(module=node.module, names=kept,
                                                     level=node.level))
            if seg not in piece.imports:
                piece.imports.append(seg)
            continue
        names = _names(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            decorators = {_decorator_name(d) for d in node.decorator_list}
            if node.name == tool.name:
                if "tool" not in decorators:
                    problems.append(f"`{tool.name}` is not decorated: put `{decorator(tool)}` "
                                    "on the line above `def`")
                found_tool = node
                tools_parts.append(seg)
                continue
            if "tool" in decorators and node.name not in all_tools and has_tool:
                # A helper the model decorated as well: it serves the tool, so it stays, as
                # a helper (exposing it would add a tool the spec does not have).
                seg = "\n".join(lines[node.lineno - 1:node.end_lineno])
                piece.notes.append(f"removed @tool from the helper `{node.name}`")
                decorators = set()
            if "tool" in decorators:
                problems.append(f"write only the tool `{tool.name}` (and private helpers "
                                f"without @tool); `{node.name}` is another tool"
                                + (" of the spec, written on its own turn"
                                   if node.name in all_tools else ""))
                continue
            if node.name in PREAMBLE_NAMES:
                piece.notes.append(f"dropped `{node.name}` (the test preamble defines it)")
                continue
            if node.name.startswith("test_") or "fixture" in decorators:
                name = node.name
                if name in tests_before or name in piece.tests:
                    n = 2
                    while f"{name}_{n}" in tests_before or f"{name}_{n}" in piece.tests:
                        n += 1
                    seg = seg.replace(f"def {name}(", f"def {name}_{n}(", 1)
                    piece.notes.append(f"renamed test {name} to {name}_{n} (name taken)")
                    name = f"{name}_{n}"
                if node.name.startswith("test_"):
                    piece.tests.append(name)
                tests_parts.append(seg)
                continue
        if any(n in PREAMBLE_NAMES for n in names):
            piece.notes.append(f"dropped a definition of {names} (the preambles define it)")
            continue
        clash = [n for n in names if n in helpers_before and helpers_before[n] != seg]
        if clash:
            problems.append(f"`{clash[0]}` is already defined by the code of "
                            f"`{owner[clash[0]]}`: call it as it is, or give yours another "
                            "name")
            continue
        if names and all(helpers_before.get(n) == seg for n in names):
            continue  # the same helper again: already there
        for n in names:
            piece.helpers[n] = seg
        tools_parts.append(seg)
    if found_tool is None:
        problems.append(f"there is no function `def {tool.name}(db: Db, ...)`: write it, "
                        f"decorated `{decorator(tool)}`")
    else:
        piece.signature = _signature(found_tool, code)
    if not piece.tests:
        problems.append(f"there is no test: after the function, write one or two tests "
                        f"`def test_{tool.name}_...(env):` using `ok(env, \"{tool.name}\", ...)` "
                        f"and `refused(env, \"{tool.name}\", ...)`")
    piece.tools_src = "\n\n\n".join(tools_parts)
    piece.tests_src = "\n\n\n".join(tests_parts)
    return piece, problems


def decorator(tool: ToolIntent) -> str:
    if tool.read_only:
        return "@tool(read_only=True)"
    if tool.destructive:
        return "@tool(destructive=True)"
    return "@tool"


def assemble(pieces: list[Piece]) -> tuple[str, str]:
    """tools_code and test_code of a module made of `pieces`, in order (imports first)."""
    imports = list(dict.fromkeys(i for p in pieces for i in p.imports))
    head = "\n".join(imports) + "\n\n\n" if imports else ""
    tools = head + "\n\n\n".join(p.tools_src for p in pieces if p.tools_src)
    tests = head + "\n\n\n".join(p.tests_src for p in pieces if p.tests_src)
    return tools, tests

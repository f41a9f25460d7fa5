"""Safe parser for BFCL call strings such as ``mv(source='a.txt', destination='temp')``.

BFCL itself executes these strings with ``eval`` after a regex rewrite. Here a call string is
only ever *parsed*: the expression tree is checked node by node against a whitelist (a plain
function name, literal arguments) and the argument values are produced with
``ast.literal_eval`` on the individual argument nodes. Nothing is evaluated or executed.
"""

from __future__ import annotations

import ast
import json
import keyword
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_CALL_CHARS",
    "Call",
    "CallParseError",
    "format_call",
    "format_literal",
    "parse_call",
    "parse_calls",
]

# Bounds the work done by the Python parser on hostile input; BFCL call strings are < 10 kB.
MAX_CALL_CHARS = 1_000_000
_MAX_DEPTH = 64
_EXCERPT = 80

_SCALARS = (str, int, float, bool, type(None))


class CallParseError(ValueError):
    """A call string is not a single plain-name call with literal arguments."""


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= _EXCERPT else text[:_EXCERPT] + "...")


@dataclass(frozen=True, slots=True)
class Call:
    """A parsed function call: plain name, positional and keyword literal arguments."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json_obj(cls, obj: Mapping[str, Any]) -> Call:
        """Build a call from BFCL's ``{name: {kwarg: value}}`` form (args may be a JSON string)."""
        if not isinstance(obj, Mapping) or len(obj) != 1:
            raise CallParseError(
                f"expected an object with exactly one key (the function name), got {obj!r:.200}"
            )
        ((name, arguments),) = obj.items()
        if isinstance(arguments, str):
            # Some BFCL handlers keep the arguments as the model's raw JSON text.
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise CallParseError(
                    f"arguments of {name!r} are not valid JSON: {exc}; text {_excerpt(arguments)}"
                ) from exc
        if not isinstance(arguments, Mapping):
            raise CallParseError(
                f"arguments of {name!r} must be an object of keyword arguments, "
                f"got {type(arguments).__name__}"
            )
        _check_name(name, str(obj))
        kwargs: dict[str, Any] = {}
        for key, value in arguments.items():
            if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
                raise CallParseError(f"argument name {key!r} of {name!r} is not an identifier")
            _check_value(value, f"argument {key!r} of {name!r}", 0)
            kwargs[key] = value
        return cls(name=name, args=(), kwargs=kwargs)

    def to_json_obj(self) -> dict[str, dict[str, Any]]:
        """The ``{name: {kwargs}}`` form; positional arguments have no such form."""
        if self.args:
            raise ValueError(f"call {self.name!r} has positional arguments; no {{name: args}} form")
        return {self.name: dict(self.kwargs)}

    def __str__(self) -> str:
        return format_call(self)


def _check_name(name: object, text: str) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise CallParseError(
            f"function name {name!r} is not a plain identifier in {_excerpt(text)}"
        )
    if name.startswith("__"):
        raise CallParseError(f"dunder function name {name!r} is not allowed in {_excerpt(text)}")


def _check_value(value: object, where: str, depth: int) -> None:
    """Values built outside the parser (from JSON) must still be plain literals."""
    if depth > _MAX_DEPTH:
        raise CallParseError(f"{where}: nesting deeper than {_MAX_DEPTH}")
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_value(item, where, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _check_value(key, where, depth + 1)
            _check_value(item, where, depth + 1)
        return
    raise CallParseError(f"{where}: {type(value).__name__} is not a literal value")


_KINDS: dict[type[ast.AST], str] = {
    ast.Constant: "a literal",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.UnaryOp: "a unary operation",
    ast.Name: "a name/variable",
    ast.Call: "a call",
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript",
    ast.BinOp: "a binary operation",
    ast.BoolOp: "a boolean operation",
    ast.Compare: "a comparison",
    ast.Lambda: "a lambda",
    ast.JoinedStr: "an f-string",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.IfExp: "a conditional expression",
    ast.NamedExpr: "an assignment expression",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Starred: "a starred expression",
}


def _kind(node: ast.AST) -> str:
    return _KINDS.get(type(node), type(node).__name__)


def _literal_problem(node: ast.AST, depth: int) -> str | None:
    """Why ``node`` is not an allowed literal, or None if it is.

    ``ast.literal_eval`` alone would also accept complex numbers (``1+2j``), bytes and
    ``...``; the whitelist here is narrower, so that every accepted value has a JSON-like shape.
    """
    if depth > _MAX_DEPTH:
        return f"nesting deeper than {_MAX_DEPTH}"
    if isinstance(node, ast.Constant):
        if isinstance(node.value, _SCALARS):
            return None
        return f"{type(node.value).__name__} literals are not allowed"
    if isinstance(node, ast.UnaryOp):
        operand = node.operand
        if (
            isinstance(node.op, ast.USub)
            and isinstance(operand, ast.Constant)
            and type(operand.value) in (int, float)
        ):
            return None
        return "only unary minus on a number literal is allowed"
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        for element in node.elts:
            if isinstance(element, ast.Starred):
                return "starred elements are not allowed"
            problem = _literal_problem(element, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                return "dict unpacking (**) is not allowed"
            problem = _literal_problem(key, depth + 1) or _literal_problem(value, depth + 1)
            if problem:
                return problem
        return None
    return f"{_kind(node)} is not a literal value"


def _segment(text: str, node: ast.AST) -> str:
    return ast.get_source_segment(text, node) or ast.unparse(node)


def _call_from_node(node: ast.AST, text: str) -> Call:
    if not isinstance(node, ast.Call):
        raise CallParseError(
            f"expected a function call, got {_kind(node)}: {_excerpt(_segment(text, node))}"
        )
    src = _segment(text, node)
    func = node.func
    if isinstance(func, ast.Attribute):
        raise CallParseError(
            f"attribute access in the function name is not allowed: {_excerpt(src)}"
        )
    if not isinstance(func, ast.Name):
        raise CallParseError(
            f"the called object must be a plain function name, not "
            f"{type(func).__name__}: {_excerpt(src)}"
        )
    if (func.lineno, func.col_offset) != (node.lineno, node.col_offset):
        # `(f)()` means the same as `f()` to Python, but no honest call string is written so.
        raise CallParseError(f"parenthesized function name is not allowed: {_excerpt(src)}")
    _check_name(func.id, src)
    args: list[Any] = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise CallParseError(f"starred arguments (*args) are not allowed: {_excerpt(src)}")
        args.append(_literal_value(arg, text, f"positional argument {len(args) + 1}"))
    kwargs: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise CallParseError(f"keyword unpacking (**kwargs) is not allowed: {_excerpt(src)}")
        if kw.arg in kwargs:
            raise CallParseError(f"keyword argument {kw.arg!r} repeated: {_excerpt(src)}")
        kwargs[kw.arg] = _literal_value(kw.value, text, f"argument {kw.arg!r}")
    return Call(name=func.id, args=tuple(args), kwargs=kwargs)


def _literal_value(node: ast.expr, text: str, where: str) -> Any:
    src = _segment(text, node)
    problem = _literal_problem(node, 0)
    if problem:
        raise CallParseError(f"{where}: {problem}: {_excerpt(src)}")
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        # e.g. unhashable dict keys or set members: {[1]: 2}
        raise CallParseError(f"{where}: invalid literal ({exc}): {_excerpt(src)}") from exc


def _parse_expression(text: str) -> ast.expr:
    if not isinstance(text, str):
        raise CallParseError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_CALL_CHARS:
        raise CallParseError(
            f"call text is {len(text)} characters, over the {MAX_CALL_CHARS} limit"
        )
    if not text.strip():
        raise CallParseError("empty call string")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise CallParseError(
            f"not a single Python expression ({exc.msg}): {_excerpt(text)}"
        ) from exc
    except (ValueError, MemoryError, RecursionError) as exc:
        raise CallParseError(f"cannot parse ({type(exc).__name__}): {_excerpt(text)}") from exc
    return tree.body


def parse_call(text: str) -> Call:
    """Parse one call string, e.g. ``"cd(folder='document')"`` or ``"mean([1, 2, 3])"``."""
    body = _parse_expression(text)
    return _call_from_node(body, text.strip())


def parse_calls(text: str) -> list[Call]:
    """Parse a list of calls, e.g. ``"[f(a=1), g(b=2)]"``; a single bare call is also accepted."""
    body = _parse_expression(text)
    stripped = text.strip()
    if isinstance(body, ast.List | ast.Tuple):
        return [_call_from_node(element, stripped) for element in body.elts]
    return [_call_from_node(body, stripped)]


def format_literal(value: Any) -> str:
    """Python source for a literal value that ``parse_call`` reads back as an equal value."""
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError("NaN has no literal form")
        if math.isinf(value):
            # 1e999 overflows to inf when parsed; repr(inf) would be an unparseable name.
            return "1e999" if value > 0 else "-1e999"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(format_literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(format_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, set | frozenset):
        if not value:
            raise ValueError("an empty set has no literal form")
        return "{" + ", ".join(sorted(format_literal(v) for v in value)) + "}"
    if isinstance(value, dict):
        items = (f"{format_literal(k)}: {format_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise ValueError(f"{type(value).__name__} is not a literal value")


def format_call(call: Call) -> str:
    """Canonical call string: ``name(pos, ..., key=value, ...)`` with literal reprs."""
    _check_name(call.name, call.name)
    parts = [format_literal(arg) for arg in call.args]
    for key, value in call.kwargs.items():
        if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
            raise ValueError(f"argument name {key!r} is not an identifier")
        parts.append(f"{key}={format_literal(value)}")
    return f"{call.name}({', '.join(parts)})"

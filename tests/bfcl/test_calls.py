"""Safe call-string parser: accepted forms, rejected (hostile) forms, round trips."""

from __future__ import annotations

import keyword
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eigencore.bfcl.calls import (
    MAX_CALL_CHARS,
    Call,
    CallParseError,
    format_call,
    parse_call,
    parse_calls,
)
from eigencore.bfcl.release import Entry

VALID: list[tuple[str, Call]] = [
    ("ls()", Call("ls")),
    ("  ls( )  ", Call("ls")),
    ("cd(folder='document')", Call("cd", (), {"folder": "document"})),
    (
        "mv(source='a.txt', destination='temp')",
        Call("mv", (), {"source": "a.txt", "destination": "temp"}),
    ),
    ("mean([1,2,3])", Call("mean", ([1, 2, 3],))),
    ("sort('final_report.pdf')", Call("sort", ("final_report.pdf",))),
    ("f(-1, x=-2.5, y=1e3)", Call("f", (-1,), {"x": -2.5, "y": 1000.0})),
    ("f(a=True, b=False, c=None)", Call("f", (), {"a": True, "b": False, "c": None})),
    (
        "f(x={'k': [1, (2, 3)], 'n': {'m': None}}, s={1, 2})",
        Call("f", (), {"x": {"k": [1, (2, 3)], "n": {"m": None}}, "s": {1, 2}}),
    ),
    ("f(t=(1,), e=(), l=[], d={})", Call("f", (), {"t": (1,), "e": (), "l": [], "d": {}})),
    ('f(s="it\'s \\n ok", u="é")', Call("f", (), {"s": "it's \n ok", "u": "é"})),
    ("f(s='a' 'b')", Call("f", (), {"s": "ab"})),
    ("get_ticket(ticket_id=1)", Call("get_ticket", (), {"ticket_id": 1})),
    ("f(\n  a=1,\n  b=2,\n)", Call("f", (), {"a": 1, "b": 2})),
]

REJECTED: list[tuple[str, str]] = [
    ("__import__('os').system('ls')", "attribute access"),
    ("__import__('os')", "dunder"),
    ("os.system('ls')", "attribute access"),
    ("f(x=open('a'))", "a call"),
    ("f(x=y)", "name/variable"),
    ("f(y)", "name/variable"),
    ("f(*a)", "starred"),
    ("f(**k)", r"\*\*kwargs"),
    ("f(x=lambda: 1)", "lambda"),
    ("f(x=[i for i in a])", "comprehension"),
    ("f(x={i: i for i in a})", "comprehension"),
    ("f(x=(i for i in a))", "generator"),
    ("f(x=a[0])", "subscript"),
    ("f(x=1+1)", "binary operation"),
    ("f(x=1+2j)", "binary operation"),
    ("f(x=2j)", "complex"),
    ("f(x=b'raw')", "bytes"),
    ("f(x=...)", "ellipsis"),
    ("f(x=-True)", "unary minus"),
    ("f(x=not 1)", "unary"),
    ("f(x=~1)", "unary"),
    ("f(x=+1)", "unary"),
    ("f(x=1 if a else 2)", "conditional"),
    ("f(x=a.b)", "attribute access"),
    ("f(x=f'{a}')", "f-string"),
    ("f(x=[*a])", "starred"),
    ("f(x={**a})", "dict unpacking"),
    ("f(x=(y:=1))", "assignment"),
    ("f(x=1 < 2)", "comparison"),
    ("f(x=1 and 2)", "boolean"),
    ("f(x={[1]: 2})", "unhashable"),
    ("f(); g()", "single Python expression"),
    ("f()\ng()", "single Python expression"),
    ("(f)()", "parenthesized"),
    ("f(x=1)(y=2)", "plain function name"),
    ("f()[0]", "expected a function call"),
    ("[f()]", "expected a function call"),
    ("f", "expected a function call"),
    ("1", "expected a function call"),
    ("", "empty"),
    ("   ", "empty"),
    ("f(a=1, a=2)", "repeated"),
    ("__class__()", "dunder"),
    ("f(", "single Python expression"),
    ("import os", "single Python expression"),
    ("f(x=" + "[" * 300 + "]" * 300 + ")", "nested"),
    ("f(x=" + "[" * 80 + "]" * 80 + ")", "nesting deeper"),
    ("f(x=1" + "0" * 5000 + ")", "single Python expression"),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid(text: str, expected: Call) -> None:
    call = parse_call(text)
    assert call == expected
    assert all(type(a) is type(b) for a, b in zip(call.args, expected.args, strict=True))
    assert parse_call(format_call(call)) == call


@pytest.mark.parametrize(("text", "problem"), REJECTED)
def test_rejected(text: str, problem: str) -> None:
    with pytest.raises(CallParseError, match=problem):
        parse_call(text)


def test_error_message_names_offending_text() -> None:
    with pytest.raises(CallParseError) as excinfo:
        parse_call("cd(folder=__import__('os').getcwd())")
    message = str(excinfo.value)
    assert "argument 'folder'" in message and "__import__('os').getcwd()" in message


def test_size_limit() -> None:
    big = "f(x='" + "a" * MAX_CALL_CHARS + "')"
    with pytest.raises(CallParseError, match="limit"):
        parse_call(big)
    assert parse_call("f(x='" + "a" * 100_000 + "')").kwargs["x"] == "a" * 100_000


def test_non_string_input() -> None:
    with pytest.raises(CallParseError, match="expected a string"):
        parse_call(b"ls()")  # type: ignore[arg-type]


def test_parse_calls_list_forms() -> None:
    assert parse_calls("[f(a=1), g(b=2)]") == [Call("f", (), {"a": 1}), Call("g", (), {"b": 2})]
    assert parse_calls("[]") == []
    assert parse_calls("(f(), g())") == [Call("f"), Call("g")]
    assert parse_calls("ls()") == [Call("ls")]
    with pytest.raises(CallParseError, match="name/variable"):
        parse_calls("[f(a=1), g(b=x)]")
    with pytest.raises(CallParseError, match="expected a function call"):
        parse_calls("[f(a=1), 2]")
    with pytest.raises(CallParseError, match="attribute access"):
        parse_calls("[f(), os.system('ls')]")


def test_from_json_obj() -> None:
    expected = Call("cd", (), {"folder": "document"})
    assert Call.from_json_obj({"cd": {"folder": "document"}}) == expected
    assert Call.from_json_obj({"ls": {}}) == Call("ls")
    assert Call.from_json_obj({"mv": '{"source": "a", "destination": "b"}'}) == Call(
        "mv", (), {"source": "a", "destination": "b"}
    )
    assert Call.from_json_obj({"ls": ""}) == Call("ls")
    assert Call("cd", (), {"folder": "x"}).to_json_obj() == {"cd": {"folder": "x"}}
    bad: list[Any] = [
        {},
        {"a": {}, "b": {}},
        {"os.system": {}},
        {"__import__": {}},
        {"f": [1]},
        {"f": "{not json"},
        {"f": {"not an identifier": 1}},
        {"f": {"class": 1}},
        {"f": {"x": object()}},
        ["f", {}],
    ]
    for obj in bad:
        with pytest.raises(CallParseError):
            Call.from_json_obj(obj)


def test_format_call_canonical() -> None:
    call = Call("f", (1, "a"), {"x": [1.5, None], "y": {"k": (1,)}, "z": float("inf")})
    assert format_call(call) == "f(1, 'a', x=[1.5, None], y={'k': (1,)}, z=1e999)"
    assert str(call) == format_call(call)
    assert parse_call(format_call(call)) == call
    with pytest.raises(ValueError):
        format_call(Call("f", (), {"x": float("nan")}))
    with pytest.raises(ValueError):
        format_call(Call("f", (), {"x": object()}))
    with pytest.raises(ValueError):
        format_call(Call("os.system"))


def test_all_ground_truth_calls_parse_and_round_trip(all_entries: list[Entry]) -> None:
    count = 0
    for entry in all_entries:
        for turn in entry.ground_truth:
            for text in turn:
                call = parse_call(text)
                assert parse_call(format_call(call)) == call
                count += 1
    assert count == 4700


_names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda name: not keyword.iskeyword(name)
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
_hashables = st.recursive(_scalars, lambda inner: st.tuples(inner, inner), max_leaves=4)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner)
        | st.tuples(inner, inner)
        | st.dictionaries(_hashables, inner, max_size=4)
        | st.frozensets(_scalars, min_size=1, max_size=4).map(set)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    name=_names,
    args=st.lists(_values, max_size=3).map(tuple),
    kwargs=st.dictionaries(_names, _values, max_size=4),
)
def test_round_trip(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    call = Call(name, args, kwargs)
    text = format_call(call)
    assert parse_call(text) == call
    assert format_call(parse_call(text)) == text
    assert parse_calls(f"[{text}, {text}]") == [call, call]

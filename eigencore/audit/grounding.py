"""Where an argument value of a reference call can come from.

A ground-truth argument is *grounded* when an agent could know it: the user said it (so far in
the conversation), it is in the initial state, an earlier tool output showed it, or the
function's doc offers it (enum member, default, quoted example). Each source is a `Pool` of
normalised strings, numbers, dates and a text blob; `Grounding.locate` says which pools hold a
value, so callers also learn *which* earlier output a value came from (provenance).

Matching is deliberately forgiving, because a value the audit calls ungrounded must really
be absent: text is compared case-folded with quotes and whitespace unified, as a substring of
longer text (short tokens only at word boundaries); numbers by value, also inside text
("20,000", "Year2024"), also rounded to the value's own decimals; ISO dates also in common
written forms ("December 15, 2024", "15th of Dec", "12/15/2024"). A value that is not verbatim
anywhere but whose every word occurs in the sources is *composed*; a number that equals one
arithmetic step over available numbers is *derived*. Both are reported apart from values
found nowhere.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Derivation",
    "Grounding",
    "Pool",
    "currency_codes",
    "iso_date",
    "leaves",
    "norm_text",
    "text_dates",
    "text_numbers",
    "words",
]

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "`": "'"})
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+")
_DIGITS = re.compile(r"(?<![\d.])-?\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(\d{4})"
_DATE_FORMS = (
    (re.compile(rf"\b{_MONTH}\s+{_DAY}(?:\s*,?\s*{_YEAR})?\b"), ("m", "d", "y")),
    (re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:\s*,?\s*{_YEAR})?\b"), ("d", "m", "y")),
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), ("y", "m", "d")),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b"), ("m", "d", "y")),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b"), ("d", "m", "y")),
)
_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "fifty": 50, "hundred": 100, "thousand": 1000, "million": 1_000_000,
    "dozen": 12, "half": 0.5, "quarter": 0.25, "single": 1, "double": 2, "twice": 2,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
}  # fmt: skip
# Currency names and symbols a user writes for the codes the functions take.
_CURRENCIES = {
    "usd": ("$", "dollar", "usd"), "gbp": ("£", "pound", "gbp"), "eur": ("€", "euro", "eur"),
    "rmb": ("rmb", "yuan", "renminbi", "cny"), "cny": ("rmb", "yuan", "renminbi", "cny"),
    "jpy": ("¥", "yen", "jpy"), "inr": ("₹", "rupee", "inr"), "cad": ("cad",), "aud": ("aud",),
}  # fmt: skip
# Numbers an arithmetic step may use without a source (percent, halves, unit steps).
_DERIVATION_CONSTANTS = (2.0, 100.0)
_SMALL_INTEGER = 10
_MAX_DERIVATION_POOL = 150
_SHORT = 3  # strings up to this length only match whole words


def norm_text(text: str) -> str:
    """Case-folded, NFKC, quotes unified, BFCL's escaped quotes unescaped, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    text = text.replace("\\'", "'").replace('\\"', '"').replace("\\n", "\n")
    return _SPACE.sub(" ", text).strip()


def words(text: str) -> list[str]:
    return _WORD.findall(norm_text(text))


_HAS_DIGIT = re.compile(r"\d")
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b")


def text_numbers(text: str) -> set[float]:
    """Every number written in the text, with thousands separators and number words."""
    found: set[float] = set()
    if _HAS_DIGIT.search(text):
        for m in _DIGITS.findall(_THOUSANDS.sub("", text)):
            found.add(abs(float(m)))
            if m.startswith("-"):
                found.add(float(m))
    for word in _NUMBER_WORD.findall(text.casefold()):
        found.add(float(_NUMBER_WORDS[word]))
    return found


def text_dates(text: str) -> set[tuple[int | None, int, int]]:
    """(year or None, month, day) of every date written in a common form."""
    if not _HAS_DIGIT.search(text):
        return set()
    lowered = text.casefold()
    found: set[tuple[int | None, int, int]] = set()
    for pattern, order in _DATE_FORMS:
        for match in pattern.finditer(lowered):
            parts = dict(zip(order, match.groups(), strict=True))
            month = parts["m"]
            month_no = _MONTHS[month] if month in _MONTHS else int(month)
            day, year = int(parts["d"]), parts["y"]
            if 1 <= month_no <= 12 and 1 <= day <= 31:
                found.add((int(year) if year else None, month_no, day))
    return found


def iso_date(value: Any) -> tuple[int, int, int] | None:
    match = _ISO_DATE.match(value.strip()) if isinstance(value, str) else None
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def currency_codes(text: str) -> set[str]:
    """Currency codes the text names by symbol, name or code ("$500" -> usd)."""
    lowered = text.casefold()
    return {code for code, marks in _CURRENCIES.items() if any(m in lowered for m in marks)}


def text_months(text: str) -> set[int]:
    return {_MONTHS[w] for w in _WORD.findall(text.casefold()) if w in _MONTHS and w != "may"}


def leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(key path, scalar) of a nested value; dict keys are yielded as leaves too (path `@key`)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, "@key"), key
            yield from leaves(item, (*path, str(key)))
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from leaves(item, path)
    else:
        if not isinstance(value, str | int | float | bool | type(None)):
            try:
                value = float(value)  # Decimal / mpmath results compare by value
            except (TypeError, ValueError):
                value = str(value)
        yield path, value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def decimals(value: float) -> int:
    """Decimal places of a number as written (2857.14 -> 2, 35.0 -> 0)."""
    if float(value).is_integer():
        return 0
    text = repr(float(value))
    if "e" in text:
        return 6
    return min(len(text.split(".", 1)[1]), 6)


def _matches_number(value: float, pool: Pool) -> bool:
    if value in pool.numbers:
        return True
    places = decimals(value)
    # Rounding a written number to fewer places is a justified reading (3333.33 -> 3333),
    # but not for small integers, where it would match almost anything.
    if places == 0 and abs(value) < 100:
        return False
    return round(value, places) in pool.rounded(places)


@dataclass
class Pool:
    """One source of values, e.g. the user's turn 2, the initial state, one tool output."""

    label: str
    kind: str
    """`conversation`, `state`, `output`, or `doc`."""
    position: tuple[int, int] = (-1, -1)
    """(turn, call index) after which the pool is available; (t, -1) for user turn t."""
    strings: set[str] = field(default_factory=set)
    numbers: set[float] = field(default_factory=set)
    dates: set[tuple[int | None, int, int]] = field(default_factory=set)
    months: set[int] = field(default_factory=set)
    blob: str = ""
    words: set[str] = field(default_factory=set)
    _rounded: dict[int, set[float]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls,
        label: str,
        kind: str,
        *,
        texts: Iterable[str] = (),
        values: Iterable[Any] = (),
        position: tuple[int, int] = (-1, -1),
    ) -> Pool:
        pool = cls(label=label, kind=kind, position=position)
        chunks: list[str] = []
        for text in texts:
            chunks.append(norm_text(text))
            pool.numbers |= text_numbers(text)
            pool.dates |= text_dates(text)
            pool.months |= text_months(text)
        for value in values:
            for _, leaf in leaves(value):
                if leaf is None or isinstance(leaf, bool):
                    continue
                if _is_number(leaf):
                    if math.isfinite(leaf):
                        pool.numbers.add(float(leaf))
                    continue
                text = str(leaf)
                pool.strings.add(norm_text(text))
                chunks.append(norm_text(text))
                pool.numbers |= text_numbers(text)
                pool.dates |= text_dates(text)
        pool.blob = "\n".join(chunks)
        pool.words = set(_WORD.findall(pool.blob)) | {f"{n:g}" for n in pool.numbers}
        return pool

    def rounded(self, places: int) -> set[float]:
        """The pool's numbers rounded to `places` decimals (built on first use)."""
        if places not in self._rounded:
            self._rounded[places] = {round(n, places) for n in self.numbers}
        return self._rounded[places]

    def has_string(self, value: str) -> bool:
        needle = norm_text(value).strip(" '\"")
        if not needle:
            return True
        if needle in self.strings:
            return True
        if needle[0] in "#@" and len(needle) > 1 and self.has_string(needle[1:]):
            return True  # '@mike53' for the handle 'mike53', '#Travel' for 'travel'
        if len(needle) <= _SHORT and needle.isalnum():
            pattern = rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])"
            return re.search(pattern, self.blob) is not None
        return needle in self.blob

    def has_number(self, value: float) -> bool:
        return _matches_number(float(value), self)

    def has_date(self, year: int, month: int, day: int) -> bool:
        """The date as written, or its year, month (name or number) and day all mentioned
        ("the 15th of the year 2024's eleventh month")."""
        if (year, month, day) in self.dates or (None, month, day) in self.dates:
            return True
        month_said = month in self.months or float(month) in self.numbers
        return month_said and float(year) in self.numbers and float(day) in self.numbers

    def holds(self, value: Any) -> bool:
        """Does this pool hold the scalar (string, number or ISO date)?"""
        if _is_number(value):
            return self.has_number(value)
        text = str(value)
        if self.has_string(text):
            return True
        iso = _ISO_DATE.match(text.strip())
        if iso:
            return self.has_date(int(iso[1]), int(iso[2]), int(iso[3]))
        try:
            number = float(_THOUSANDS.sub("", text.strip()))
        except ValueError:
            return False
        return math.isfinite(number) and self.has_number(number)


@dataclass(frozen=True)
class Derivation:
    """`value` equals `left op right`, rounded to the value's decimals."""

    value: float
    left: float
    op: str
    right: float
    exact: float

    def __str__(self) -> str:
        return f"{self.left:g} {self.op} {self.right:g} = {self.exact:.6g}"


@dataclass
class Grounding:
    """All pools of one trajectory; `locate` answers per (turn, call) position."""

    pools: list[Pool] = field(default_factory=list)

    def add(self, pool: Pool) -> None:
        self.pools.append(pool)

    def available(self, turn: int, index: int) -> list[Pool]:
        """Pools an agent can have seen before making call `index` of `turn`."""
        out = []
        for pool in self.pools:
            if pool.kind in ("state", "doc"):
                out.append(pool)
            elif pool.kind in ("conversation", "lookup") and pool.position[0] <= turn:
                out.append(pool)
            elif pool.kind == "output" and pool.position < (turn, index):
                out.append(pool)
        return out

    def locate(self, value: Any, turn: int, index: int, extra: Iterable[Pool] = ()) -> list[Pool]:
        """The available pools that hold the scalar value (path-like strings part by part)."""
        pools = [*self.available(turn, index), *extra]
        found = [pool for pool in pools if pool.holds(value)]
        if found or not isinstance(value, str) or "/" not in value.strip("/"):
            return found
        # A path is grounded when each of its parts is (`document/temp` from two mentions).
        parts = [part for part in value.split("/") if part not in ("", ".", "..")]
        located = [[pool for pool in pools if pool.holds(part)] for part in parts]
        if parts and all(located):
            return list({id(p): p for group in located for p in group}.values())
        return []

    def composed_from(
        self, value: str, turn: int, index: int, extra: Iterable[Pool] = ()
    ) -> tuple[list[Pool], list[str]]:
        """(pools holding words of the text, words found nowhere)."""
        pools = [*self.available(turn, index), *extra]
        used: dict[int, Pool] = {}
        missing: list[str] = []
        for token in dict.fromkeys(_WORD.findall(norm_text(value))):
            # Doc prose holds most English words; composing from it would excuse anything.
            holders = [pool for pool in pools if pool.kind != "doc" and token in pool.words]
            if holders:
                used.setdefault(id(holders[0]), holders[0])
            else:
                missing.append(token)
        return list(used.values()), missing

    def derive(self, value: float, turn: int, index: int) -> Derivation | None:
        """One arithmetic step over available numbers (the user's and tools' first, then the
        doc's and a small initial state's) that gives the value at its own precision.

        The step shown reproduces the value; it is evidence that the value is computable, not
        necessarily the computation meant. Small integers are not derived: nearly any pair of
        numbers gives one.
        """
        if float(value).is_integer() and abs(value) <= _SMALL_INTEGER:
            return None
        recent: list[float] = []
        background: list[float] = []
        for pool in self.available(turn, index):
            said = pool.kind in ("conversation", "output", "lookup")
            if pool.kind == "state" and len(pool.numbers) > _MAX_DERIVATION_POOL // 3:
                continue  # a large state would make any number derivable
            (recent if said else background).extend(sorted(pool.numbers))
        numbers = list(dict.fromkeys(
            recent[-_MAX_DERIVATION_POOL:] + background[: _MAX_DERIVATION_POOL // 3]
            + list(_DERIVATION_CONSTANTS)
        ))  # fmt: skip
        places = decimals(value)
        target = round(float(value), places)
        for left in numbers:
            for right in numbers:
                for op, exact in _steps(left, right):
                    if not math.isfinite(exact) or exact in (left, right):
                        continue  # x*1, x+0: not a derivation
                    if places == 0:
                        matched = abs(exact - target) < 1e-9  # 44.6 is not 45.0
                    else:
                        matched = round(exact, places) == target
                    if matched:
                        return Derivation(float(value), left, op, right, exact)
        return None

    def date_reasoning(self, year: int, month: int, turn: int, index: int) -> Pool | None:
        """A pool that names the date's year and month (the day then needs calendar reasoning:
        "two days after the 14th", "the last day of October")."""
        for pool in self.available(turn, index):
            if pool.kind == "doc" or float(year) not in pool.numbers:
                continue
            if month in pool.months or float(month) in pool.numbers:
                return pool
        return None


def _steps(left: float, right: float) -> Iterator[tuple[str, float]]:
    yield "-", left - right
    yield "+", left + right
    yield "*", left * right
    if right:
        yield "/", left / right

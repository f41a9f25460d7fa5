"""Whether a reply gives the user a fact: numbers by value, text normalised."""

from __future__ import annotations

import math
import re

from eigencore.evaluation.task import Fact
from environments.rules import normalise_text

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _numbers(text: str) -> list[float]:
    out = []
    for m in _NUMBER.findall(text):
        try:
            out.append(float(m.replace(",", "")))
        except ValueError:
            continue
    return out


def fact_given(fact: Fact, text: str) -> bool:
    """Is the fact stated in the text? Numbers by value (to 2 decimals), text normalised."""
    v = fact.value
    if isinstance(v, bool):
        return normalise_text(str(v)) in normalise_text(text)
    if isinstance(v, (int, float)):
        return any(math.isclose(x, v, rel_tol=1e-9, abs_tol=1e-9) or round(x, 2) == round(v, 2)
                   for x in _numbers(text))
    needle = normalise_text(str(v))
    return bool(needle) and needle in normalise_text(_unescape(text))


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape(text: str) -> str:
    # Replies may quote JSON tool results verbatim: line breaks appear as backslash-n and
    # non-ASCII text as backslash-u escapes. Read them as the text they stand for.
    text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text.replace("\\n", " ").replace("\\t", " ")

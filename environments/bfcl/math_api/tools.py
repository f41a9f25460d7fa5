"""MathAPI tools: the calculator functions of BFCL's MathAPI, computed exactly as the original.

Every result, error dict and float is produced by the same Python expression as in the
original, so BFCL's stringification of it is identical. Two functions return non-JSON numbers
on purpose, as the original does: `logarithm` an mpmath number (BFCL then shows its `repr`,
whose digit count depends on the precision in force) and `square_root` a `Decimal`.
"""

from __future__ import annotations

import functools
import math
import sqlite3
from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation, localcontext
from typing import Annotated, Any, TypeVar

import mpmath
from pydantic import Field, StrictFloat, StrictInt

from environments.contract import Db, ToolError, tool

# Strict: the original computes with whatever it is given; coercing "5" or True to a number
# would make the port answer where the original answers differently.
Number = StrictInt | StrictFloat
Numbers = Annotated[list[Number], Field(description="The numbers to operate on.")]

Result = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])


def raises_as_tool_error(fn: F) -> F:
    """Exceptions the original lets escape (overflow, bad precision, ...) become ToolErrors
    carrying the same message BFCL shows after "Error during execution: "."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ToolError, sqlite3.Error):
            raise
        except Exception as exc:
            raise ToolError(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


@tool(read_only=True)
@raises_as_tool_error
def logarithm(db: Db, value: Number, base: Number, precision: StrictInt) -> Result:
    """Compute the logarithm of a number in a given base with arbitrary decimal precision.

    Args:
        value: The number whose logarithm is taken.
        base: The base of the logarithm.
        precision: Number of significant decimal digits to compute with.
    """
    # The original sets the process-global mpmath precision and leaves it set; a private
    # context gives the same digits (and the same repr later) without leaking to other calls.
    ctx = mpmath.MPContext()
    try:
        ctx.dps = precision
        result = ctx.log(value) / ctx.log(base)
        return {"result": result}
    except Exception as e:
        return {"error": str(e)}


@tool(read_only=True)
@raises_as_tool_error
def mean(db: Db, numbers: Numbers) -> Result:
    """Calculate the arithmetic mean of a list of numbers.

    Args:
        numbers: The numbers to average; must not be empty.
    """
    if not numbers:
        return {"error": "Cannot calculate mean of an empty list"}
    try:
        return {"result": sum(numbers) / len(numbers)}
    except TypeError:
        return {"error": "All elements in the list must be numbers"}


@tool(read_only=True)
@raises_as_tool_error
def standard_deviation(db: Db, numbers: Numbers) -> Result:
    """Calculate the population standard deviation of a list of numbers.

    Args:
        numbers: The numbers to measure the spread of; must not be empty.
    """
    if not numbers:
        return {"error": "Cannot calculate standard deviation of an empty list"}
    try:
        average = sum(numbers) / len(numbers)
        variance = sum((x - average) ** 2 for x in numbers) / len(numbers)
        return {"result": math.sqrt(variance)}
    except TypeError:
        return {"error": "All elements in the list must be numbers"}


@tool(read_only=True)
@raises_as_tool_error
def si_unit_conversion(db: Db, value: Number, unit_in: str, unit_out: str) -> Result:
    """Convert a length between metric units (km, m, cm, mm, um, nm).

    Args:
        value: The length to convert.
        unit_in: The unit the value is given in.
        unit_out: The unit to express the value in.
    """
    to_meters = {"km": 1000, "m": 1, "cm": 0.01, "mm": 0.001, "um": 1e-6, "nm": 1e-9}
    from_meters = {unit: 1 / factor for unit, factor in to_meters.items()}
    if not isinstance(value, (int, float)):
        return {"error": "Value must be a number"}
    if unit_in not in to_meters or unit_out not in from_meters:
        return {"error": f"Conversion from '{unit_in}' to '{unit_out}' is not supported"}
    try:
        value_in_meters = value * to_meters[unit_in]
        return {"result": value_in_meters * from_meters[unit_out]}
    except OverflowError:
        return {"error": "Conversion resulted in a value too large to represent"}


_IMPERIAL_SI_FACTORS: dict[str, float] = {
    "cm_to_in": 0.393701,
    "in_to_cm": 2.54,
    "m_to_ft": 3.28084,
    "ft_to_m": 0.3048,
    "m_to_yd": 1.09361,
    "yd_to_m": 0.9144,
    "km_to_miles": 0.621371,
    "miles_to_km": 1.60934,
    "kg_to_lb": 2.20462,
    "lb_to_kg": 0.453592,
    "celsius_to_fahrenheit": 1.8,
    "fahrenheit_to_celsius": 5 / 9,
}


@tool(read_only=True)
@raises_as_tool_error
def imperial_si_conversion(db: Db, value: Number, unit_in: str, unit_out: str) -> Result:
    """Convert a value between an imperial and a metric unit (length, mass, temperature).

    Args:
        value: The value to convert.
        unit_in: The unit the value is given in, e.g. "in", "miles", "lb", "celsius".
        unit_out: The unit to express the value in, e.g. "cm", "km", "kg", "fahrenheit".
    """
    if not isinstance(value, (int, float)):
        return {"error": "Value must be a number"}
    if unit_in == unit_out:
        return {"result": value}
    key = f"{unit_in}_to_{unit_out}"
    if key not in _IMPERIAL_SI_FACTORS:
        return {"error": f"Conversion from '{unit_in}' to '{unit_out}' is not supported"}
    try:
        if unit_in == "celsius" and unit_out == "fahrenheit":
            result = (value * _IMPERIAL_SI_FACTORS[key]) + 32
        elif unit_in == "fahrenheit" and unit_out == "celsius":
            result = (value - 32) * _IMPERIAL_SI_FACTORS[key]
        else:
            result = value * _IMPERIAL_SI_FACTORS[key]
        return {"result": result}
    except OverflowError:
        return {"error": "Conversion resulted in a value too large to represent"}


@tool(read_only=True)
@raises_as_tool_error
def add(db: Db, a: Number, b: Number) -> Result:
    """Add two numbers.

    Args:
        a: The first addend.
        b: The second addend.
    """
    try:
        return {"result": a + b}
    except TypeError:
        return {"error": "Both inputs must be numbers"}


@tool(read_only=True)
@raises_as_tool_error
def subtract(db: Db, a: Number, b: Number) -> Result:
    """Subtract the second number from the first.

    Args:
        a: The number to subtract from.
        b: The number to subtract.
    """
    try:
        return {"result": a - b}
    except TypeError:
        return {"error": "Both inputs must be numbers"}


@tool(read_only=True)
@raises_as_tool_error
def multiply(db: Db, a: Number, b: Number) -> Result:
    """Multiply two numbers.

    Args:
        a: The first factor.
        b: The second factor.
    """
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return {"error": "Both inputs must be numbers"}
    try:
        return {"result": a * b}
    except TypeError:
        return {"error": "Both inputs must be numbers"}


@tool(read_only=True)
@raises_as_tool_error
def divide(db: Db, a: Number, b: Number) -> Result:
    """Divide the first number by the second (a zero divisor is refused).

    Args:
        a: The numerator.
        b: The denominator.
    """
    try:
        if b == 0:
            return {"error": "Cannot divide by zero"}
        return {"result": a / b}
    except TypeError:
        return {"error": "Both inputs must be numbers"}


@tool(read_only=True)
@raises_as_tool_error
def power(db: Db, base: Number, exponent: Number) -> Result:
    """Raise a number to a power.

    Args:
        base: The number to raise.
        exponent: The power to raise it to.
    """
    try:
        return {"result": base**exponent}
    except TypeError:
        return {"error": "Both inputs must be numbers"}


@tool(read_only=True)
@raises_as_tool_error
def square_root(db: Db, number: Number, precision: StrictInt) -> Result:
    """Compute the square root of a non-negative number to a number of significant digits.

    Args:
        number: The number whose square root is taken; must not be negative.
        precision: Number of significant decimal digits of the result.
    """
    try:
        if number < 0:
            return {"error": "Cannot calculate square root of a negative number"}
        # The original sets the thread's decimal context and leaves it set; a local context
        # computes the same digits (a Decimal's text does not depend on the context).
        with localcontext(Context()) as context:
            context.prec = precision
            result = Decimal(number).sqrt()
        return {"result": result}
    except (TypeError, InvalidOperation):
        return {
            "error": "Input must be a number or computation resulted in an invalid operation"
        }


@tool(read_only=True)
@raises_as_tool_error
def absolute_value(db: Db, number: Number) -> Result:
    """Return the absolute value of a number.

    Args:
        number: The number to take the absolute value of.
    """
    try:
        return {"result": abs(number)}
    except TypeError:
        return {"error": "Input must be a number"}


@tool(read_only=True)
@raises_as_tool_error
def round_number(db: Db, number: Number, decimal_places: StrictInt = 0) -> Result:
    """Round a number to a given number of decimal places (Python's round-half-even).

    Args:
        number: The number to round.
        decimal_places: How many digits to keep after the decimal point; negative values
            round to tens, hundreds, ... Defaults to 0.
    """
    try:
        return {"result": round(number, decimal_places)}
    except TypeError:
        return {"error": "First input must be a number, second input must be an integer"}


@tool(read_only=True)
@raises_as_tool_error
def percentage(db: Db, part: Number, whole: Number) -> Result:
    """Express a part as a percentage of a whole.

    Args:
        part: The part.
        whole: The whole; must not be zero.
    """
    try:
        if whole == 0:
            return {"error": "Whole value cannot be zero"}
        return {"result": (part / whole) * 100}
    except TypeError:
        return {"error": "Both inputs must be numbers"}


@tool(read_only=True)
@raises_as_tool_error
def min_value(db: Db, numbers: Numbers) -> Result:
    """Find the smallest number of a list.

    Args:
        numbers: The numbers to search; must not be empty.
    """
    if not numbers:
        return {"error": "Cannot find minimum of an empty list"}
    try:
        return {"result": min(numbers)}
    except TypeError:
        return {"error": "All elements in the list must be numbers"}


@tool(read_only=True)
@raises_as_tool_error
def max_value(db: Db, numbers: Numbers) -> Result:
    """Find the largest number of a list.

    Args:
        numbers: The numbers to search; must not be empty.
    """
    if not numbers:
        return {"error": "Cannot find maximum of an empty list"}
    try:
        return {"result": max(numbers)}
    except TypeError:
        return {"error": "All elements in the list must be numbers"}


@tool(read_only=True)
@raises_as_tool_error
def sum_values(db: Db, numbers: Numbers) -> Result:
    """Add up a list of numbers.

    Args:
        numbers: The numbers to add; must not be empty.
    """
    if not numbers:
        return {"error": "Cannot calculate sum of an empty list"}
    try:
        return {"result": sum(numbers)}
    except TypeError:
        return {"error": "All elements in the list must be numbers"}

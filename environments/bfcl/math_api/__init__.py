"""BFCL-V3 MathAPI ported as a stateless EigenData bundle (pure computations, no tables)."""

from environments.bfcl.common import BfclBundle, scenario
from environments.bfcl.math_api import tools
from environments.bfcl.math_api.loading import load, project
from environments.contract import read_text, tools_in
from environments.rules import ComparisonRules

BUNDLE = BfclBundle(
    name="bfcl/math_api",
    description=(
        "Calculator of BFCL's MathAPI: arithmetic, logarithms and square roots at a chosen "
        "precision, statistics over lists, rounding, percentages and unit conversions."
    ),
    schema_sql=read_text(__file__, "schema.sql"),
    tools=tools_in(tools),
    rules=ComparisonRules(),
    default_scenario=scenario(),
    loader=load,
    class_name="MathAPI",
    module="math_api",
    project=project,
    stateless=True,
)

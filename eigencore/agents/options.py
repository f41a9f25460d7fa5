"""The command-line options of an environment-synthesis run and their round budgets, kept
apart from the orchestrator so `eigen`'s parser can use them without importing the agents."""

from __future__ import annotations

import argparse

WHOLE_ROUNDS = 6
"""Coding rounds of the whole-module stage."""
PER_TOOL_ROUNDS = 3
"""Coding rounds per tool in per-tool mode."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of a synthesis run: `python -m eigencore.agents.orchestrator` and
    `eigen synth env` both take exactly these."""
    p.add_argument("--spec", required=True, help="a domain spec (see examples/)")
    p.add_argument("--llm", required=True, help="anthropic:M, openai:M@URL, local:NAME")
    p.add_argument("--out", help="run directory (resumable; default synth/<spec name>)")
    p.add_argument("--scale", type=float, help="multiply the spec's volumes")
    p.add_argument("--replay", action="store_true",
                   help="serve model answers only from the run's recorded cache")
    p.add_argument("--replay-from", metavar="EXPORT",
                   help="replay an exported run (a directory with exchanges.jsonl, e.g. "
                        "examples/recorded/<run>) offline: implies --replay")
    p.add_argument("--structured", choices=("auto", "text", "tool"), default="auto",
                   help="how structured answers are asked for (auto: tool for local models)")
    p.add_argument("--coding", choices=("auto", "whole", "per-tool"), default="auto",
                   help="write the module whole or one tool at a time (auto: per-tool for "
                        "local models)")
    p.add_argument("--db-rounds", type=int, default=4,
                   help="round budget of the database stage (raise it to resume a run)")
    p.add_argument("--no-fixes", action="store_true",
                   help="send every database finding back to the model; by default the agent "
                        "applies the fixes that need no judgement (a missing integer key, an "
                        "undeclared relation whose values all exist) itself")
    p.add_argument("--no-resample", action="store_true",
                   help="stop a stage (or a tool) when the model repeats itself; by default "
                        "the request is asked again sampled (temperature 0.8, seed = round)")
    p.add_argument("--code-rounds", type=int,
                   help=f"coding round budget: the stage's in whole mode (default "
                        f"{WHOLE_ROUNDS}), each tool's in per-tool mode (default "
                        f"{PER_TOOL_ROUNDS})")

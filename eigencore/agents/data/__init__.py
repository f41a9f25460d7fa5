"""DataAgent: synthesizes verified multi-turn tool-use trajectories over a domain's database
and evolves its own generation prompt from the reasons its output was rejected.

Stages (one module each): `tasks` (grounded task generation with verifiable outcomes),
`simulate` (user simulator + assistant through the MCP harness), `verify` (state assertions,
owed information, judge, near-duplicates), `evolve` (versioned prompts, reflective revision,
environment findings), `export` (OpenAI / Anthropic JSONL, parquet, EigenData suite) and
`pipeline` (the resumable round loop: `run(domain, llm_spec, out_dir, rounds,
tasks_per_round)`).
"""

from eigencore.agents.data.pipeline import Roles, RunSummary, Settings, arun, run
from eigencore.agents.data.tasks import Assertion, DomainContext, task_assertion_failures

__all__ = ["Assertion", "DomainContext", "Roles", "RunSummary", "Settings", "arun", "run",
           "task_assertion_failures"]

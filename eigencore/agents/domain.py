"""EigenCore end to end (`eigen synth domain`): spec -> DatabaseAgent + CodingAgent (an
environment bundle) -> DataAgent (verified trajectories, exported), with the environment
findings of the data stage routed back to the agents that own the code and the schema, and
the data stage resumed on the repaired bundle.

Layout of `out/`:
    env/            the environment stage (`orchestrator.synthesize`); the bundle is env/<name>/
    repairs/NN/     one repair per batch of routed findings (`env_repair.repair`):
                    findings.json, spec.json, rounds/, <name>/ (the repaired bundle),
                    summary.json (written last: the repair is done)
    data/           the DataAgent run (`pipeline.arun`), its export in data/export/
    domain.json     the stages, the bundle every data round used, the outcome

Resuming after a kill: a finished stage is not redone. The environment stage is finished
when env/summary.json says ok, a repair when its summary.json exists, a data round when its
round summary exists; an unfinished one resumes through its own mechanism (journal replay,
response cache), so what it had done costs nothing the second time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, Field

from eigencore.agents import write_atomic
from eigencore.agents.data.bundle_dirs import register_bundle_dir
from eigencore.agents.data.evolve import EnvironmentFinding
from eigencore.agents.data.pipeline import Roles, RoundSummary, RunSummary, Settings, arun
from eigencore.agents.data.verify import Embedder
from eigencore.agents.env_repair import RepairResult, repair
from eigencore.agents.orchestrator import synthesize
from eigencore.agents.sandbox import Sandbox
from eigencore.agents.spec import DomainSpec
from eigencore.llm.structured import LLM


class DomainSummary(BaseModel):
    spec: str
    llm: str
    ok: bool = False
    name: str | None = None
    outcome: str = ""
    env: dict[str, Any] = Field(default_factory=dict)
    repairs: list[RepairResult] = Field(default_factory=list)
    unrouted: list[str] = Field(default_factory=list)
    """Findings not handed to a repair because the repair budget was spent."""
    bundle: str | None = None
    """The bundle the data stage ended on."""
    round_bundles: dict[int, str] = Field(default_factory=dict)
    data: RunSummary | None = None
    duration_s: float = 0.0


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _repairs(out: Path) -> list[tuple[Path, RepairResult]]:
    done = []
    for d in sorted((out / "repairs").glob("[0-9][0-9]")):
        if (d / "summary.json").is_file():
            done.append((d, RepairResult.model_validate_json(
                (d / "summary.json").read_text(encoding="utf-8"))))
    return done


def _current(out: Path, env_bundle: Path, env_spec: DomainSpec) -> tuple[Path, DomainSpec]:
    """The latest accepted bundle (the last successful repair's, else the env stage's) and
    the spec it implements."""
    bundle, spec = env_bundle, env_spec
    for d, r in _repairs(out):
        if r.ok and r.bundle:
            bundle = d / Path(r.bundle).name
            spec = DomainSpec.model_validate_json((d / "spec.json").read_text(encoding="utf-8"))
    return bundle, spec


def _structured_mode(llm: LLM) -> str:
    return "tool" if llm.adapter.name.startswith("local:") else "text"


async def arun_domain(spec_path: str | Path, llm_spec: str, out_dir: str | Path, *,
                      rounds: int = 3, tasks_per_round: int = 6,
                      assistant_spec: str | None = None, judge: bool = True,
                      settings: Settings | None = None, scale: float | None = None,
                      max_repairs: int = 2, env_llm: LLM | None = None,
                      roles: Roles | None = None, sandbox: Sandbox | None = None,
                      embedder: Embedder | None = None,
                      log: Callable[[str], None] | None = None) -> DomainSummary:
    """Run (or resume) the three stages into `out_dir`.

    `llm_spec` serves the environment agents and every data role (`assistant_spec` may
    replace the assistant); tests inject `env_llm` (DatabaseAgent/CodingAgent) and `roles`
    (DataAgent) instead, e.g. scripted backends."""
    started = time.monotonic()
    say = log or (lambda _m: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = DomainSummary(spec=str(spec_path), llm=llm_spec)
    state_path = out / "domain.json"
    previous = _read_json(state_path) or {}
    summary.round_bundles = {int(k): v for k, v in previous.get("round_bundles", {}).items()}
    llm_holder: list[LLM] = [env_llm] if env_llm is not None else []

    def agents_llm() -> LLM:
        # Built only when an environment agent is asked something: a resumed run whose
        # environment work is done never loads that model.
        if not llm_holder:
            from clients.models.specs import adapter_factory
            from eigencore.llm.cache import ResponseCache

            llm_holder.append(LLM(adapter_factory(llm_spec)(),
                                  cache=ResponseCache(out / "env" / "llm-cache.db")))
        return llm_holder[0]

    def save() -> None:
        summary.duration_s = round(time.monotonic() - started, 1)
        write_atomic(state_path, summary.model_dump_json(indent=1))

    # -- stage 1: the environment -----------------------------------------------------------
    env_dir = out / "env"
    env = _read_json(env_dir / "summary.json")
    if env and env.get("ok") and (env_dir / env["spec"]).is_dir():
        say(f"env: done earlier ({env['outcome']})")
    else:
        say("env: DatabaseAgent + CodingAgent")
        env = await synthesize(spec_path, agents_llm(), env_dir, scale=scale, sandbox=sandbox)
    summary.env = {k: env.get(k) for k in ("ok", "spec", "bundle", "outcome", "rounds",
                                           "schema_revisions", "llm")}
    summary.name = env["spec"]
    if not env.get("ok"):
        summary.outcome = f"environment stage failed: {env.get('outcome')}"
        save()
        return summary
    env_spec = DomainSpec.model_validate_json((env_dir / "spec.json").read_text(
        encoding="utf-8"))
    bundle, spec = _current(out, env_dir / env["spec"], env_spec)
    summary.repairs = [r for _, r in _repairs(out)]
    name = register_bundle_dir(bundle)
    summary.bundle = str(bundle)
    save()

    # -- stage 2: data, with findings routed back -------------------------------------------
    routed = {fid for r in summary.repairs for fid in r.findings}

    async def after_round(rs: RoundSummary) -> bool:
        nonlocal bundle, spec
        summary.round_bundles.setdefault(rs.round, str(bundle))
        findings = [EnvironmentFinding.model_validate_json(
            (out / "data" / "findings" / f).read_text(encoding="utf-8")) for f in rs.findings]
        new = [f for f in findings if f.id not in routed]
        if not new:
            save()
            return False
        done = len(_repairs(out))
        if done >= max_repairs:
            summary.unrouted += [f.id for f in new if f.id not in summary.unrouted]
            say(f"  findings {[f.id for f in new]} not routed: {max_repairs} repairs done")
            save()
            return False
        say(f"  routing {len(new)} finding(s) after round {rs.round}: "
            + ", ".join(f"{f.category} -> {f.route_to}" for f in new))
        llm = agents_llm()
        result, new_spec = await repair(spec, bundle, new, llm, out / "repairs" / f"{done + 1:02d}",
                                        sandbox=sandbox, mode=_structured_mode(llm))  # type: ignore[arg-type]
        routed.update(result.findings)
        summary.repairs.append(result)
        say(f"  repair {done + 1}: {result.outcome}")
        if not result.ok or result.bundle is None:
            save()
            return False
        bundle, spec = Path(result.bundle), new_spec
        register_bundle_dir(bundle)
        summary.bundle = str(bundle)
        save()
        return True  # the data stage goes on over the repaired bundle

    data = await arun(name, llm_spec, out / "data", rounds, tasks_per_round, roles=roles,
                      settings=settings, embedder=embedder, assistant_spec=assistant_spec,
                      judge=judge, log=log, after_round=after_round)
    summary.data = data
    kept = sum(r.kept for r in data.rounds)
    summary.ok = True
    summary.outcome = (f"{kept} verified trajectories; yields "
                       + " -> ".join(f"{y:.2f}" for y in data.yields())
                       + f"; {len(summary.repairs)} repair(s)")
    save()
    return summary


def run_domain(spec_path: str | Path, llm_spec: str, out_dir: str | Path,
               **kwargs: Any) -> DomainSummary:
    return anyio.run(lambda: arun_domain(spec_path, llm_spec, out_dir, **kwargs))


__all__ = ["DomainSummary", "arun_domain", "run_domain"]

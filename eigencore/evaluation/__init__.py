"""Outcome-aware evaluation: tasks, rollout harness, reference outcomes, scoring, runs."""

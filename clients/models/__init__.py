"""Model adapters: one interface over hosted APIs, local models, replays and baselines."""

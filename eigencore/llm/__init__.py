"""The LLM layer the agents use: structured outputs, retries with feedback, accounting, cache."""

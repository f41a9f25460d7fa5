"""EigenCore: orchestration, agents, audit and evaluation."""

"""Model adapters and MCP-client helpers."""

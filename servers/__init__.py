"""Publishing domain bundles as MCP servers: surfaces, episodes, transports."""

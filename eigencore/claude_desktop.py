"""Write a Claude Desktop `claude_desktop_config.json` entry for an EigenData server.

The entry runs the current interpreter (`sys.executable -m eigencore.cli serve ...`), so no
`uv` or PATH setup is needed. Existing entries and unrelated keys are preserved; the file
is replaced atomically and a backup of the previous version is kept.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any


def default_config_path() -> Path:
    system = platform.system()
    if system == "Darwin":
        return Path.home() / "Library/Application Support/Claude/claude_desktop_config.json"
    if system == "Windows":
        return Path(os.environ.get("APPDATA", Path.home())) / "Claude/claude_desktop_config.json"
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "Claude/claude_desktop_config.json"


def server_entry(domains: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "command": sys.executable,
        "args": ["-m", "eigencore.cli", "serve", ",".join(domains), "--transport", "stdio"],
    }
    if env:
        entry["env"] = env
    return entry


def install(domains: list[str], *, name: str | None = None, config_path: Path | None = None,
            env: dict[str, str] | None = None) -> tuple[Path, str]:
    """Add (or replace) one `mcpServers` entry; returns the file written and the entry name."""
    path = config_path or default_config_path()
    name = name or "eigendata-" + "-".join(d.replace("/", "-") for d in domains)
    config: dict[str, Any] = {}
    if path.exists() and path.read_text(encoding="utf-8").strip():
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); fix or move it first") from e
        if not isinstance(config, dict):
            raise ValueError(f"{path} does not hold a JSON object")
        path.with_suffix(".json.bak").write_text(path.read_text(encoding="utf-8"),
                                                 encoding="utf-8")
    servers = config.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise ValueError(f"{path}: 'mcpServers' is not an object")
    servers[name] = server_entry(domains, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".claude_desktop_config.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return path, name

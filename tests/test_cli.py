"""The `eigen` command line, run as a real subprocess where it matters."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from eigencore.cli import main


def eigen(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "eigencore.cli", *args], capture_output=True,
                          text=True, check=check, timeout=120)


def test_envs_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs", "list", "--json"]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert listed["library"]["tools"] == 15


def test_unknown_domain_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "claude-desktop", "nope", "--config", "/dev/null/x"]) == 2
    assert "unknown domain 'nope'" in capsys.readouterr().err


def test_state_export_and_diff(tmp_path: Path) -> None:
    before, after = tmp_path / "before.db", tmp_path / "after.db"
    eigen("state", "export", "library", str(before))
    eigen("state", "export", "library", str(after))
    same = eigen("state", "diff", "library", str(before), str(after), check=False)
    assert same.returncode == 0 and same.stdout.strip() == "no differences"
    db = sqlite3.connect(after)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("UPDATE members SET fines_cents = 0 WHERE card_number = 'C-1004'")
    db.execute("DELETE FROM payments WHERE payment_id = 1")
    db.commit()
    db.close()
    changed = eigen("state", "diff", "library", str(before), str(after), check=False)
    assert changed.returncode == 1
    assert "members[card_number='C-1004']" in changed.stdout
    assert "fines_cents: before 350 -> after 0" in changed.stdout
    as_json = eigen("state", "diff", "library", str(before), str(after), "--json", check=False)
    kinds = {(c["table"], c["kind"]) for c in json.loads(as_json.stdout)["changes"]}
    assert kinds == {("members", "updated"), ("payments", "deleted")}
    full = eigen("state", "diff", "library", str(before), str(after), "--full", check=False)
    assert full.returncode == 1 and "C-1004" in full.stdout


def test_install_claude_desktop_merges(tmp_path: Path) -> None:
    config = tmp_path / "Claude" / "claude_desktop_config.json"
    config.parent.mkdir()
    existing = {"mcpServers": {"other": {"command": "/usr/bin/other", "args": ["x"]}},
                "globalShortcut": "Ctrl+Space"}
    config.write_text(json.dumps(existing))
    assert main(["install", "claude-desktop", "library", "--config", str(config)]) == 0
    written = json.loads(config.read_text())
    assert written["mcpServers"]["other"] == existing["mcpServers"]["other"]
    assert written["globalShortcut"] == "Ctrl+Space"
    entry = written["mcpServers"]["eigendata-library"]
    assert entry["command"] == sys.executable
    assert entry["args"] == ["-m", "eigencore.cli", "serve", "library", "--transport", "stdio"]
    assert json.loads(config.with_suffix(".json.bak").read_text()) == existing
    # Installing again replaces our entry only.
    assert main(["install", "claude-desktop", "library", "--config", str(config)]) == 0
    assert len(json.loads(config.read_text())["mcpServers"]) == 2


def test_install_claude_desktop_refuses_broken_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "claude_desktop_config.json"
    config.write_text("{not json")
    assert main(["install", "claude-desktop", "library", "--config", str(config)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert config.read_text() == "{not json"


def test_installed_entry_starts_a_working_server(tmp_path: Path) -> None:
    """The command written for Claude Desktop really speaks MCP over stdio."""
    config = tmp_path / "c.json"
    main(["install", "claude-desktop", "library", "--config", str(config)])
    entry = json.loads(config.read_text())["mcpServers"]["eigendata-library"]
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "claude-desktop-test", "version": "0"}}}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    proc = subprocess.Popen([entry["command"], *entry["args"]], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdin and proc.stdout
    try:
        # Like a real client: wait for each reply before the next request, close at the end.
        proc.stdin.write(json.dumps(init) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1
        proc.stdin.write(json.dumps(initialized) + "\n" + json.dumps(listing) + "\n")
        proc.stdin.flush()
        reply = json.loads(proc.stdout.readline())
        tools = reply["result"]["tools"]
    finally:
        proc.stdin.close()
        proc.wait(30)
    assert "checkout" in {t["name"] for t in tools}


def test_serve_refuses_remote_bind() -> None:
    r = eigen("serve", "library", "--transport", "http", "--host", "0.0.0.0", check=False)
    assert r.returncode == 2 and "--allow-remote" in r.stderr

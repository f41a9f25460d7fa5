"""The sandbox enforces and reports each limit, and never hangs the test run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from eigencore.agents.sandbox import (
    NETWORK_ERROR,
    DockerSandbox,
    Sandbox,
    SandboxLimits,
    SandboxUnavailable,
)

FAST = SandboxLimits(cpu_s=1, memory_mb=256, file_size_mb=1, wall_s=8)


def test_a_plain_run_has_its_own_directory_and_imports_the_project() -> None:
    r = Sandbox(FAST).run_python(
        "import os, environments.contract\n"
        "open('out.txt', 'w').write(os.getcwd() + '|' + os.environ['HOME'])\n"
        "print('ready')", collect=["out.txt"])
    assert r.ok and r.stdout.strip() == "ready" and not r.limits_hit
    assert r.files["out.txt"] == "<sandbox>|<sandbox>"  # cwd = HOME = the sandbox dir
    assert {"rlimits", "socket-guard", "audit-hook"} <= set(r.mechanisms)


def test_an_endless_loop_hits_the_cpu_limit() -> None:
    start = time.monotonic()
    r = Sandbox(FAST).run_python("while True:\n    pass\n")
    assert time.monotonic() - start < 8
    assert r.killed_by == "SIGXCPU" and "cpu" in r.limits_hit and not r.ok


def test_a_sleeping_process_hits_the_wall_clock_and_its_group_is_killed() -> None:
    r = Sandbox(SandboxLimits(wall_s=1.0)).run_python("import time\ntime.sleep(60)\n")
    assert r.timed_out and r.killed_by == "SIGKILL" and r.limits_hit == ["wall"]
    assert r.duration_s < 5


def test_a_memory_bomb_hits_the_memory_limit() -> None:
    r = Sandbox(FAST).run_python("blob = bytearray(4 * 1024 ** 3)\n")
    assert "memory" in r.limits_hit and "MemoryError" in r.stderr and not r.ok


def test_a_huge_file_hits_the_file_size_limit() -> None:
    r = Sandbox(FAST).run_python("open('big.bin', 'wb').write(b'x' * (8 << 20))\n")
    assert "file_size" in r.limits_hit and not r.ok


def test_network_is_refused() -> None:
    code = ("import socket\n"
            "try:\n"
            "    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
            "except PermissionError as e:\n"
            "    print('refused:', e)\n"
            "socket.socket().connect(('127.0.0.1', 9))\n")
    r = Sandbox(FAST).run_python(code)
    assert f"refused: {NETWORK_ERROR}" in r.stdout
    assert "network" in r.limits_hit and not r.ok


def test_writing_outside_is_refused_by_the_audit_hook(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    r = Sandbox(FAST).run_python(
        f"import sqlite3\n"
        f"for attempt in (lambda: open({str(target)!r}, 'w'),\n"
        f"                lambda: sqlite3.connect({str(tmp_path / 'x.db')!r}),\n"
        f"                lambda: open('../beside.txt', 'a')):\n"
        f"    try:\n"
        f"        attempt()\n"
        f"    except PermissionError as e:\n"
        f"        print('refused')\n"
        f"import os\nos.system('true')\n")
    assert r.stdout.split() == ["refused"] * 3
    assert not target.exists() and not (tmp_path / "x.db").exists()
    assert {"write_outside", "spawn"} <= set(r.limits_hit) and not r.ok


def test_writes_that_get_past_the_hook_are_detected_by_the_canary(tmp_path: Path) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    r = Sandbox(FAST, audit=False, watch=[watched]).run_python(
        f"open('../stray.txt', 'w').write('x')\n"
        f"open({str(watched / 'planted.txt')!r}, 'w').write('x')\n")
    assert r.returncode == 0 and "write_outside" in r.limits_hit
    assert any(p.endswith("stray.txt") for p in r.writes_outside)
    assert str(watched / "planted.txt") in r.writes_outside


def test_docker_backend_reports_unavailable_cleanly() -> None:
    if DockerSandbox.available():
        pytest.skip("a Docker engine answers here")
    with pytest.raises(SandboxUnavailable, match="Docker"):
        DockerSandbox("python:3.11").run_python("print(1)")

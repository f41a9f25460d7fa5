"""Run generated code (and its tests) in a separate, limited process.

Each run gets a fresh temporary directory that is its cwd, HOME and TMPDIR. Layers, each
cheap, none sufficient alone against hostile code (the threat here is buggy LLM code: loops,
memory bombs, stray writes, accidental network calls):

- `resource.setrlimit` in the child before exec: CPU seconds, address space, file size,
  processes; a wall-clock timeout kills the whole process group;
- no network: a new network namespace (`unshare -n`, when running as root and it works),
  and always a `sitecustomize.py` that makes socket connects raise `PermissionError`;
- writes confined: an audit hook (`sys.addaudithook`) refuses opening files for writing
  outside the sandbox directory (also SQLite files, directory changes and spawning
  processes), and canary listings of watched directories detect writes that got past it.

`SandboxResult.mechanisms` says which layers applied; `limits_hit` names what was enforced.
A Docker backend is offered for machines where a Docker engine answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NETWORK_ERROR = "network disabled in sandbox"
WRITE_ERROR = "write outside the sandbox directory"


class SandboxUnavailable(RuntimeError):
    """The requested backend cannot run on this machine (e.g. no Docker engine)."""


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: int = 30
    memory_mb: int = 1024
    """Address space (RLIMIT_AS): Python with pytest and SQLite needs about 300 MB."""
    file_size_mb: int = 64
    nproc: int = 4096
    """RLIMIT_NPROC counts every process of the user; root is exempt from it (then the audit
    hook's refusal to spawn is the layer that holds)."""
    wall_s: float = 60.0


@dataclass
class SandboxResult:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    killed_by: str | None
    """Signal name that ended the process (SIGKILL after a timeout, SIGXCPU, ...)."""
    limits_hit: list[str]
    """Among: wall, cpu, memory, file_size, network, write_outside, spawn."""
    duration_s: float
    mechanisms: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    """Requested output files read back from the sandbox directory before it was removed."""
    writes_outside: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def tail(self, which: str = "stderr", lines: int = 40) -> str:
        text = self.stderr if which == "stderr" else self.stdout
        return "\n".join(text.splitlines()[-lines:])

    def to_json(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in (
            "returncode", "stdout", "stderr", "timed_out", "killed_by", "limits_hit",
            "duration_s", "mechanisms", "writes_outside")}


# The guard every sandboxed interpreter imports at startup (found through PYTHONPATH).
_SITECUSTOMIZE = r'''
"""Sandbox guards, installed before any user code runs."""
import os
import socket
import sys

_ROOT = os.path.realpath(os.environ["EIGEN_SANDBOX_DIR"])
_ALLOW = ("/dev/null", "/dev/tty", "/dev/stdout", "/dev/stderr")
_NET = "@NET@"
_WRITE = "@WRITE@"


def _report(message):
    # Announced even when the code catches the error, so the run is reported all the same.
    os.write(2, f"[sandbox] {message}\n".encode())
    return PermissionError(message)


def _refuse_network(*args, **kwargs):
    raise _report(_NET)


socket.socket.connect = _refuse_network
socket.socket.connect_ex = _refuse_network
socket.socket.sendto = _refuse_network
socket.create_connection = _refuse_network


def _inside(path):
    if isinstance(path, int):
        return True  # an already-open descriptor
    try:
        p = os.fsdecode(path)
    except TypeError:
        return True
    if p in _ALLOW or p.startswith("/proc/self/fd/"):
        return True
    real = os.path.realpath(p)
    return real == _ROOT or real.startswith(_ROOT + os.sep)


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {"os.remove": 0, "os.rename": 0, "os.mkdir": 0, "os.rmdir": 0,
                "os.symlink": 1, "os.link": 1, "os.truncate": 0, "os.chmod": 0,
                "os.chown": 0, "os.utime": 0, "shutil.rmtree": 0, "shutil.move": 1}
_SPAWN = {"os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
          "subprocess.Popen", "pty.spawn"}


def _hook(event, args):
    if event == "open":
        path, mode, flags = (list(args) + [None, None, 0])[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and path is not None and not _inside(path):
            raise _report(f"{_WRITE}: {path}")
    elif event == "sqlite3.connect":
        db = args[0] if args else ":memory:"
        name = os.fsdecode(db) if isinstance(db, (str, bytes, os.PathLike)) else ":memory:"
        if name not in ("", ":memory:") and not name.startswith("file::memory:") \
                and not _inside(name.removeprefix("file:").split("?")[0]):
            raise _report(f"{_WRITE}: sqlite database {name}")
    elif event in _PATH_EVENTS:
        path = args[_PATH_EVENTS[event]] if len(args) > _PATH_EVENTS[event] else None
        if path is not None and not _inside(path):
            raise _report(f"{_WRITE}: {event} {path}")
    elif event in _SPAWN:
        raise _report(f"{event} refused")


if os.environ.get("EIGEN_SANDBOX_AUDIT", "1") == "1":
    sys.addaudithook(_hook)
'''.replace("@NET@", NETWORK_ERROR).replace("@WRITE@", WRITE_ERROR)


@cache
def netns_available() -> bool:
    """Whether `unshare -n` can give a child its own (empty) network namespace."""
    exe = shutil.which("unshare")
    if exe is None or os.geteuid() != 0:
        return False
    try:
        return subprocess.run([exe, "-n", "true"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _listing(d: Path) -> dict[str, tuple[int, int]]:
    try:
        return {e.name: (e.stat(follow_symlinks=False).st_mtime_ns,
                         e.stat(follow_symlinks=False).st_size) for e in os.scandir(d)}
    except OSError:
        return {}


class Sandbox:
    """Local process sandbox. `run` is synchronous and never outlives `limits.wall_s`."""

    def __init__(self, limits: SandboxLimits | None = None, *, base_dir: str | Path | None = None,
                 audit: bool = True, netns: bool | None = None,
                 watch: Sequence[str | Path] = ()):
        self.limits = limits or SandboxLimits()
        self.base_dir = Path(base_dir) if base_dir else None
        self.audit = audit
        """Install the write/spawn audit hook (tests turn it off to exercise the canary)."""
        self.netns = netns_available() if netns is None else netns
        self.watch = [Path(w) for w in watch]

    def _preexec(self) -> None:
        lim = self.limits
        mb = 1 << 20
        # Soft CPU limit below the hard one: SIGXCPU first (reported), SIGKILL as backstop.
        resource.setrlimit(resource.RLIMIT_CPU, (lim.cpu_s, lim.cpu_s + 2))
        resource.setrlimit(resource.RLIMIT_AS, (lim.memory_mb * mb, lim.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim.file_size_mb * mb, lim.file_size_mb * mb))
        resource.setrlimit(resource.RLIMIT_NPROC, (lim.nproc, lim.nproc))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def run_python(self, script: str, *, files: Mapping[str, str | bytes] | None = None,
                   copy_dirs: Mapping[str, str | Path] | None = None,
                   args: Sequence[str] = (), collect: Sequence[str] = ()) -> SandboxResult:
        """Write `files` (relative paths) and copies of `copy_dirs` into a fresh directory,
        run `script` (a Python source text) there, and read back the `collect` files."""
        base = self.base_dir
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        parent = Path(tempfile.mkdtemp(prefix="eigen-sandbox-", dir=base))
        box = parent / "box"
        box.mkdir()
        try:
            # The canary: the parent holds only `box` and this file; anything else that
            # appears there (or in a watched directory) was written from inside.
            (parent / "canary").write_text("untouched")
            for rel, content in (files or {}).items():
                p = box / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, bytes):
                    p.write_bytes(content)
                else:
                    p.write_text(content, encoding="utf-8")
            for rel, src in (copy_dirs or {}).items():
                shutil.copytree(src, box / rel, ignore=shutil.ignore_patterns("__pycache__"))
            guard = parent / "guard"
            guard.mkdir()
            (guard / "sitecustomize.py").write_text(_SITECUSTOMIZE)
            (box / "main.py").write_text(script, encoding="utf-8")
            watched = {w: _listing(w) for w in [parent, *self.watch]}
            result = self._exec(box, guard, ["main.py", *args])
            for rel in collect:
                p = box / rel
                if p.is_file():
                    text = p.read_text(encoding="utf-8", errors="replace")
                    result.files[rel] = text.replace(str(box), "<sandbox>")
            for w, before in watched.items():
                after = _listing(w)
                if w == parent:
                    after.pop("box", None)
                    after.pop("guard", None)
                    before = {k: v for k, v in before.items() if k not in ("box", "guard")}
                changed = sorted(k for k in set(before) | set(after)
                                 if before.get(k) != after.get(k))
                result.writes_outside += [str(w / k) for k in changed]
            if (parent / "canary").read_text() != "untouched":
                result.writes_outside.append(str(parent / "canary"))
            if result.writes_outside and "write_outside" not in result.limits_hit:
                result.limits_hit.append("write_outside")
            return result
        finally:
            shutil.rmtree(parent, ignore_errors=True)

    def _exec(self, box: Path, guard: Path, argv: list[str]) -> SandboxResult:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(box), "TMPDIR": str(box), "PWD": str(box),
            "LANG": "C.UTF-8", "PYTHONUTF8": "1",
            # guard first so its sitecustomize wins; the repo root so generated bundles can
            # import `environments.contract` whatever way the project is installed.
            "PYTHONPATH": os.pathsep.join([str(guard), str(box), str(REPO_ROOT)]),
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
            "EIGEN_SANDBOX": "1", "EIGEN_SANDBOX_DIR": str(box),
            "EIGEN_SANDBOX_AUDIT": "1" if self.audit else "0",
            "no_proxy": "*", "NO_PROXY": "*",
        }
        mechanisms = ["rlimits", "process-group-timeout", "socket-guard"]
        if self.audit:
            mechanisms.append("audit-hook")
        mechanisms.append("canary")
        cmd = [sys.executable, "-B", *argv]
        if self.netns:
            cmd = [shutil.which("unshare") or "unshare", "-n", "--", *cmd]
            mechanisms.insert(0, "netns")
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=box, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=self._preexec, start_new_session=True)
        timed_out = False
        try:
            out, err = proc.communicate(timeout=self.limits.wall_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        # Children the process left behind in its group go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        duration = time.monotonic() - start
        stdout = out.decode("utf-8", "replace")
        stderr = err.decode("utf-8", "replace")
        rc = proc.returncode
        killed_by = signal.Signals(-rc).name if rc is not None and rc < 0 else None
        if self.netns and rc is not None and rc > 128 and killed_by is None:
            # `unshare` reports a signalled child as 128 + signal number.
            try:
                killed_by = signal.Signals(rc - 128).name
            except ValueError:
                pass
        hit: list[str] = []
        if timed_out:
            hit.append("wall")
            killed_by = "SIGKILL"
        if killed_by == "SIGXCPU" or (killed_by == "SIGKILL" and not timed_out):
            hit.append("cpu")
        if killed_by == "SIGXFSZ" or "File too large" in stderr:
            hit.append("file_size")
        if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
            hit.append("memory")
        if NETWORK_ERROR in stderr or NETWORK_ERROR in stdout:
            hit.append("network")
        if WRITE_ERROR in stderr or WRITE_ERROR in stdout:
            hit.append("write_outside")
        if re.search(r"^\[sandbox\] \S+ refused$", stderr, re.M):
            hit.append("spawn")
        # Paths of this run are random: hide them so feedback built from the output (and
        # so the next prompt) is the same on every run.
        for path, alias in ((str(box), "<sandbox>"), (str(guard), "<guard>")):
            stdout, stderr = stdout.replace(path, alias), stderr.replace(path, alias)
        return SandboxResult(returncode=rc, stdout=stdout, stderr=stderr, timed_out=timed_out,
                             killed_by=killed_by, limits_hit=hit,
                             duration_s=round(duration, 3), mechanisms=mechanisms)


class DockerSandbox:
    """The same interface in a throwaway container (`--network none`, memory/CPU/pids
    limits, read-only root, the work directory mounted). Used only where `docker info`
    succeeds; the image must have this project installed (`image` argument)."""

    def __init__(self, image: str, limits: SandboxLimits | None = None):
        self.image = image
        self.limits = limits or SandboxLimits()

    @staticmethod
    def available() -> bool:
        exe = shutil.which("docker")
        if exe is None:
            return False
        try:
            return subprocess.run([exe, "info"], capture_output=True,
                                  timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def run_python(self, script: str, *, files: Mapping[str, str | bytes] | None = None,
                   copy_dirs: Mapping[str, str | Path] | None = None,
                   args: Sequence[str] = (), collect: Sequence[str] = ()) -> SandboxResult:
        if not self.available():
            raise SandboxUnavailable("no Docker engine answers `docker info` on this machine")
        lim = self.limits
        with tempfile.TemporaryDirectory(prefix="eigen-docker-") as tmp:
            box = Path(tmp)
            for rel, content in (files or {}).items():
                p = box / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(content if isinstance(content, bytes) else content.encode())
            for rel, src in (copy_dirs or {}).items():
                shutil.copytree(src, box / rel)
            (box / "main.py").write_text(script, encoding="utf-8")
            cmd = ["docker", "run", "--rm", "--network", "none", "--read-only",
                   "--memory", f"{lim.memory_mb}m", "--cpus", "1", "--pids-limit", "64",
                   "--ulimit", f"cpu={lim.cpu_s}", "--ulimit",
                   f"fsize={lim.file_size_mb << 20}", "-v", f"{box}:/sandbox", "-w",
                   "/sandbox", "-e", "HOME=/sandbox", "-e", "TMPDIR=/sandbox", self.image,
                   "python", "-B", "main.py", *args]
            start = time.monotonic()
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=lim.wall_s)
                timed_out, rc, out, err = False, p.returncode, p.stdout, p.stderr
            except subprocess.TimeoutExpired as e:
                timed_out, rc = True, None
                out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else e.stdout or ""
                err = (e.stderr or b"").decode() if isinstance(e.stderr, bytes) else e.stderr or ""
            result = SandboxResult(
                returncode=rc, stdout=out, stderr=err, timed_out=timed_out,
                killed_by="SIGKILL" if timed_out else None,
                limits_hit=["wall"] if timed_out else (["memory"] if rc == 137 else []),
                duration_s=round(time.monotonic() - start, 3),
                mechanisms=["docker", "network-none", "read-only-root"])
            for rel in collect:
                if (box / rel).is_file():
                    result.files[rel] = (box / rel).read_text(errors="replace")
            return result


def result_json(result: SandboxResult) -> str:
    return json.dumps(result.to_json(), indent=1)

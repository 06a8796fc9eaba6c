"""MovieLens 100k from the recbole==1.2.1 wheel on PyPI, verified by sha256 and cached.

GroupLens' license forbids redistribution, so the files are fetched on first use, never committed.
The `.inter` body (header removed) is byte-identical to GroupLens `u.data`.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from core.errors import PipelineError

RECBOLE_REQUIREMENT = "recbole==1.2.1"
MEMBER_DIR = "recbole/dataset_example/ml-100k"
INTER_BODY_SHA256 = "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"  # GroupLens u.data
# Whole-file hashes of the other two members of recbole 1.2.1 (u.user / u.item in RecBole's format).
FILE_SHA256 = {
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}
FILES = ("ml-100k.inter", "ml-100k.user", "ml-100k.item")


class DatasetIntegrityError(PipelineError):
    """A fetched file does not have the expected sha256."""


class DownloadError(PipelineError):
    """The wheel could not be downloaded."""


def fetch_movielens_100k(dest_dir: Path, pip_args: tuple[str, ...] = ()) -> Path:
    """Ensure the three verified files are in dest_dir (downloading once) and return dest_dir."""
    dest_dir = Path(dest_dir)
    if all((dest_dir / name).is_file() for name in FILES):
        verify_movielens_100k(dest_dir)
        return dest_dir
    with tempfile.TemporaryDirectory() as tmp:
        extract_movielens_100k(download_wheel(Path(tmp), pip_args), dest_dir)
    return dest_dir


def download_wheel(into: Path, pip_args: tuple[str, ...] = ()) -> Path:
    """`pip download --no-deps recbole==1.2.1`: the wheel only, nothing installed, no torch."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(into), *pip_args, RECBOLE_REQUIREMENT]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(into.glob("recbole-*.whl"))
    if result.returncode != 0 or not wheels:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise DownloadError(f"could not download {RECBOLE_REQUIREMENT} (MovieLens 100k) with pip:\n{tail}")
    return wheels[0]


def extract_movielens_100k(wheel: Path, dest_dir: Path) -> None:
    """Copy the three members out of the wheel after checking their hashes; nothing is kept on a mismatch."""
    with zipfile.ZipFile(wheel) as archive:
        contents = {name: archive.read(f"{MEMBER_DIR}/{name}") for name in FILES}
    for name, data in contents.items():
        _check(name, data, source=str(wheel))
    dest_dir.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        tmp = dest_dir / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(dest_dir / name)


def verify_movielens_100k(dest_dir: Path) -> None:
    for name in FILES:
        _check(name, (dest_dir / name).read_bytes(), source=str(dest_dir / name))


def _check(name: str, data: bytes, source: str) -> None:
    if name == "ml-100k.inter":
        actual, expected, what = _sha256(data.split(b"\n", 1)[-1]), INTER_BODY_SHA256, "body (header removed)"
    else:
        actual, expected, what = _sha256(data), FILE_SHA256[name], "file"
    if actual != expected:
        raise DatasetIntegrityError(
            f"MovieLens 100k {name} {what} from {source} has sha256 {actual}, expected {expected}; "
            "refusing to use it (delete the cached copy to fetch again)"
        )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

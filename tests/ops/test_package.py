"""The executors' zip: every module of the installable packages, nothing else, the same bytes every time."""
from __future__ import annotations

import zipfile

from ops.package import PACKAGES, build_zip


def test_the_zip_holds_the_packages_modules_and_is_reproducible(tmp_path):
    first = build_zip(tmp_path / "a.zip")
    names = zipfile.ZipFile(first).namelist()
    assert "jobs/build_profiles.py" in names and "core/spark.py" in names and "features/spec.py" in names
    assert all(name.endswith(".py") and name.split("/")[0] in PACKAGES for name in names)
    assert build_zip(tmp_path / "b.zip").read_bytes() == first.read_bytes()

"""Zip the project's Python packages for Spark executors that do not have the project installed:

    python -m ops.package     # -> dist/dailyrec.zip, then:
    spark-submit $(python -m core.spark --conf C --executor-py-files $PWD/dist/dailyrec.zip) jobs/<job>.py ...
The zip goes on the executors' PYTHONPATH (spark.executorEnv.PYTHONPATH), not `--py-files`: that would put it
first on the driver's path too, and core.config, imported from the zip, would find no conf/ folder next to it.
It holds only the .py files of the installable packages, sorted, with a fixed timestamp: the same tree always
gives the same bytes. The config stays on the driver, which loads it; executors only get values.
"""
from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from core.config import REPO_ROOT

PACKAGES = ("core", "datasets", "features", "jobs", "models")  # as in setup.cfg [options.packages.find]
DEFAULT_ZIP = REPO_ROOT / "dist" / "dailyrec.zip"


def build_zip(out: Path = DEFAULT_ZIP) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_suffix(".tmp")
    with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for package in PACKAGES for p in (REPO_ROOT / package).rglob("*.py")):
            name = path.relative_to(REPO_ROOT).as_posix()
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), path.read_bytes())
    staging.replace(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_ZIP)
    out = build_zip(parser.parse_args(argv).out)
    print(f"{out}: {len(zipfile.ZipFile(out).namelist())} modules of {', '.join(PACKAGES)}")


if __name__ == "__main__":
    main()

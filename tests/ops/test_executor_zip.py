"""Executors import the project from the zip of `ops.package`, not from the driver's venv: real spark-submits whose
Python workers run the bare interpreter the venv was made from (which has no project installed), from a folder
outside the repo, with and without `--executor-py-files`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.spark import submit_arguments
from ops.package import build_zip
from tests.conftest import MOVIELENS, config_for

WHERE_EXECUTORS_IMPORT_FROM = """
from pyspark.sql import SparkSession


def origin(_):
    try:
        import core.config
        return core.config.__file__
    except ImportError as err:
        return f"ImportError: {err}"


spark = SparkSession.builder.getOrCreate()
print("executor imports core.config from", spark.sparkContext.parallelize([0], 1).map(origin).first())
"""


def executor_origin(tmp_path: Path, executor_py_files: str | None) -> str:
    cfg = config_for(tmp_path, MOVIELENS)
    # The project's own flags, so the executors' PYTHONPATH is set exactly as the DAG sets it.
    executor_env = {key: value for key, value in submit_arguments(cfg, executor_py_files)["conf"].items()
                    if key.startswith("spark.executorEnv.")}
    app = tmp_path / "app.py"
    app.write_text(WHERE_EXECUTORS_IMPORT_FROM)
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "spark-submit"), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
               "--conf", f"spark.pyspark.driver.python={sys.executable}",
               "--conf", f"spark.pyspark.python={sys._base_executable}",  # no project, no venv on its path
               *[arg for key, value in executor_env.items() for arg in ("--conf", f"{key}={value}")], str(app)]
    # cwd outside the repo: a Python worker has its working directory on sys.path.
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    return next(line for line in result.stdout.splitlines() if line.startswith("executor imports")).split(" from ")[1]


@pytest.mark.slow
def test_executors_import_the_project_from_the_zip_and_fail_without_it(tmp_path):
    package = build_zip(tmp_path / "dist" / "dailyrec.zip")
    assert executor_origin(tmp_path / "with_zip", str(package)) == f"{package}/core/config.py"
    assert executor_origin(tmp_path / "without_zip", None) == "ImportError: No module named 'core'"

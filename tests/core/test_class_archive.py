import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.class_archive import ensure_class_archive, prune_other_archives
from core.config import REPO_ROOT
from core.spark import class_archive_path, submit_flags
from tests.conftest import MOVIELENS, TEST_JVM_OPTIONS, config_for, overlays_for

SHARED = "source: shared objects file (top)"  # how -Xlog:class+load names a class mapped from a dynamic archive


@pytest.mark.slow
def test_a_submitted_driver_maps_sparks_classes_from_the_archive(tmp_path):
    loaded, cds_log = tmp_path / "classes.txt", tmp_path / "cds.txt"  # the latter says why an archive was refused
    settings = {"spark.driver.extraJavaOptions":
                f"{TEST_JVM_OPTIONS} -Xlog:class+load=info:file={loaded} -Xlog:cds=info:file={cds_log}"}
    overrides = {"spark": {"master": "local[1]", "settings": settings}}
    cfg = config_for(tmp_path, MOVIELENS, **overrides)
    archive = ensure_class_archive(cfg, overlays_for(tmp_path, MOVIELENS, **overrides))  # ops.prepare's, if built
    assert archive == class_archive_path(cfg) and archive.is_file()
    venv_bin = Path(sys.executable).parent
    result = subprocess.run(
        [str(venv_bin / "spark-submit"), *submit_flags(cfg), str(REPO_ROOT / "core" / "class_archive.py"),
         "--workload", "--conf", overlays_for(tmp_path, MOVIELENS, **overrides)],
        capture_output=True, text=True, cwd=REPO_ROOT, env={**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[warning][cds]" not in result.stdout + result.stderr  # not stale, not refused
    classes = loaded.read_text().splitlines()
    shared = [line for line in classes if SHARED in line]
    assert any("org.apache.spark.sql.classic.SparkSession " in line for line in shared), cds_log.read_text()[-3000:]
    assert len(shared) > len(classes) / 2  # most of what a session loads comes from the archive


def test_other_venvs_archives_go_after_a_week_and_this_ones_stays(tmp_path):
    archive, recent, old = (tmp_path / f"spark-{name}.jsa" for name in ("this", "recent", "old"))
    for path, days in ((archive, 30), (recent, 6), (old, 8)):
        path.write_bytes(b"jsa")
        os.utime(path, (time.time() - days * 86_400,) * 2)
    prune_other_archives(archive)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["spark-recent.jsa", "spark-this.jsa"]

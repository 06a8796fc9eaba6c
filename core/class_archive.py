"""The driver JVM's class-data-sharing archive: the classes a Spark + Delta session loads, dumped once by a JVM
that ran a small workload (JDK dynamic CDS, -XX:ArchiveClassesAtExit), then mapped by every later driver JVM
(-XX:SharedArchiveFile, added by core.spark.session_settings) instead of loaded from their jars and verified one
by one. Every spark-submit task of the DAG, range runner and test session starts a JVM, so this is paid once
rather than per task.

    python -m core.class_archive --conf conf/local.yaml,conf/datasets/movielens_100k.yaml
ops.prepare (make run, make test) runs it; an archive already there is kept. The archive is keyed by the java
binary, the venv's pyspark and the Delta version (core.spark.class_archive_path); a JVM that still finds it
stale warns and starts without it. `spark.class_archive: false` in a conf turns its use off.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.config import REPO_ROOT, add_conf_option, load_config
from core.config_schema import PipelineConfig
from core.spark import build_session, class_archive_path, submit_flags


def ensure_class_archive(cfg: PipelineConfig, conf: str) -> Path | None:
    """The archive for cfg's Java and Spark, built first if missing; None when the conf does not use one or the
    build failed (then the reason is printed, and JVMs start as they would without it)."""
    archive = class_archive_path(cfg)
    if not cfg.spark.class_archive or archive.is_file():
        return archive if cfg.spark.class_archive else None
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f"{archive.stem}.{os.getpid()}.partial")  # two builders never share a file
    flags = submit_flags(cfg, archive_classes_to=partial)
    flags[flags.index("--master") + 1] = "local[1]"  # the archive holds the driver's classes: run it here
    venv_bin = Path(sys.executable).parent
    result = subprocess.run([str(venv_bin / "spark-submit"), *flags, __file__, "--workload", "--conf", conf],
                            capture_output=True, text=True, cwd=REPO_ROOT,
                            env={**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}"})
    if result.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        print(f"warning: no JVM class archive (Spark JVMs start without one): exit {result.returncode}\n"
              f"{result.stderr[-2000:]}", file=sys.stderr)
        return None
    partial.replace(archive)
    prune_other_archives(archive)
    return archive


def prune_other_archives(archive: Path, keep_days: int = 7) -> None:
    """Remove other venvs' archives (~190 MB each: every fresh clone builds its own) older than a week; a venv
    whose archive went rebuilds it at its next ops.prepare, and its JVMs start without one until then."""
    cutoff = time.time() - keep_days * 86_400
    for other in archive.parent.glob("spark-*.jsa"):
        if other != archive and other.stat().st_mtime < cutoff:
            other.unlink(missing_ok=True)


def workload(spark, folder: Path) -> None:
    """What the jobs do, in miniature: partitioned Delta writes, a replaceWhere, reads, aggregates, a window, a
    join, a checkpoint and an Arrow transfer to pandas."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    path = str(folder / "table")
    rows = spark.range(2000).select((F.col("id") % 5).alias("dt"), (F.col("id") % 37).alias("user_id"),
                                    F.rand(7).alias("value"))
    rows.write.format("delta").partitionBy("dt").save(path)
    rows.where("dt = 1").write.format("delta").mode("overwrite").option("replaceWhere", "dt = 1").save(path)
    table = spark.read.format("delta").load(path)
    sums = table.groupBy("user_id", "dt").agg(F.sum("value").alias("total"), F.count(F.lit(1)).alias("rows"))
    ranked = sums.withColumn("rank", F.row_number().over(Window.partitionBy("dt").orderBy(F.desc("total"))))
    ranked.checkpoint().join(table, ["user_id", "dt"]).where("rank <= 3").toPandas()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conf_option(parser)
    parser.add_argument("--workload", action="store_true", help="run the workload (inside the dumping JVM)")
    args = parser.parse_args(argv)
    cfg = load_config(args.conf)
    if args.workload:
        spark = build_session(cfg)
        with tempfile.TemporaryDirectory() as folder:
            workload(spark, Path(folder))
        spark.stop()
        return 0
    archive = ensure_class_archive(cfg, args.conf)
    print(f"JVM class archive: {archive or 'none'}")
    return 0 if archive or not cfg.spark.class_archive else 1


if __name__ == "__main__":
    sys.exit(main())

"""The one SparkSession factory: Delta enabled, jars cached after the first resolution, quiet logs.

Run as a module to print the spark-submit flags for a config, so a job can be submitted by hand:
    spark-submit $(python -m core.spark --conf conf/local.yaml) jobs/ingest_events.py --ds ... --conf ...
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import os
import shlex
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.config import REPO_ROOT, add_conf_option, load_config
from core.config_schema import PipelineConfig

LOG4J_CONF = REPO_ROOT / "conf" / "log4j2.properties"
# The Airflow connection of the Spark Connect server that the DAG's Spark tasks use with spark.airflow_tasks:
# spark_connect (ops.spark_connect sets it for a run on this machine).
SPARK_CONNECT_CONNECTION = "dailyrec_spark_connect"
SCALA_BINARY = "2.13"  # Spark 4 is built for Scala 2.13 only


def delta_package(cfg: PipelineConfig) -> str:
    """Maven coordinates of the Delta jar matching the installed pyspark and delta-spark."""
    if cfg.spark.delta_package != "auto":
        return cfg.spark.delta_package
    spark_minor = ".".join(importlib.metadata.version("pyspark").split(".")[:2])
    delta_version = importlib.metadata.version("delta-spark")
    return f"io.delta:delta-spark_{spark_minor}_{SCALA_BINARY}:{delta_version}"


def jar_manifest(cfg: PipelineConfig) -> Path:
    """Where the resolved jar list of the Delta package is remembered."""
    safe_name = delta_package(cfg).replace(":", "_")
    return Path(cfg.cache_dir) / "jars" / f"{safe_name}.txt"


def cached_jars(cfg: PipelineConfig) -> list[str] | None:
    """The jar files of a previous resolution, or None when any is missing (then Ivy resolves again)."""
    manifest = jar_manifest(cfg)
    if not manifest.is_file():
        return None
    jars = [line for line in manifest.read_text().split() if line]
    if not jars or not all(Path(jar.removeprefix("file:")).is_file() for jar in jars):
        return None
    return jars


def class_archive_path(cfg: PipelineConfig) -> Path:
    """Where the driver JVM's class-data-sharing archive for this Java and this Spark lives (core.class_archive
    builds it). A JVM that finds it stale (another Java build) warns and starts without it."""
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home, "bin", "java") if java_home else Path(shutil.which("java") or "java")
    # The archive records the class path, whose jars live in this interpreter's pyspark: one archive per venv.
    spark_jars = Path(importlib.util.find_spec("pyspark").origin).parent / "jars"
    key = (f"{java.resolve()}|{spark_jars.resolve()}|{jar_stamps(spark_jars)}|{importlib.metadata.version('pyspark')}"
           f"|{delta_package(cfg)}")
    return Path(cfg.cache_dir) / "jvm" / f"spark-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsa"


def jar_stamps(folder: Path) -> str:
    """Each jar's name, size and modification time. The JVM checks these against the archive and, when one differs
    (a venv recreated at the same path), starts without the archive and says so only at -Xlog:cds=info: so a
    changed jar must name a new archive."""
    stats = [(jar.name, jar.stat()) for jar in sorted(folder.glob("*.jar"))] if folder.is_dir() else []
    return ";".join(f"{name}:{stat.st_size}:{stat.st_mtime_ns}" for name, stat in stats)


def session_settings(cfg: PipelineConfig, archive_classes_to: Path | None = None) -> dict[str, str]:
    """Every Spark setting of a session: conf values first, then how to find the Delta jars.

    archive_classes_to: the driver JVM writes the classes it loaded there when it exits (core.class_archive);
    otherwise it starts from the archive when there is one and the conf wants it."""
    settings = {key: _as_spark_value(value) for key, value in cfg.spark.settings.items()}
    # The project's log4j config first, the conf's JVM options after it (a later -D of the same property wins).
    java_options = [f"-Dlog4j2.configurationFile=file:{LOG4J_CONF}", settings.get("spark.driver.extraJavaOptions")]
    if archive_classes_to:
        java_options.append(f"-XX:ArchiveClassesAtExit={archive_classes_to}")
    elif cfg.spark.class_archive and class_archive_path(cfg).is_file():
        # Spark's classes mapped from the archive instead of loaded and verified one by one.
        java_options.append(f"-XX:SharedArchiveFile={class_archive_path(cfg)}")
    settings["spark.driver.extraJavaOptions"] = " ".join(option for option in java_options if option)
    # Python workers (pandas UDFs) must run this interpreter, not whatever `python3` is on PATH; a cluster
    # overlay sets it to the executors' environment instead.
    settings.setdefault("spark.pyspark.python", sys.executable)
    # Iterative jobs cut their lineage there (ALS every checkpointInterval sweeps); without it each sweep deepens
    # the plan until serialising a task overflows the JVM stack (ALS at ~30 sweeps).
    settings.setdefault("spark.checkpoint.dir", str(Path(cfg.artifact_root) / "spark-checkpoints"))
    jars = cached_jars(cfg)
    if jars:
        # Later sessions start from local files: no Ivy resolution, no network.
        settings["spark.jars"] = ",".join(jars)
    else:
        settings["spark.jars.packages"] = delta_package(cfg)
        settings["spark.jars.ivy"] = str(Path(cfg.cache_dir) / "ivy")
    return settings


def build_session(cfg: PipelineConfig):
    """Create (or return the running) SparkSession for this config."""
    from pyspark.sql import SparkSession

    settings = session_settings(cfg)
    # In-process (pyspark) sessions start their Python workers from this variable, not from the conf.
    os.environ.setdefault("PYSPARK_PYTHON", settings["spark.pyspark.python"])
    builder = SparkSession.builder.appName(cfg.spark.app_name)
    if not started_by_spark_submit():
        builder = builder.master(cfg.spark.master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    _remember_jars(cfg, spark)
    return spark


@contextmanager
def without_whole_stage_codegen(spark) -> Iterator[None]:
    """Plan the queries run inside without whole-stage codegen, then restore the session's setting.

    For very wide expressions (a forest compiled to SQL): fused into one generated method they pass Java's 64 KB
    method limit, and Spark logs a compile error before it falls back. Without fusion, Spark splits each
    projection's code into methods that compile (and that HotSpot will JIT).
    """
    key = "spark.sql.codegen.wholeStage"
    previous = spark.conf.get(key)
    spark.conf.set(key, "false")
    try:
        yield
    finally:
        spark.conf.set(key, previous)


def started_by_spark_submit() -> bool:
    """True in a driver that spark-submit launched: its --master (e.g. an Airflow connection's) must win.

    spark-submit hands its JVM to the Python driver through this variable; an in-process session has none.
    """
    return "PYSPARK_GATEWAY_PORT" in os.environ


def submit_arguments(cfg: PipelineConfig, executor_py_files: str | None = None,
                     archive_classes_to: Path | None = None, long_lived: bool = False) -> dict[str, object]:
    """submit_flags as SparkSubmitOperator arguments (jars or packages, conf), less the master: Airflow's
    Spark connection sets that.

    executor_py_files (the zip of `python -m ops.package`) goes on the executors' PYTHONPATH only: with
    `--py-files` the driver would import the project from the zip too, where core.config finds no conf/ folder.
    A day task's driver is short-lived and gets spark.submit_java_options; a `long_lived` one (the Spark Connect
    server of ops.spark_connect) keeps the JVM's defaults, as the range runner's session does.
    """
    settings = session_settings(cfg, archive_classes_to)
    if cfg.spark.submit_java_options and not long_lived:
        settings["spark.driver.extraJavaOptions"] += f" {cfg.spark.submit_java_options}"
    if executor_py_files:
        settings["spark.executorEnv.PYTHONPATH"] = executor_py_files
    if "spark.jars" in settings:
        return {"jars": settings.pop("spark.jars"), "conf": settings}
    return {"packages": settings.pop("spark.jars.packages"), "conf": settings}


def submit_flags(cfg: PipelineConfig, executor_py_files: str | None = None,
                 archive_classes_to: Path | None = None, long_lived: bool = False) -> list[str]:
    """spark-submit flags equivalent to build_session: the driver JVM needs the jars before Python runs."""
    arguments = submit_arguments(cfg, executor_py_files, archive_classes_to, long_lived)
    flags = ["--master", cfg.spark.master, "--name", cfg.spark.app_name]
    flags += ["--jars", arguments["jars"]] if "jars" in arguments else ["--packages", arguments["packages"]]
    for key, value in arguments["conf"].items():
        flags += ["--conf", f"{key}={value}"]
    return flags


def _remember_jars(cfg: PipelineConfig, spark) -> None:
    manifest = jar_manifest(cfg)
    if manifest.is_file():
        return
    resolved = spark.sparkContext.getConf().get("spark.jars", "")
    jars = [jar.removeprefix("file://").removeprefix("file:") for jar in resolved.split(",") if jar]
    if any("delta-spark" in Path(jar).name for jar in jars):
        manifest.parent.mkdir(parents=True, exist_ok=True)
        tmp = manifest.with_suffix(".tmp")
        tmp.write_text("\n".join(jars) + "\n")
        tmp.replace(manifest)


def _as_spark_value(value: str | int | float | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conf_option(parser)
    parser.add_argument("--executor-py-files", help="the project zip (python -m ops.package) for the executors")
    args = parser.parse_args(argv)
    flags = submit_flags(load_config(args.conf), args.executor_py_files)
    print(" ".join(shlex.quote(flag) for flag in flags))


if __name__ == "__main__":
    main()

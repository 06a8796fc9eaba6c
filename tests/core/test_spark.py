import os

import pytest

from core.config import load_config
from core.spark import (
    cached_jars,
    class_archive_path,
    delta_package,
    jar_manifest,
    jar_stamps,
    session_settings,
    submit_flags,
    without_whole_stage_codegen,
)
from tests.conftest import MOVIELENS, write_yaml


def config(tmp_path, spark_settings: dict | None = None):
    """conf/local.yaml (not the tests' Spark settings) with its own jar cache, plus these Spark settings."""
    overlay = {"cache_dir": str(tmp_path / "cache"), "spark": {"settings": spark_settings or {}}}
    return load_config(["conf/local.yaml", MOVIELENS, str(write_yaml(tmp_path / "overlay.yaml", overlay))])


def test_delta_package_matches_installed_spark_and_delta():
    assert delta_package(load_config()) == "io.delta:delta-spark_4.1_2.13:4.4.0"


def test_first_session_resolves_from_maven_then_uses_the_cached_jars(tmp_path):
    cfg = config(tmp_path)
    first = session_settings(cfg)
    assert first["spark.jars.packages"] == delta_package(cfg) and "spark.jars" not in first
    jar = tmp_path / "delta.jar"
    jar.write_bytes(b"jar")
    jar_manifest(cfg).parent.mkdir(parents=True)
    jar_manifest(cfg).write_text(f"{jar}\n")
    assert cached_jars(cfg) == [str(jar)]
    later = session_settings(cfg)
    assert later["spark.jars"] == str(jar) and "spark.jars.packages" not in later
    jar.unlink()  # a jar vanished from the cache: resolve again rather than start broken
    assert "spark.jars.packages" in session_settings(cfg)


def test_submit_flags_carry_master_jars_and_every_setting(tmp_path):
    flags = submit_flags(config(tmp_path))
    assert flags[:4] == ["--master", "local[*]", "--name", "dailyrec"]
    assert "--packages" in flags
    assert "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in flags
    assert "spark.sql.shuffle.partitions=4" in flags


def test_the_confs_jvm_options_come_after_the_projects_log4j_config(tmp_path):
    assert session_settings(config(tmp_path))["spark.driver.extraJavaOptions"].startswith("-Dlog4j2.configurationFile=")
    cfg = config(tmp_path, {"spark.driver.extraJavaOptions": "-Xss4m"})
    options = session_settings(cfg)["spark.driver.extraJavaOptions"].split()
    assert options[0].startswith("-Dlog4j2.configurationFile=file:") and options[1:] == ["-Xss4m"]


def test_only_spark_submitted_drivers_get_the_submit_java_options(tmp_path):
    cfg = config(tmp_path, {"spark.driver.extraJavaOptions": "-Xss4m"})
    assert cfg.spark.submit_java_options == "-XX:TieredStopAtLevel=1"  # conf/local.yaml's
    assert "TieredStopAtLevel" not in session_settings(cfg)["spark.driver.extraJavaOptions"]  # an in-process session
    submitted = next(flag for flag in submit_flags(cfg) if flag.startswith("spark.driver.extraJavaOptions="))
    assert submitted.split()[-2:] == ["-Xss4m", "-XX:TieredStopAtLevel=1"]


def test_drivers_start_from_the_class_archive_once_it_is_built_unless_the_conf_says_not_to(tmp_path):
    cfg = config(tmp_path)
    archive = class_archive_path(cfg)
    assert archive.parent == tmp_path / "cache" / "jvm" and archive.suffix == ".jsa"
    assert "-XX:SharedArchiveFile" not in session_settings(cfg)["spark.driver.extraJavaOptions"]  # not built yet
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"archive")
    assert session_settings(cfg)["spark.driver.extraJavaOptions"].split()[-1] == f"-XX:SharedArchiveFile={archive}"
    dumping = session_settings(cfg, archive_classes_to=tmp_path / "new.jsa")["spark.driver.extraJavaOptions"]
    assert dumping.split()[-1] == f"-XX:ArchiveClassesAtExit={tmp_path / 'new.jsa'}" and "SharedArchive" not in dumping
    off = {"cache_dir": str(tmp_path / "cache"), "spark": {"class_archive": False}}
    off = load_config(["conf/local.yaml", MOVIELENS, str(write_yaml(tmp_path / "off.yaml", off))])
    assert "-XX:SharedArchiveFile" not in session_settings(off)["spark.driver.extraJavaOptions"]
    other = write_yaml(tmp_path / "delta.yaml", {"spark": {"delta_package": "io.delta:delta-spark_4.0_2.13:4.0.0"}})
    assert class_archive_path(load_config(["conf/local.yaml", MOVIELENS, str(other)])).name != archive.name


def test_a_jar_rewritten_at_the_same_path_changes_the_stamps_that_key_the_class_archive(tmp_path):
    (tmp_path / "spark-core.jar").write_bytes(b"1234")
    (tmp_path / "README").write_text("not a jar")
    os.utime(tmp_path / "spark-core.jar", ns=(5_000_000_000, 5_000_000_000))
    assert jar_stamps(tmp_path) == "spark-core.jar:4:5000000000"
    os.utime(tmp_path / "spark-core.jar", ns=(6_000_000_000, 6_000_000_000))  # a venv rebuilt in place
    assert jar_stamps(tmp_path) == "spark-core.jar:4:6000000000"
    assert jar_stamps(tmp_path / "missing") == ""


def test_sessions_checkpoint_under_the_artifact_root_unless_the_conf_says_where(tmp_path, spark):
    cfg = config(tmp_path)
    assert session_settings(cfg)["spark.checkpoint.dir"] == f"{cfg.artifact_root}/spark-checkpoints"
    assert session_settings(config(tmp_path, {"spark.checkpoint.dir": "hdfs:///ckpt"}))["spark.checkpoint.dir"] \
        == "hdfs:///ckpt"
    assert "spark-checkpoints" in spark.sparkContext.getCheckpointDir()  # the suite's session has one


def test_whole_stage_codegen_is_off_inside_and_restored_after_an_error(spark):
    key, mode = "spark.sql.codegen.wholeStage", "spark.sql.codegen.factoryMode"
    suite_settings = {name: spark.conf.get(name) for name in (key, mode)}  # no codegen in the suite's sessions
    spark.conf.set(key, "true")  # Spark's defaults
    spark.conf.set(mode, "FALLBACK")
    try:
        with pytest.raises(RuntimeError), without_whole_stage_codegen(spark):
            assert spark.conf.get(key) == "false"
            plan = spark.range(3).selectExpr("id + 1 AS x")._jdf.queryExecution().executedPlan().toString()
            assert "*(" not in plan  # no codegen stage id: the project runs outside whole-stage codegen
            raise RuntimeError("a failing job")
        assert spark.conf.get(key) == "true"
        assert "*(" in spark.range(3).selectExpr("id + 1 AS x")._jdf.queryExecution().executedPlan().toString()
    finally:
        for name, value in suite_settings.items():
            spark.conf.set(name, value)

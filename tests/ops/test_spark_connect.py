"""The Spark Connect server a DAG run starts for its Spark tasks: what it is started with, and when it is not."""
import json
import os

from ops import spark_connect
from ops.spark_connect import CONNECTION_VARIABLE, connect_server_for_run, server_arguments
from tests.conftest import MOVIELENS, config_for, overlays_for


def test_the_server_is_a_long_lived_driver_with_the_sessions_settings_on_its_port(tmp_path):
    cfg = config_for(tmp_path, MOVIELENS,
                     spark={"master": "local[2]", "submit_java_options": "-XX:TieredStopAtLevel=1"})
    arguments = server_arguments(cfg, 15123)
    assert arguments[:2] == ["--master", "local[2]"]
    assert arguments[-3:] == ["--class", "org.apache.spark.sql.connect.service.SparkConnectServer", "spark-internal"]
    settings = dict(arguments[i + 1].split("=", 1) for i, flag in enumerate(arguments) if flag == "--conf")
    assert settings["spark.connect.grpc.binding.port"] == "15123"
    assert settings["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert "TieredStopAtLevel" not in settings["spark.driver.extraJavaOptions"]  # short-lived tasks' option only
    assert ("--jars" in arguments) != ("--packages" in arguments)


def test_no_server_is_started_for_spark_submit_tasks_or_when_the_connection_is_given(tmp_path, monkeypatch):
    def refuse(*_):
        raise AssertionError("no server should start")

    monkeypatch.setattr(spark_connect, "connect_server", refuse)
    monkeypatch.delenv(CONNECTION_VARIABLE, raising=False)
    monkeypatch.setenv("DAILYREC_CONF", overlays_for(tmp_path, MOVIELENS, spark={"airflow_tasks": "spark_submit"}))
    with connect_server_for_run(tmp_path):
        assert CONNECTION_VARIABLE not in os.environ
    given = json.dumps({"conn_type": "spark_connect", "host": "spark-connect.example", "port": 15002})
    monkeypatch.setenv(CONNECTION_VARIABLE, given)
    monkeypatch.setenv("DAILYREC_CONF", overlays_for(tmp_path, MOVIELENS))  # conf/local.yaml: spark_connect
    with connect_server_for_run(tmp_path):
        assert os.environ[CONNECTION_VARIABLE] == given

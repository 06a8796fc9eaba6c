"""A Spark Connect server on this machine for the length of a DAG run, so that the DAG's Spark tasks are clients of
one warm driver (spark.airflow_tasks: spark_connect) instead of each starting its own JVM and Delta.

    with connect_server_for_run(log_dir):   # then `airflow dags test` / the scheduler
        ...
The server is `spark-submit --class SparkConnectServer` with the project's session settings (core.spark: the Delta
jars, the class archive, the lake's SQL settings), so a job run through it computes what a spark-submitted one does.
The tasks find it through the Airflow connection `dailyrec_spark_connect`, set here in the environment that the
processes started afterwards inherit. When that connection is already set (a server of your own, e.g. next to a
cluster), nothing is started. Used by ops.dag_day (make run) and ops.airflow_backfill.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.config import DEFAULT_CONF, load_config
from core.config_schema import PipelineConfig
from core.spark import SPARK_CONNECT_CONNECTION, submit_flags
from ops.standalone import daemon, free_port, wait_for

CONNECTION_VARIABLE = f"AIRFLOW_CONN_{SPARK_CONNECT_CONNECTION.upper()}"
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"


def server_arguments(cfg: PipelineConfig, port: int) -> list[str]:
    """spark-submit's arguments for the Connect server: a long-lived driver with the flags of a submitted job."""
    return [*submit_flags(cfg, long_lived=True), "--conf", f"spark.connect.grpc.binding.port={port}",
            "--class", SERVER_CLASS, "spark-internal"]


@contextmanager
def connect_server(cfg: PipelineConfig, log_dir: Path, timeout: float = 300.0) -> Iterator[int]:
    """Start the server on a free port (log in log_dir/spark-connect.log), wait until it listens, yield the port;
    stop it on exit."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "spark-connect.log"
    # The first start may resolve the Delta jars from Maven (then remembered): hence the long timeout.
    with daemon(server_arguments(cfg, port), log, SPARK_SUBMIT) as server:
        wait_for(lambda: listening(port) or server.poll() is not None, timeout,
                 f"the Spark Connect server on port {port} (see {log})")
        if server.poll() is not None:
            raise RuntimeError(f"the Spark Connect server exited with {server.returncode}; the end of {log}:\n"
                               + "\n".join(log.read_text(errors="replace").splitlines()[-20:]))
        yield port


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def connect_server_for_run(log_dir: Path) -> Iterator[None]:
    """A server for the run when the DAG's Spark tasks are Spark Connect clients (the DAG's config, from
    DAILYREC_CONF as the DAG reads it) and no server was given."""
    cfg = load_config(os.environ.get("DAILYREC_CONF", DEFAULT_CONF))
    if cfg.spark.airflow_tasks != "spark_connect" or os.environ.get(CONNECTION_VARIABLE):
        yield
        return
    with connect_server(cfg, log_dir) as port:
        os.environ[CONNECTION_VARIABLE] = json.dumps({"conn_type": "spark_connect", "host": "127.0.0.1", "port": port})
        try:
            yield
        finally:
            del os.environ[CONNECTION_VARIABLE]

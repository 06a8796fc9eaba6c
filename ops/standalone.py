"""A real Spark standalone cluster on localhost: one master and N workers, each its own JVM, started with the
pyspark distribution's `spark-class` (pip's pyspark ships no sbin/start-*.sh), stopped on exit.

    with standalone_cluster(workers=2, log_dir=Path("/tmp/cluster")) as master_url:   # spark://127.0.0.1:<port>
        ... spark-submit --master master_url ...
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

SPARK_CLASS = Path(sys.executable).parent / "spark-class"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_environment() -> dict[str, str]:
    """This environment with the venv first on PATH: spark-submit and spark-class find SPARK_HOME by running
    `python3`, which must be the interpreter where pyspark is installed."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def standalone_cluster(log_dir: Path, workers: int = 2, cores: int = 1, memory: str = "1536m",
                       timeout: float = 120.0) -> Iterator[str]:
    """Start a master and `workers` workers (each `cores` cores, `memory`), wait until every worker has
    registered, yield the master URL; stop them all (only these processes) on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    with ExitStack() as processes:
        master_log = log_dir / "master.log"
        master = [MASTER_CLASS, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(free_port())]
        processes.enter_context(daemon(master, master_log))
        for index in range(workers):
            processes.enter_context(daemon(
                [WORKER_CLASS, master_url, "--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                 "--webui-port", str(free_port()), "--work-dir", str(log_dir / f"worker{index}")],
                log_dir / f"worker{index}.log"))
        registered = f"{workers} workers to register with {master_url} (see {log_dir})"
        wait_for(lambda: master_log.read_text().count("Registering worker") >= workers, timeout, registered)
        yield master_url


@contextmanager
def daemon(arguments: list[str], log: Path, program: Path | str = SPARK_CLASS) -> Iterator[subprocess.Popen]:
    """A background process writing to log, terminated (then killed) on exit: only the one started here."""
    with open(log, "w") as out:
        process = subprocess.Popen([str(program), *arguments], stdout=out, stderr=subprocess.STDOUT,
                                   env=spark_environment())
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(ready, timeout: float, what: str, every: float = 1.0) -> None:
    """Call ready() every `every` seconds until it is true; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)

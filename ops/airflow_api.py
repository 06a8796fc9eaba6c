"""Airflow 3's API server on this machine for the length of a run: tasks that an executor runs (the scheduler's,
or `airflow dags test --use-executor`) report their state to it and fetch their connections from it, so it must
be up while they run. Used by ops.airflow_backfill and ops.dag_day.
"""
from __future__ import annotations

import os
import secrets
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ops.standalone import daemon, free_port, wait_for

AIRFLOW = str(Path(sys.executable).parent / "airflow")


@contextmanager
def api_server(log_dir: Path, timeout: float = 120.0) -> Iterator[int]:
    """Start `airflow api-server` on a free port (log in log_dir/api-server.log), wait until it answers, yield the
    port; stop it on exit. Sets, in this process's environment (which the processes started after it inherit),
    what every component must share: the task tokens' secret and where tasks find this server."""
    port = free_port()
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(16))
    os.environ["AIRFLOW__API__PORT"] = str(port)
    os.environ["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
    log_dir.mkdir(parents=True, exist_ok=True)
    with daemon(["api-server", "--port", str(port)], log_dir / "api-server.log", AIRFLOW):
        wait_for(lambda: healthy(port), timeout, f"the Airflow API server on port {port} (see {log_dir})")
        yield port


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False

"""Airflow keeps its config and metadata DB under AIRFLOW_HOME, read when airflow is first imported: point it at a
temporary folder before any test here imports it, so tests never touch ~/airflow or the repo's .airflow."""
from __future__ import annotations

import os
import tempfile

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

"""One local SparkSession for the whole run, and configs whose lake lives in a temporary folder."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import pytest
import yaml

from core.config import REPO_ROOT, load_config
from core.config_schema import PipelineConfig
from core.spark import build_session

MOVIELENS = "conf/datasets/movielens_100k.yaml"
TAOBAO = "conf/datasets/taobao_userbehavior.yaml"
SYNTHETIC = "conf/datasets/synthetic.yaml"

# Test JVMs are short-lived and their data tiny: the C2 compiler's work never pays off, and skipping it halves the
# CPU of a spark-submitted job (40 -> 30 s wall, 67 -> 36 s CPU). C1 alone gets the client's 48 MB code cache, which
# a long-lived JVM (a worker's session, a range runner) filled within a minute, and then the JVM stops compiling
# ("CodeCache is full. Compiler has been disabled"): the tiered default's 240 MB instead. A worker's session with C2
# ran the range-equivalence and profile tests alone faster (306 -> 256 s) but `make test-fast` slower (2:31 ->
# 3:09), and the whole suite no faster beyond its run-to-run spread: C1 stays.
TEST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
TEST_SPARK = {
    "spark": {
        "master": "local[2]",
        "settings": {"spark.sql.shuffle.partitions": 2, "spark.default.parallelism": 2,
                     # Spark's interpreted evaluation: on a few hundred rows, compiling each query's generated Java
                     # costs more than running it (a leakage test's 27 day jobs: 167 -> 129 s). The rows are the
                     # same either way; codegen is an optimisation that falls back to this path by itself on error.
                     "spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN",
                     # C1 frames are larger: ALS's 10-iteration lineage overflowed the default 1 MB thread stack.
                     "spark.driver.extraJavaOptions": f"{TEST_JVM_OPTIONS} -Xss16m"},
    }
}


def pytest_collection_modifyitems(config, items):
    """Tests marked `first` (the longest) start at once, each on its own worker when there are several: a long test
    that started last, or queued behind another long one, would decide the suite's wall time."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)  # set in xdist's workers
    items[:] = worksteal_order(items, lambda item: item.get_closest_marker("first") is not None, workers)


def worksteal_order(items: list, is_first, workers: int) -> list:
    """`items` with the `first` ones opening the workers' slices, round robin; the others keep their order.

    `--dist worksteal` hands the workers consecutive slices of the list at the start (worker i gets the first
    len(left) // (workers - i) of what is left), then balances by stealing from the tails of queues."""
    first = [item for item in items if is_first(item)]
    rest = [item for item in items if not is_first(item)]
    slices: list[list] = [[] for _ in range(workers)]
    for index, item in enumerate(first):
        slices[index % workers].append(item)
    left = len(items)
    for index, slice_ in enumerate(slices):
        take = max(left // (workers - index) - len(slice_), 0)
        slice_.extend(rest[:take])
        rest = rest[take:]
        left -= len(slice_)
    return [item for slice_ in slices for item in slice_] + rest


def gate_without_named_features(dataset_overlay: str) -> dict:
    """A `gate` overlay that drops the features a dataset overlay's gate names (drift, null-rate ceilings): what a
    test whose profile windows lack those features' windows needs, since the config checks the names against the
    spec when it loads. An entry set to null is removed from the mapping an earlier file gave."""
    data = yaml.safe_load((REPO_ROOT / dataset_overlay).read_text()).get("gate", {}).get("data", {})
    return {"data": {"drift_features": [], "null_rate_ceilings": dict.fromkeys(data.get("null_rate_ceilings", {}))}}


def write_yaml(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def overlays_for(tmp_path: Path, dataset_overlay: str, **overrides) -> str:
    """--conf value: local + a dataset overlay + a test overlay (lake under tmp_path, small Spark, overrides)."""
    overlay = {"lake_root": str(tmp_path / "lake"), "artifact_root": str(tmp_path / "artifacts"), **TEST_SPARK,
               **overrides}
    overlay["gate"] = {"export_root": str(tmp_path / "exports"), **overrides.get("gate", {})}
    extra = write_yaml(tmp_path / "test-overlay.yaml", overlay)
    return ",".join(["conf/local.yaml", dataset_overlay, str(extra)])


def config_for(tmp_path: Path, dataset_overlay: str, **overrides) -> PipelineConfig:
    return load_config(overlays_for(tmp_path, dataset_overlay, **overrides))


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    cfg = config_for(tmp_path_factory.mktemp("spark"), MOVIELENS)
    session = build_session(cfg)
    yield session
    session.stop()


def lines_frame(spark, lines: list[str]):
    return spark.createDataFrame([(line,) for line in lines], "raw string")


def side_by_side(calls: list[Callable[[], None]]) -> list[Exception]:
    """Run the calls in threads released at once (as tasks of one DAG run start), and return what they raised."""
    start, errors = threading.Barrier(len(calls)), []

    def run(call: Callable[[], None]) -> None:
        start.wait()
        try:
            call()
        except Exception as err:  # noqa: BLE001 - handed back, with its message, for the test to assert on
            errors.append(err)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors

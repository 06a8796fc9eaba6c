"""Where a dataset's raw files are for day D, fetching them first when the dataset says how."""
from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from pathlib import Path

from core.config_dataset import DelimitedFile
from core.config_schema import PipelineConfig
from core.errors import PipelineError
from datasets.movielens import DatasetIntegrityError, fetch_movielens_100k


class MissingSourceError(PipelineError):
    """The raw input of a dataset is not where the config says."""


def fetch_dataset(cfg: PipelineConfig) -> None:
    """Download (and verify) the dataset's files if it has a fetcher; nothing for a dataset delivered by others."""
    if cfg.dataset.source.fetch == "movielens_recbole":
        fetch_movielens_100k(Path(cfg.dataset.source.path).parent)


def ensure_source(cfg: PipelineConfig, ds: dt.date) -> str:
    """The path of the raw log delivered for ds (fetched if the dataset has a fetcher)."""
    fetch_dataset(cfg)
    path = cfg.dataset.source.path.replace("{ds}", ds.isoformat())
    _require(path, f"raw log of dataset {cfg.dataset.name} for {ds}")
    _check_pin(path, cfg.dataset.source)
    return path


def ensure_attribute_file(cfg: PipelineConfig, table: DelimitedFile) -> str:
    fetch_dataset(cfg)
    _require(table.path, f"attribute file of dataset {cfg.dataset.name}")
    _check_pin(table.path, table)
    return table.path


def _check_pin(path: str, text: DelimitedFile) -> None:
    """Fail before the file is read when its sha256 is pinned and differs: a file replaced or cut short upstream."""
    if text.sha256 is None:
        return
    stat = Path(path).stat()
    digest = _sha256(path, stat.st_size, stat.st_mtime_ns)
    if digest != text.sha256:
        raise DatasetIntegrityError(f"{path} has sha256 {digest}, not the {text.sha256} its config pins")


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """The file's digest, computed once per version of it in a process (a range run ingests a dump day by day)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _require(path: str, what: str) -> None:
    # Only local paths can be checked here; remote ones (hdfs://, s3a://) fail in Spark with their own error.
    if "://" not in path and not Path(path).exists():
        raise MissingSourceError(f"no {what}: {path} does not exist")

"""Where a dataset's raw files are for day D, fetching them first when the dataset says how."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from core.config_schema import DelimitedFile, PipelineConfig
from core.errors import PipelineError
from datasets.movielens import fetch_movielens_100k


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
    return path


def ensure_attribute_file(cfg: PipelineConfig, table: DelimitedFile) -> str:
    fetch_dataset(cfg)
    _require(table.path, f"attribute file of dataset {cfg.dataset.name}")
    return table.path


def _require(path: str, what: str) -> None:
    # Only local paths can be checked here; remote ones (hdfs://, s3a://) fail in Spark with their own error.
    if "://" not in path and not Path(path).exists():
        raise MissingSourceError(f"no {what}: {path} does not exist")

"""Named real datasets: registry, fetching (mirror, cache, download) and readers.

Each registered dataset lists its files with a canonical URL and SHA-256. :func:`fetch`
finds them in the folders of ``AZURAFORGE_DATA_MIRROR``, then in the cache
``$AZURAFORGE_HOME/datasets``, then downloads them, and checks every file's SHA-256::

    from azuraforge.learn.datasets import load_beijing_hourly, load_mnist, load_ohlcv

    weather = load_beijing_hourly()
    sp500 = load_ohlcv("sp500-daily", start="1950-01-03")
    train_images, train_labels, test_images, test_labels = load_mnist()

:func:`read_csv` is the one CSV reader behind them and the pipelines' ``predict`` inputs;
:class:`FillReport` says what filling a table's missing values did.
See ``docs/datasets.md`` for what each dataset holds.
"""

from azuraforge.learn.datasets.csvfiles import CsvTable, RowsTable, read_csv, rows_table, write_csv
from azuraforge.learn.datasets.fetching import (
    MIRROR_VARIABLE,
    cache_folder,
    dataset_file,
    fetch,
    mirror_folders,
)
from azuraforge.learn.datasets.filling import FillReport, missing_runs
from azuraforge.learn.datasets.idx import MNIST, load_mnist, read_idx
from azuraforge.learn.datasets.registry import (
    DATASETS,
    DataFile,
    DatasetSpec,
    get_dataset,
    list_datasets,
)
from azuraforge.learn.datasets.tables import (
    OHLCV,
    OHLCV_ALIASES,
    BeijingHourly,
    load_beijing_hourly,
    load_ohlcv,
)
from azuraforge.learn.home import HOME_VARIABLE

__all__ = [
    "DATASETS",
    "HOME_VARIABLE",
    "MIRROR_VARIABLE",
    "MNIST",
    "OHLCV",
    "OHLCV_ALIASES",
    "BeijingHourly",
    "CsvTable",
    "DataFile",
    "DatasetSpec",
    "FillReport",
    "RowsTable",
    "cache_folder",
    "dataset_file",
    "fetch",
    "get_dataset",
    "list_datasets",
    "load_beijing_hourly",
    "load_mnist",
    "load_ohlcv",
    "mirror_folders",
    "missing_runs",
    "read_csv",
    "read_idx",
    "rows_table",
    "write_csv",
]

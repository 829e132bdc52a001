"""The named datasets AzuraForge knows: each file's canonical URL and SHA-256.

The URLs and checksums are those of ``shared/data/*/SOURCE.md``. A URL pins a commit (or, for
MNIST, the canonical Google Cloud copy), so the bytes behind it never change; the checksum
is what makes a mirror, a cache and a download interchangeable.

For a gzip file (``compressed=True``) the checksum is of the *decompressed* bytes: the MNIST
copies in ``shared/data`` were re-gzipped, and only their contents match the canonical files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType

from azuraforge.errors import InvalidParameterError, NotFoundError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_GITHUB_RAW = "https://raw.githubusercontent.com/"


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: the name it has on disk, where it comes from, its SHA-256.

    Parameters
    ----------
    name
        File name in a mirror folder and in the cache (no folders in it).
    url
        Canonical download URL. Its last path part may differ from ``name``.
    sha256
        Lower-case hex SHA-256 of the file, or of its decompressed bytes if ``compressed``.
    compressed
        Whether the file is gzip-compressed.

    Raises
    ------
    InvalidParameterError
        If ``name`` holds a folder or ``sha256`` is not 64 lower-case hex digits.

    Examples
    --------
    >>> DataFile("a.csv", "https://example.org/a.csv", "0" * 64).compressed
    False
    >>> DataFile("a.csv", "https://example.org/a.csv", "abc")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: DataFile 'a.csv': sha256 must be 64 lower-case hex digits, got 'abc'
    """  # noqa: E501

    name: str
    url: str
    sha256: str
    compressed: bool = False

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or "\\" in self.name or self.name in (".", ".."):
            raise InvalidParameterError(
                f"DataFile: name must be a plain file name without folders, got {self.name!r}"
            )
        if not _SHA256.fullmatch(self.sha256):
            raise InvalidParameterError(
                f"DataFile {self.name!r}: sha256 must be 64 lower-case hex digits, "
                f"got {self.sha256!r}"
            )


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: a one-line description and its files.

    Pass one to :func:`~azuraforge.learn.datasets.fetching` to fetch files that are not in the
    registry (tests do).

    Parameters
    ----------
    name
        Registry name, also the cache sub-folder (``<cache>/<name>/``).
    description
        What the files hold, in one line.
    files
        The files, at least one, with distinct names.

    Examples
    --------
    >>> spec = get_dataset("sp500-daily")
    >>> spec.file_names
    ('GSPC_daily_1927_2023.csv',)
    """

    name: str
    description: str
    files: tuple[DataFile, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.files]
        if not names or len(set(names)) != len(names):
            raise InvalidParameterError(
                f"DatasetSpec {self.name!r}: needs at least one file and distinct file names, "
                f"got {names}"
            )
        if not self.name or "/" in self.name or "\\" in self.name or self.name in (".", ".."):
            raise InvalidParameterError(
                f"DatasetSpec: name must be usable as a folder name, got {self.name!r}"
            )

    @property
    def file_names(self) -> tuple[str, ...]:
        """The names of the files, in declaration order."""
        return tuple(f.name for f in self.files)


def _github(repo_commit_path: str) -> str:
    return _GITHUB_RAW + repo_commit_path


def _mnist(name: str, sha256: str) -> DataFile:
    return DataFile(f"{name}.gz", f"{_MNIST_URL}{name}.gz", sha256, compressed=True)


_BUILTIN = (
    DatasetSpec(
        "beijing-hourly",
        "Beijing PM2.5 and weather, hourly 2010-01-01 to 2014-12-31 (UCI, CC BY 4.0)",
        (
            DataFile(
                "beijing_hourly_2010_2014.csv",
                _github(
                    "jbrownlee/Datasets/d20fcb6402ae34e653d4513b00f39257bb37ed7f/pollution.csv"
                ),
                "892e9559205d16d32623135c127a3951c12e46ea1e0b3093e107ce89a9fd60e2",
            ),
        ),
    ),
    DatasetSpec(
        "london-daily",
        "London Heathrow daily weather 1979-01-01 to 2020-12-31 (European Climate Assessment)",
        (
            DataFile(
                "london_daily_1979_2020.csv",
                _github(
                    "oyundev/london-weather/9ff02bf8b2d0899a7e7aae7937239ee9cd5484fb/"
                    "london_weather.csv"
                ),
                "5529a232d5395878e6500b3cd778c952242ae80c2222359c3197bb6c127af6a8",
            ),
        ),
    ),
    DatasetSpec(
        "sp500-daily",
        "S&P 500 index (^GSPC) daily OHLCV 1927-12-30 to 2023-12-28, Yahoo format",
        (
            DataFile(
                "GSPC_daily_1927_2023.csv",
                _github(
                    "fja05680/stock_market_calendar/7041e86bf1f3a18c7b0a24a2fbb27031dc1388c5/"
                    "%5EGSPC.csv"
                ),
                "baf4e47ab3d5f1328ab22772a836f3579af810d861a95742fd472f33ba180a7c",
            ),
        ),
    ),
    DatasetSpec(
        "nvda-daily",
        "NVIDIA (NVDA) daily OHLCV 1999-01-22 to 2014-12-31, Yahoo format",
        (
            DataFile(
                "NVDA_daily_1999_2014.csv",
                _github(
                    "mementum/backtrader/b853d7c90b6721476eb5a5ea3135224e33db1f14/"
                    "datas/nvda-1999-2014.txt"
                ),
                "d16ee01711b8a39085a2c3a5d9840bb0ef43091a9e2909e5c819c3020a3ac28f",
            ),
        ),
    ),
    DatasetSpec(
        "btc-hourly",
        "Bitstamp BTC/USD hourly candles 2018-05-15 to 2022-08-20, newest first",
        (
            DataFile(
                "Bitstamp_BTCUSD_1h_2018_2022.csv",
                _github(
                    "darkeclipz/price-data/b5455a211f92ee2ca7237b2dc3894f1f281be63a/"
                    "Bitstamp_BTCUSD_1h.csv"
                ),
                "a3574ff0f1c812219d404c15949c6991db232623ad7ed08b4bfe65c4fcb7a0c9",
            ),
        ),
    ),
    DatasetSpec(
        "humaneval",
        "OpenAI HumanEval: 164 Python problems with tests, for evaluation only (MIT)",
        (
            DataFile(
                "HumanEval.jsonl.gz",
                _github(
                    "openai/human-eval/6d43fb980f9fee3c892a914eda09951f772ad10d/"
                    "data/HumanEval.jsonl.gz"
                ),
                "1d49078ba3e2b196b9344535bef34a43021f038fad9561d6ee7c53450609a6a2",
                compressed=True,
            ),
        ),
    ),
    DatasetSpec(
        "mbpp",
        "MBPP: 974 basic Python problems with tests (Austin et al. 2021, CC BY 4.0)",
        (
            DataFile(
                "mbpp.jsonl",
                _github("muitiiifruckt/ASE/83fa3f7963561b898623e8ade6e017d448ddca98/mbpp.jsonl"),
                "143559fa164408d45cab058238471288b0e447507ce55db3057c56113d9dccb4",
            ),
        ),
    ),
    DatasetSpec(
        "code-alpaca-2k",
        "Code Alpaca 2k: 2,017 coding instructions with answers (CC BY-NC 4.0: non-commercial)",
        (
            DataFile(
                "code_alpaca_2k.json",
                _github(
                    "sahil280114/codealpaca/2f78ddc5c682ed6738ad092bbbfa59ba915afcb0/"
                    "data/code_alpaca_2k.json"
                ),
                "9cb7352683bd2f530ce81eff7f8d58ccbe1a4bdf28afebbe9f80ec687256066d",
            ),
        ),
    ),
    DatasetSpec(
        "turkish-instructions",
        "574 Turkish instructions with answers: finance, machine learning, crypto (no licence)",
        tuple(
            DataFile(
                f"{topic}_turkish_dataset.json",
                _github(
                    "xesu101/LLM_finetuning_turkish_datasets/"
                    f"68b47f3b91a9b2e7328cc40e2ab8d7ee6b7da998/{topic}_turkish_dataset.json"
                ),
                sha256,
            )
            for topic, sha256 in (
                ("finance", "50e82d3f8ab4157633fea6d34c8e2f601dc2173306a074197136d787033804cb"),
                (
                    "machine_learning",
                    "4d5b039b966c84ce4789373e8f0f5e7de9561abbe2ee0cc0da37613ed930f41e",
                ),
                (
                    "crypto_money",
                    "46fb32183879334fa97314de8ad736003f7aac2bc124937de70d798dd6b1f993",
                ),
            )
        ),
    ),
    DatasetSpec(
        "mnist",
        "MNIST handwritten digits, 60,000 training and 10,000 test images of 28x28 (IDX)",
        (
            _mnist(
                "train-images-idx3-ubyte",
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            ),
            _mnist(
                "train-labels-idx1-ubyte",
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            ),
            _mnist(
                "t10k-images-idx3-ubyte",
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            ),
            _mnist(
                "t10k-labels-idx1-ubyte",
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
        ),
    ),
)

DATASETS = MappingProxyType({spec.name: spec for spec in sorted(_BUILTIN, key=lambda s: s.name)})
"""Every registered dataset by name, in alphabetical order (read-only)."""


def list_datasets() -> list[str]:
    """The names of the registered datasets, in alphabetical order.

    Examples
    --------
    >>> list_datasets()  # doctest: +NORMALIZE_WHITESPACE
    ['beijing-hourly', 'btc-hourly', 'code-alpaca-2k', 'humaneval', 'london-daily', 'mbpp',
     'mnist', 'nvda-daily', 'sp500-daily', 'turkish-instructions']
    """
    return list(DATASETS)


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset called ``name``.

    Parameters
    ----------
    name
        A name from :func:`list_datasets`.

    Returns
    -------
    DatasetSpec
        Its description and files.

    Raises
    ------
    NotFoundError
        If no dataset has that name; the message lists the known names.

    Examples
    --------
    >>> get_dataset("mnist").files[0].url
    'https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz'
    >>> get_dataset("wether")
    Traceback (most recent call last):
    ...
    azuraforge.errors.NotFoundError: no dataset named 'wether'; known: beijing-hourly, btc-hourly, code-alpaca-2k, humaneval, london-daily, mbpp, mnist, nvda-daily, sp500-daily, turkish-instructions
    """  # noqa: E501
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise NotFoundError(f"no dataset named {name!r}; known: {', '.join(DATASETS)}") from None

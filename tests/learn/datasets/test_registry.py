import re
from pathlib import Path

import pytest

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.learn.datasets import DATASETS, DataFile, DatasetSpec, get_dataset, list_datasets

NAMES = [
    "beijing-hourly",
    "btc-hourly",
    "code-alpaca-2k",
    "humaneval",
    "london-daily",
    "mbpp",
    "mnist",
    "nvda-daily",
    "sp500-daily",
    "turkish-instructions",
]
GZIPPED = ("humaneval", "mnist")
# https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>
RAW_GITHUB = re.compile(r"https://raw\.githubusercontent\.com/([^/]+/[^/]+)/([0-9a-f]{40})/")
DOC = Path(__file__).resolve().parents[3] / "docs" / "datasets.md"
# | file | bytes | lines | SHA-256 | rows of the SOURCE.md tables
SOURCE_ROW = re.compile(r"^\| (\S+) \|.*\| ([0-9a-f]{64}) \|$", flags=re.MULTILINE)


def test_list_datasets_is_alphabetical():
    assert list_datasets() == NAMES
    assert list(DATASETS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_get_dataset(name):
    spec = get_dataset(name)
    assert spec.name == name
    assert spec.description
    assert all(f.url.startswith("https://") for f in spec.files)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        NotFoundError,
        match=r"^no dataset named 'wether'; known: beijing-hourly, btc-hourly, code-alpaca-2k, "
        r"humaneval, london-daily, mbpp, mnist, nvda-daily, sp500-daily, turkish-instructions$",
    ):
        get_dataset("wether")


def test_unknown_name_is_also_a_key_error():
    with pytest.raises(KeyError):
        get_dataset("cifar10")


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        DATASETS["mine"] = get_dataset("mnist")  # type: ignore[index]


def test_every_file_matches_its_source_md(shared_data):
    """Names, SHA-256 and URLs are exactly those of shared/data/*/SOURCE.md (a SOURCE.md
    may name the repository and commit of a raw GitHub URL instead of the URL)."""
    sources = {
        path.parent.name: path.read_text()
        for folder in shared_data
        for path in folder.glob("*/SOURCE.md")
    }
    checksums = {name: sha for text in sources.values() for name, sha in SOURCE_ROW.findall(text)}
    all_text = "\n".join(sources.values())
    for spec in DATASETS.values():
        for file in spec.files:
            assert checksums[file.name] == file.sha256, file.name
            if spec.name != "mnist" and file.url not in all_text:
                repo, commit = RAW_GITHUB.match(file.url).groups()
                assert f"github.com/{repo}" in all_text and commit in all_text, file.url


def test_mnist_files_are_gzip_with_canonical_urls():
    for file in get_dataset("mnist").files:
        assert file.compressed
        assert file.url == f"https://storage.googleapis.com/cvdf-datasets/mnist/{file.name}"
    assert get_dataset("mnist").file_names == (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )


def test_only_gzip_files_are_compressed():
    for name in NAMES:
        if name not in GZIPPED:
            assert not any(f.compressed for f in get_dataset(name).files)


@pytest.mark.parametrize("name", ["", "a/b.csv", "..", "c\\d.csv"])
def test_file_name_must_be_plain(name):
    with pytest.raises(InvalidParameterError, match="plain file name"):
        DataFile(name, "https://example.org/x", "0" * 64)


@pytest.mark.parametrize("sha", ["abc", "0" * 63, "A" * 64, "g" * 64])
def test_sha256_must_be_64_lowercase_hex(sha):
    with pytest.raises(InvalidParameterError, match=f"sha256 must be 64 lower-case hex.*{sha!r}"):
        DataFile("x.csv", "https://example.org/x", sha)


def test_spec_needs_distinct_files():
    file = DataFile("x.csv", "https://example.org/x", "0" * 64)
    with pytest.raises(InvalidParameterError, match="distinct file names"):
        DatasetSpec("twice", "the same file twice", (file, file))
    with pytest.raises(InvalidParameterError, match="at least one file"):
        DatasetSpec("none", "no file", ())
    with pytest.raises(InvalidParameterError, match="folder name"):
        DatasetSpec("a/b", "a name with a slash", (file,))


def test_specs_are_frozen():
    with pytest.raises(AttributeError):
        get_dataset("mnist").name = "digits"  # type: ignore[misc]


def test_user_docs_describe_every_dataset():
    text = DOC.read_text()
    for name in NAMES:
        assert f"`{name}`" in text, name
    for variable in ("AZURAFORGE_DATA_MIRROR", "AZURAFORGE_HOME"):
        assert variable in text

import azuraforge.learn.datasets as datasets


def test_all_names_exist():
    for name in datasets.__all__:
        assert hasattr(datasets, name), name


def test_star_import():
    namespace: dict[str, object] = {}
    exec("from azuraforge.learn.datasets import *", namespace)
    assert set(datasets.__all__) <= set(namespace)


def test_public_callables_are_exported():
    public = {
        name
        for name, value in vars(datasets).items()
        if not name.startswith("_") and callable(value) and not isinstance(value, type(datasets))
    }
    assert public <= set(datasets.__all__)

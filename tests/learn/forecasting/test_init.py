"""The package's public names."""

import azuraforge.learn.forecasting as forecasting


def test_star_import_gives_every_listed_name_once():
    namespace: dict[str, object] = {}
    exec("from azuraforge.learn.forecasting import *", namespace)
    assert len(set(forecasting.__all__)) == len(forecasting.__all__)
    assert set(forecasting.__all__) <= set(namespace)

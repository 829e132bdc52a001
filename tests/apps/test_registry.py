"""Entry-point discovery of pipelines: found, broken and clashing plugins."""

import pytest

from azuraforge.apps import discover, get_pipeline
from azuraforge.errors import NotFoundError, PluginError


def test_a_pipeline_from_another_distribution_is_found(plugin_distribution):
    plugin_distribution({"constant": "fakeplugin:Constant"})
    plugin = discover()["constant"]
    assert plugin.distribution == "fakeplugin 0.1" and plugin.error == ""
    assert get_pipeline("constant").description.startswith("Predicts a constant")


def test_a_broken_plugin_is_reported_not_raised(plugin_distribution):
    plugin_distribution({"broken": "fakeplugin.missing:Thing", "odd": "fakeplugin:NotAPipeline"})
    with pytest.warns(UserWarning, match="pipeline 'broken' failed to load"):
        plugins = discover()
    assert "import failed" in plugins["broken"].error
    assert "is not a Pipeline subclass" in plugins["odd"].error
    with pytest.raises(PluginError, match=r"pipeline 'odd' cannot be used.*reinstall fakeplugin"):
        get_pipeline("odd")


def test_unknown_names_list_what_is_installed(plugin_distribution):
    plugin_distribution({"constant": "fakeplugin:Constant"})
    with pytest.raises(
        NotFoundError, match=r"no pipeline named 'constnat'; installed: .*constant"
    ):
        get_pipeline("constnat")


def test_two_distributions_claiming_one_name_is_an_error(plugin_distribution, tmp_path):
    plugin_distribution({"constant": "fakeplugin:Constant"})
    other = tmp_path / "other-0.2.dist-info"
    other.mkdir()
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: other\nVersion: 0.2\n")
    (other / "entry_points.txt").write_text("[azuraforge.pipelines]\nconstant = other:Elsewhere\n")
    with pytest.raises(PluginError, match="two pipelines are named 'constant'"):
        discover()


def test_a_plugin_registered_under_another_name_is_refused(plugin_distribution):
    plugin_distribution({"alias": "fakeplugin:Constant"})
    with pytest.raises(PluginError, match="calls itself 'constant' but is registered as 'alias'"):
        get_pipeline("alias")

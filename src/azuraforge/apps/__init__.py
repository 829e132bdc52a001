"""Built-in pipelines and the contract every pipeline, built-in or third-party, follows.

Pipelines are found through the entry-point group ``azuraforge.pipelines``; the platform
never imports one by name. See :mod:`azuraforge.apps.base` for the contract.
"""

from azuraforge.apps.base import History, Pipeline, RowsRequest, RunResult
from azuraforge.apps.registry import GROUP, PluginInfo, discover, get_pipeline

__all__ = [
    "GROUP",
    "History",
    "Pipeline",
    "PluginInfo",
    "RowsRequest",
    "RunResult",
    "discover",
    "get_pipeline",
]

"""Contract suites that AzuraForge's own tests and plugin authors both run.

A plugin's test suite calls, for example::

    from azuraforge.testing import check_pipeline

    def test_my_pipeline_keeps_the_contract(tmp_path):
        check_pipeline(MyPipeline, {"epochs": 1}, inputs="tests/rows.csv", workdir=tmp_path)

The library layers never import this package.
"""

from azuraforge.testing.pipelines import PipelineContractError, check_pipeline
from azuraforge.testing.transports import TransportContract, WorkerProcesses

__all__ = ["PipelineContractError", "TransportContract", "WorkerProcesses", "check_pipeline"]

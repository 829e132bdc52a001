"""LocalContext satisfies the RunContext protocol apps receive."""

from pathlib import Path

from azuraforge.learn import LocalContext, RunContext


def test_local_context_is_a_run_context_and_records_everything(tmp_path):
    ctx = LocalContext(output_dir=tmp_path)
    assert isinstance(ctx, RunContext)
    ctx.log_metrics({"loss": 1}, step=2)
    ctx.log_artifact(tmp_path / "report.md")
    ctx.progress(3, 10, "epoch 3/10")
    assert ctx.metrics == [(2, {"loss": 1.0})]
    assert ctx.artifacts == [Path(tmp_path / "report.md")]
    assert ctx.last_progress == (3, 10, "epoch 3/10")
    assert not ctx.should_stop()
    ctx.cancel()
    assert ctx.should_stop()

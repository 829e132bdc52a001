"""Run reports: a Markdown file with the metric table (baselines beside every score) and
PNG plots."""

from azuraforge.learn.reports import plots
from azuraforge.learn.reports.markdown import Report, metric_table

__all__ = ["Report", "metric_table", "plots"]

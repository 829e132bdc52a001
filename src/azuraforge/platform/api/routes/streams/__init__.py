"""``/streams``: continuous learning as supervised jobs, its routes by what they serve:
:mod:`.lifecycle` (a stream's config, start, list, detail and stop), :mod:`.readings` (its
models' scores, candidates and predictions), :mod:`.changes` (its lineage, triggers and
explanations) and :mod:`.alerts` (its rules' alerts)."""

from azuraforge.platform.api.routes.streams import alerts, changes, lifecycle, readings

PARTS = (readings, alerts, lifecycle, changes)
"""The modules of ``/streams``, their routers matched in this order: the champion's
predictions (the busiest) first, ``/streams/alerts`` before ``/streams/{stream_id}``, which
would take it for a stream's id."""

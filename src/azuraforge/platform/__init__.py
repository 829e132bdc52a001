"""The platform: a store of experiments, leased jobs that run pipelines, events and the API.

The embedded default needs no service: SQLite under ``$AZURAFORGE_HOME`` and local worker
processes. The same code runs a cluster on PostgreSQL with Celery workers on Redis; only
the URLs in :class:`~azuraforge.platform.settings.Settings` differ.
"""

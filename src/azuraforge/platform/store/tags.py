"""Tags of runs: a key and a value each, any run's (a pipeline's, an external one, one an
MLflow client made), set and deleted whatever the run's status (a tag describes a run; it
is not what the run wrote). The run list filters on them
(:attr:`~azuraforge.platform.store.experiments.ExperimentQuery.tags`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, delete, insert, select

from azuraforge.errors import InvalidParameterError, NotFoundError, shorten
from azuraforge.platform.store.base import StoreBase, pairs_by_run
from azuraforge.platform.store.models import Experiment, RunTag

MAX_TAG_KEY = 250
"""The longest tag key (characters), as MLflow's."""
MAX_TAG_VALUE = 8000
"""The longest tag value (characters), as MLflow's."""


def check_tag(key: str, value: str) -> None:
    """Raise :class:`InvalidParameterError` unless ``key`` (1 to :data:`MAX_TAG_KEY`
    characters) and ``value`` (at most :data:`MAX_TAG_VALUE`) fit the store."""
    check_key_value("tag", key, value, MAX_TAG_KEY, MAX_TAG_VALUE)


def check_key_value(kind: str, key: str, value: str, max_key: int, max_value: int) -> None:
    """Raise :class:`InvalidParameterError` unless ``key`` of a ``kind`` (``tag``,
    ``param``) has 1 to ``max_key`` characters and its ``value`` at most ``max_value``."""
    if not 1 <= len(key) <= max_key:
        raise InvalidParameterError(
            f"{kind} key {shorten(key, 40, quoted=True)} has {len(key)} characters; a {kind} "
            f"key has 1 to {max_key}"
        )
    if len(value) > max_value:
        raise InvalidParameterError(
            f"the value of {kind} {key!r} has {len(value)} characters; at most {max_value}"
        )


def write_tags(connection: Connection, experiment_id: int, tags: Mapping[str, str]) -> None:
    """Set ``tags`` (checked) on run ``experiment_id`` in the transaction of ``connection``,
    replacing the values of keys it has."""
    if not tags:
        return
    connection.execute(
        delete(RunTag).where(RunTag.experiment_id == experiment_id, RunTag.key.in_(list(tags)))
    )
    rows = [{"experiment_id": experiment_id, "key": k, "value": v} for k, v in tags.items()]
    connection.execute(insert(RunTag), rows)


def read_tags(connection: Connection, ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """The tags of each run of ``ids``, by run id, keys in order (one query)."""
    return pairs_by_run(connection, RunTag.experiment_id, RunTag.key, RunTag.value, ids)


class TagStore(StoreBase):
    """Tags of runs. Safe from any number of threads and processes."""

    def set_run_tags(self, experiment_id: int, tags: Mapping[str, str]) -> None:
        """Set ``tags`` on run ``experiment_id``, in one transaction (a key it has gets the
        new value).

        Raises
        ------
        InvalidParameterError
            For a key or a value that does not fit (:func:`check_tag`); nothing is set.
        NotFoundError
            For a run that does not exist.
        """
        for key, value in tags.items():
            check_tag(key, value)
        with self._begin() as connection:
            self._check_exists(connection, experiment_id)
            write_tags(connection, experiment_id, tags)

    def delete_run_tag(self, experiment_id: int, key: str) -> None:
        """Delete the tag ``key`` of run ``experiment_id``.

        Raises
        ------
        NotFoundError
            For a run that does not exist, or has no tag ``key``.
        """
        with self._begin() as connection:
            self._check_exists(connection, experiment_id)
            gone = connection.execute(
                delete(RunTag).where(RunTag.experiment_id == experiment_id, RunTag.key == key)
            ).rowcount
        if not gone:
            raise NotFoundError(f"run {experiment_id} has no tag {shorten(key, 60, quoted=True)}")

    def _check_exists(self, connection: Connection, experiment_id: int) -> None:
        if connection.scalar(select(Experiment.id).where(Experiment.id == experiment_id)) is None:
            raise self.not_found(f"experiment {experiment_id}")

    def get_run_tags(self, experiment_id: int) -> dict[str, str]:
        """The tags of run ``experiment_id``, keys in order (``{}``: none, or no such run)."""
        with self._read() as connection:
            return read_tags(connection, [experiment_id])[experiment_id]

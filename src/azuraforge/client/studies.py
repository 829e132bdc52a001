"""Hyper-parameter studies through the API: create one (its trials run as runs on the
server's workers), list, read, summarise, cancel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from azuraforge.client.session import Page, Session, without_none


class Studies:
    """The studies of the session's project. Objects are the API's JSON (``StudyDetail``,
    ``StudySummary``...), as dicts."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self, pipeline: str, space: dict[str, Any], *, config: dict[str, Any] | None = None,
        objective: str | None = None, direction: str | None = None, sampler: str | None = None,
        pruner: str | None = None, n_trials: int | None = None, parallelism: int | None = None,
        seed: int | None = None, name: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Start a study of ``pipeline`` over ``space`` (setting -> ``{type: float|int, low,
        high, log?, step?}`` or ``{type: categorical, choices: [...]}``) on the base
        ``config``; an option left ``None`` takes the API's default (``val_loss``,
        ``minimize``, ``tpe``, ``median``, 20 trials, one at a time). The study made.

        Raises
        ------
        InvalidParameterError
            For a pipeline, setting or space the API refuses, naming the field.
        """
        body = {
            "pipeline": pipeline, "space": space, "config": config, "objective": objective,
            "direction": direction, "sampler": sampler, "pruner": pruner, "n_trials": n_trials,
            "parallelism": parallelism, "seed": seed, "name": name,
        }  # fmt: skip
        return dict(self.session.request("POST", "/studies", json=without_none(body)))

    def list(self, *, limit: int = 50, offset: int = 0) -> Page:
        """A page of studies, newest first, each with its trials finished and best value."""
        return self.session.page("/studies", {"limit": limit, "offset": offset})

    def each(self) -> Iterator[dict[str, Any]]:
        """Every study, page after page."""
        return self.session.each("/studies")

    def get(self, study_id: int) -> dict[str, Any]:
        """A study with its trials, best trial and optimisation history."""
        return dict(self.session.request("GET", f"/studies/{study_id}"))

    def summary(self, study_id: int) -> dict[str, Any]:
        """A study without its trials: its status, its trials counted by status, its best."""
        return dict(self.session.request("GET", f"/studies/{study_id}/summary"))

    def importances(self, study_id: int) -> dict[str, Any]:
        """Optuna's importance of each parameter over the completed trials (a sample of
        ``sampled`` of the ``completed`` when there are many), or a ``note`` saying why there
        is none yet."""
        return dict(self.session.request("GET", f"/studies/{study_id}/importances"))

    def cancel(self, study_id: int) -> dict[str, Any]:
        """Cancel a study: queued trials are dropped, running ones stopped; the study."""
        return dict(self.session.request("POST", f"/studies/{study_id}/cancel"))

"""``/studies``: hyper-parameter studies on Optuna (create, list, read, cancel).

The request and response bodies of this resource live here beside their routes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from azuraforge.platform.api.access import READ, WRITE, Writer
from azuraforge.platform.api.deps import (
    DataFolderDep,
    RunsAndStudiesDep,
    StudiesDep,
    TransportDep,
    comma_separated,
    invalid_query,
    status_list,
)
from azuraforge.platform.api.list_csv import CsvAsked, csv_of, csv_responses, page_or_csv
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.api.schemas.studies import (
    ImportancesPublic,
    StudiesPublic,
    StudyCreate,
    StudyDetail,
    StudyListed,
    StudyPointsPublic,
    StudyPublic,
    StudySummaryPublic,
    TrialPublic,
    TrialsPublic,
)
from azuraforge.platform.services.studies import StudyDefinition, StudyService
from azuraforge.platform.services.study_views import (
    TRIAL_STATUSES,
    TrialQuery,
    TrialQueryError,
    TrialSort,
)
from azuraforge.platform.store.experiment_query import MAX_PAGE

router = APIRouter(prefix="/studies", tags=["studies"])
ERRORS = error_responses()
StudyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A study's id.")]


def get_studies(
    request: Request, store: RunsAndStudiesDep, transport: TransportDep, folder: DataFolderDep
) -> StudyService:
    """The app's study service (made on first use on the whole store: it keeps Optuna's
    storage open), bound to the caller's project's view of the store and data folder."""
    service: StudyService | None = getattr(request.app.state, "studies", None)
    if service is None:
        service = StudyService(request.app.state.store, transport)
        service.storage  # opened once, shared by every request's binding  # noqa: B018
        request.app.state.studies = service
    return service.bound_to(store, folder)


StudyServiceDep = Annotated[StudyService, Depends(get_studies)]


@router.post(
    "",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=StudyDetail,
    responses=ERRORS,
)
def create_study(body: StudyCreate, studies: StudyServiceDep, who: Writer) -> StudyDetail:
    """Create a study and queue its first trials (up to its parallelism). A bad config or
    search space is a 422 naming each entry's path (``space.lr.low``); nothing is stored
    then."""
    definition = StudyDefinition(
        pipeline=body.pipeline, space=body.space, base_config=body.config,
        objective=body.objective, direction=body.direction, sampler=body.sampler,
        pruner=body.pruner, n_trials=body.n_trials, parallelism=body.parallelism,
        seed=body.seed, name=body.name,
    )  # fmt: skip
    study = studies.create(definition, submitter=who.user)
    return StudyDetail.of_report(studies.report(study.id))


StudiesCsv = csv_of(StudyListed)
"""The CSV parameters of the list of StudyListed."""


@router.get(
    "",
    dependencies=[READ],
    response_model=StudiesPublic,
    responses={**ERRORS, **csv_responses("The studies.")},
)
def list_studies(
    store: StudiesDep,
    csv: Annotated[CsvAsked | None, StudiesCsv],
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> StudiesPublic | Response:
    """A page of studies, newest first, each with its trials finished and best value; or
    (``format=csv``, or ``Accept: text/csv``) every study as CSV."""

    def page(offset: int, limit: int) -> tuple[list[StudyListed], int]:
        items, total = store.list_studies(offset=offset, limit=limit)
        progress = store.list_study_progress(items)
        return [
            StudyListed(
                **StudyPublic.of(study).model_dump(),
                trials_finished=progress[study.id][0],
                best_value=progress[study.id][1],
            )
            for study in items
        ], total

    return page_or_csv(page, csv, "studies.csv", StudiesPublic, offset, limit)


@router.get("/{study_id}", dependencies=[READ], response_model=StudyDetail, responses=ERRORS)
def get_study(study_id: StudyId, studies: StudyServiceDep) -> StudyDetail:
    """A study with its trials (params, state, value, intermediate values), best trial,
    optimisation history and parameter importances."""
    return StudyDetail.of_report(studies.report(study_id))


@router.get(
    "/{study_id}/summary", dependencies=[READ], response_model=StudySummaryPublic, responses=ERRORS
)
def get_study_summary(study_id: StudyId, studies: StudyServiceDep) -> StudySummaryPublic:
    """A study without its trials: its trials counted by status, and its best trial."""
    return StudySummaryPublic.of_summary(studies.views.summary(study_id))


TrialsCsv = csv_of(TrialPublic)
"""The CSV parameters of the list of TrialPublic."""


@router.get(
    "/{study_id}/trials",
    dependencies=[READ],
    response_model=TrialsPublic,
    responses={**ERRORS, **csv_responses("The study's trials.")},
)
def list_study_trials(
    study_id: StudyId,
    studies: StudyServiceDep,
    csv: Annotated[CsvAsked | None, TrialsCsv],
    status_: Annotated[
        list[Annotated[str, status_list(TRIAL_STATUSES)]] | None,
        Query(
            alias="status", description="Repeat or comma-separate (no spaces); all when absent."
        ),
    ] = None,
    sort: TrialSort = "number",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> TrialsPublic | Response:
    """A page of the study's trials, filtered by status and sorted by number, value or
    status (trials without a value last either way; ties by number); or (``format=csv``, or
    ``Accept: text/csv``) every trial they keep as CSV, in that order. An unknown status or
    sort is a 422 naming the parameter, as a bad order or page is."""
    query = TrialQuery(statuses=comma_separated(status_), sort=sort, descending=order == "desc")

    def page(offset: int, limit: int) -> tuple[list[TrialPublic], int]:
        try:
            found = studies.views.trials(study_id, replace(query, offset=offset, limit=limit))
        except TrialQueryError as e:
            raise invalid_query(e) from None
        return [TrialPublic(**trial) for trial in found.trials], found.total

    return page_or_csv(page, csv, f"study-{study_id}-trials.csv", TrialsPublic, offset, limit)


@router.get(
    "/{study_id}/points", dependencies=[READ], response_model=StudyPointsPublic, responses=ERRORS
)
def get_study_points(study_id: StudyId, studies: StudyServiceDep) -> StudyPointsPublic:
    """Every trial as a point of the study's charts, in columns: number, run, status, value
    and each setting's value; no intermediate values."""
    return StudyPointsPublic.model_validate(studies.views.points(study_id))


@router.get(
    "/{study_id}/importances",
    dependencies=[READ],
    response_model=ImportancesPublic,
    responses=ERRORS,
)
def get_study_importances(study_id: StudyId, studies: StudyServiceDep) -> ImportancesPublic:
    """Optuna's parameter importances over the completed trials (a seeded random sample of
    1,000 when there are more; computed once per number of completed trials)."""
    return ImportancesPublic.model_validate(studies.views.importances(study_id))


@router.post(
    "/{study_id}/cancel",
    dependencies=[WRITE],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StudyPublic,
    responses=ERRORS,
)
def cancel_study(study_id: StudyId, studies: StudyServiceDep) -> StudyPublic:
    """Cancel a study: queued trials are dropped, running ones stop at their next batch; the
    study ends ``cancelled`` once none is left (409 if it already ended)."""
    return StudyPublic.of(studies.cancel(study_id))

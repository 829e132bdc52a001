"""The API's request and response bodies, one module per resource, named after the route
module that serves it (as the FastAPI full-stack template keeps one family per entity:
``ExperimentCreate``, ``ExperimentPublic``, ``ExperimentsPublic``...):

- :mod:`.common`: what every resource shares (a request body's strictness, the error body);
- :mod:`.runs` (``routes/runs.py``), :mod:`.tags`, :mod:`.compare`, :mod:`.external`:
  runs, their tags, runs side by side, runs written from outside;
- :mod:`.studies`, :mod:`.streams`, :mod:`.registry` (``routes/models.py``),
  :mod:`.pipelines`, :mod:`.data`, :mod:`.plugins`, :mod:`.health`;
- :mod:`.chat`, :mod:`.assist`, :mod:`.openai_chat`: the assistant;
- :mod:`.auth`, :mod:`.access`, :mod:`.project_settings`, :mod:`.server_settings`;
- :mod:`.mlflow`, :mod:`.mlflow_models`, :mod:`.mlflow_registry`: MLflow's own bodies (not in
  the OpenAPI).

A route module declares no body of its own: it imports them from here.
"""

"""The same PyTorch training script tracked with plain ``mlflow``, unchanged: only two
variables point it at AzuraForge.

    export MLFLOW_TRACKING_URI=http://127.0.0.1:8000   # the server, no path
    export MLFLOW_TRACKING_TOKEN=af_...                 # an editor's token of the project
    export AZURAFORGE_DATA_MIRROR=/path/to/data         # holding weather/beijing_hourly_...csv
    python examples/tracking/pytorch_mlflow.py --epochs 8

Every ``mlflow.log_metric`` is an HTTP request the loop waits for; while the server is away
the client retries it (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, backing off) and the loop waits.
"""

from __future__ import annotations

import os
import time

import mlflow
import torch
from weather_torch import Record, arguments, evaluate, load, model, train_epoch


def main() -> None:
    args = arguments(__doc__.splitlines()[0]).parse_args()
    data = load(args.max_rows)
    net = model(data.train.x.shape[1], args.hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    params = {k: v for k, v in vars(args).items() if k not in ("record", "name")}
    record, step = Record(args.record), 0
    mlflow.set_experiment("weather-torch")
    with mlflow.start_run(run_name=args.name, tags={"client": "mlflow"}) as run:
        record.note(run=run.info.run_id, pid=os.getpid())
        mlflow.log_params(params)
        for epoch in range(1, args.epochs + 1):
            for loss in train_epoch(
                net, optimizer, data.train, args.batch_size, args.step_seconds
            ):
                step += 1
                began = time.time()
                mlflow.log_metric("loss", loss, step=step)
                record.call(step, ["loss"], began)
            val = evaluate(net, data.val, data.change_scale)
            began = time.time()
            mlflow.log_metrics({"val_loss": val["loss"], "val_MAE": val["MAE"]}, step=epoch)
            record.call(epoch, ["val_loss", "val_MAE"], began)
        test = evaluate(net, data.test, data.change_scale)
        began = time.time()
        # Named as a weather-forecaster run's scores: an ended MLflow run's latest metric
        # values are its scores, so "MAE.model" is the score metrics.MAE.model.
        scores = {"MAE.model": test["MAE"], "MAE.persistence": test["MAE_persistence"]}
        mlflow.log_metrics({"test_MAE": test["MAE"], **scores}, step=args.epochs)
        record.call(args.epochs, ["test_MAE", *scores], began)
        mlflow.log_params(
            {"test_first_hour": data.test_hours[0], "test_last_hour": data.test_hours[1]}
        )
    record.note(test=test, run=run.info.run_id)
    mae, persistence = test["MAE"], test["MAE_persistence"]
    print(f"run {run.info.run_id}: test MAE {mae:.3f} °C (persistence {persistence:.3f})")


if __name__ == "__main__":
    main()

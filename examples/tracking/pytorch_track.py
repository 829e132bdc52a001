"""A PyTorch training script tracked with ``azuraforge.track``: its settings, each step's
loss, each epoch's validation loss and MAE, and its test MAE beside persistence's (as
metrics, and as its test scores ``metrics.MAE.model`` and ``metrics.MAE.persistence``).

    export AZURAFORGE_API_URL=http://127.0.0.1:8000   # then azuraforge login, or:
    export AZURAFORGE_TOKEN=af_...                     # an editor's token of the project
    export AZURAFORGE_DATA_MIRROR=/path/to/data        # holding weather/beijing_hourly_...csv
    python examples/tracking/pytorch_track.py --epochs 8

With no server configured the run goes into the embedded store instead (docs/tracking.md).
``log_metrics`` only queues: the loop never waits for the server, nor stops when it is away.
"""

from __future__ import annotations

import os
import time

import torch
from weather_torch import Record, arguments, evaluate, load, model, train_epoch

from azuraforge import track


def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--idle-limit", type=float, default=None, help="seconds; default 600")
    args = parser.parse_args()
    data = load(args.max_rows)
    net = model(data.train.x.shape[1], args.hidden)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    params = {k: v for k, v in vars(args).items() if k not in ("record", "name", "idle_limit")}
    record, step = Record(args.record), 0
    with track.start_run(
        name=args.name, experiment="weather-torch", tags={"client": "azuraforge.track"},
        params=params, idle_limit=args.idle_limit,
    ) as run:  # fmt: skip
        record.note(run=run.id, pid=os.getpid())
        for epoch in range(1, args.epochs + 1):
            for loss in train_epoch(
                net, optimizer, data.train, args.batch_size, args.step_seconds
            ):
                step += 1
                began = time.time()
                run.log_metrics({"loss": loss}, step=step)
                record.call(step, ["loss"], began)
            val = evaluate(net, data.val, data.change_scale)
            began = time.time()
            run.log_metrics({"val_loss": val["loss"], "val_MAE": val["MAE"]}, step=epoch)
            record.call(epoch, ["val_loss", "val_MAE"], began)
        test = evaluate(net, data.test, data.change_scale)
        began = time.time()
        run.log_metrics({"test_MAE": test["MAE"]}, step=args.epochs)
        record.call(args.epochs, ["test_MAE"], began)
        # The run's test scores, named as a weather-forecaster run's (metrics.MAE.model).
        run.log_scores({"MAE": {"model": test["MAE"], "persistence": test["MAE_persistence"]}})
        run.log_params(
            {"test_first_hour": data.test_hours[0], "test_last_hour": data.test_hours[1]}
        )
        run.note(f"test MAE {test['MAE']:.3f} °C, persistence {test['MAE_persistence']:.3f} °C")
    record.note(test=test, run=run.id)
    print(
        f"run {run.id}: test MAE {test['MAE']:.3f} °C (persistence {test['MAE_persistence']:.3f})"
    )


if __name__ == "__main__":
    main()

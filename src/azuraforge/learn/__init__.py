"""The learner: training loop and callbacks, datasets, time-series preparation, metrics.

Imports the core and NumPy; matplotlib and Rich only where plots and progress bars are made.
Never imports the platform: apps hand it a run context instead.
"""

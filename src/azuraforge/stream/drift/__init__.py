"""Drift detectors: ADWIN, DDM and Page-Hinkley, updated one value at a time.

River's contract (``update(value)``, then read ``drift_detected`` and
``warning_detected``), with a warning zone for all three, a cool-down after each drift,
counters and a JSON-compatible state dict (:class:`DriftDetector` states it)::

    from azuraforge.stream.drift import ADWIN

    adwin = ADWIN(cooldown=100)
    for loss in losses:
        adwin.update(loss)
        if adwin.drift_detected:
            ...  # retrain, swap in the background model
"""

from azuraforge.stream.drift.adwin import ADWIN
from azuraforge.stream.drift.base import DriftDetector
from azuraforge.stream.drift.ddm import DDM
from azuraforge.stream.drift.page_hinkley import PageHinkley

__all__ = ["ADWIN", "DDM", "DriftDetector", "PageHinkley"]

"""Evaluation lab: accuracy and robustness measured the way the field does.

- ``predictions``: the resumable ``predictions.csv``
- ``summary``: metric tables per subset and the project's targets
- ``evaluate``: ``deepdetector evaluate`` (predictions, metrics JSON, tables, HTML report)
- ``robustness`` / ``robustness_output``: ``deepdetector robustness`` sweeps (frame perturbations in
  :mod:`deepdetector.media.perturb`)
- ``plots`` / ``html``: matplotlib figures (``eval`` extra) and self-contained HTML pages

Metrics live in :mod:`deepdetector.metrics`, manifests and split files in
:mod:`deepdetector.datasets.manifest` (shared with training, which this package never imports).
See docs/evaluation.md. Nothing here is imported by ``deepdetector scan``.
"""

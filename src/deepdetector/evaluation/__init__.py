"""Evaluation lab: accuracy and robustness measured the way the field does.

- ``metrics``: numpy-only AUC (Mann-Whitney, ties = 1/2), ROC, EER, AP, log-loss, threshold rates, calibration
- ``manifest``: labelled manifests, split files, seeded label-balanced samples
- ``predictions``: the resumable ``predictions.csv``
- ``summary``: metric tables per subset and the project's targets
- ``evaluate``: ``deepdetector evaluate`` (predictions, metrics JSON, tables, HTML report)
- ``perturb`` / ``robustness`` / ``robustness_report``: ``deepdetector robustness`` sweeps
- ``plots`` / ``html``: matplotlib figures (``eval`` extra) and self-contained HTML pages

See docs/evaluation.md. Nothing here is imported by ``deepdetector scan``.
"""

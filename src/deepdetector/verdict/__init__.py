"""Verdict stage: faces -> tracks -> file, aggregation strategies and the decision threshold."""

from deepdetector.verdict.aggregation import AGGREGATIONS, aggregate
from deepdetector.verdict.decide import decide_file

__all__ = ["AGGREGATIONS", "aggregate", "decide_file"]

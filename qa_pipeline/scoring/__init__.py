"""Scoring: conversation metrics, rubric schema, phrase spotting and the rubric engine."""

from .engine import CallContext, Scorer
from .metrics import MetricParams, compute_metrics
from .rubric import Item, Rubric, find_rubric, load_rubric

__all__ = ["CallContext", "Item", "MetricParams", "Rubric", "Scorer", "compute_metrics", "find_rubric", "load_rubric"]

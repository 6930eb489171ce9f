"""Shadow mode: the procedural path and the strategy pattern, side by side.

Control and candidate run with the same seed on the same iterations; results
are frozen, mismatches are kept apart from ignored differences, and internal
failures go to one ``raised(operation, error)`` hook.
"""

from stratloop.shadow.compare import Comparison, Mismatch, compare_records
from stratloop.shadow.experiment import InternalError, Observation, Result, ShadowExperiment
from stratloop.shadow.log import SCHEMA_VERSION, read_log, write_log
from stratloop.shadow.record import COMPARED_FIELDS, IGNORED_FIELDS, ShadowRecord

__all__ = [
    "COMPARED_FIELDS",
    "IGNORED_FIELDS",
    "SCHEMA_VERSION",
    "Comparison",
    "InternalError",
    "Mismatch",
    "Observation",
    "Result",
    "ShadowExperiment",
    "ShadowRecord",
    "compare_records",
    "read_log",
    "write_log",
]

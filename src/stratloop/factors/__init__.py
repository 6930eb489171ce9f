"""The strategy DSL: parse, type-check and evaluate expressions; factor library and mutations.

Expressions are data: a real grammar parsed into typed frozen nodes, never
``eval``/``exec``, never an import by name.
"""

from __future__ import annotations

from stratloop.factors.cache import CacheStats, EvalCache
from stratloop.factors.check import check_strategy
from stratloop.factors.evaluate import evaluate
from stratloop.factors.generator import FactorGraphGenerator
from stratloop.factors.grammar import parse
from stratloop.factors.graph import ExprGraph, replace_all, replace_at, subtrees
from stratloop.factors.library import (
    FactorDraw,
    FactorLibrary,
    FactorTemplate,
    ParamRange,
    default_library,
)
from stratloop.factors.limits import EVALUATION_LIMITS, Limits
from stratloop.factors.mutations import MUTATION_OPERATORS, mutate
from stratloop.factors.nodes import Binary, Call, Expr, Field, Neg, Not, Number
from stratloop.factors.ops import (
    FIELD_UNITS,
    FIELDS,
    INFIX,
    OPERATORS,
    InfixOperator,
    Operator,
    Param,
)
from stratloop.factors.reference import dsl_reference
from stratloop.factors.typecheck import ExprType, available_fields, infer_type, typecheck
from stratloop.factors.units import Unit
from stratloop.factors.user import load_user_factors

__all__ = [
    "EVALUATION_LIMITS",
    "FIELDS",
    "FIELD_UNITS",
    "INFIX",
    "MUTATION_OPERATORS",
    "OPERATORS",
    "Binary",
    "CacheStats",
    "Call",
    "EvalCache",
    "Expr",
    "ExprGraph",
    "ExprType",
    "FactorDraw",
    "FactorGraphGenerator",
    "FactorLibrary",
    "FactorTemplate",
    "Field",
    "InfixOperator",
    "Limits",
    "Neg",
    "Not",
    "Number",
    "Operator",
    "Param",
    "ParamRange",
    "Unit",
    "available_fields",
    "check_strategy",
    "default_library",
    "dsl_reference",
    "evaluate",
    "infer_type",
    "load_user_factors",
    "mutate",
    "parse",
    "replace_all",
    "replace_at",
    "subtrees",
    "typecheck",
]

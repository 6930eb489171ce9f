"""The strategy DSL: parse, type-check and evaluate expressions; factor library and mutations.

Two libraries: :mod:`~stratloop.factors.library` holds the templates the
factor graph samples; :mod:`~stratloop.factors.saved` the persistent library
of factors earlier runs accepted, which ``factor("name")`` refers to.

Expressions are data: a real grammar parsed into typed frozen nodes, never
``eval``/``exec``, never an import by name.
"""

from __future__ import annotations

from stratloop.factors.cache import EvalCache
from stratloop.factors.check import check_strategy
from stratloop.factors.evaluate import evaluate
from stratloop.factors.generator import FactorGraphGenerator
from stratloop.factors.grammar import parse
from stratloop.factors.library import FactorLibrary, FactorTemplate, ParamRange, default_library
from stratloop.factors.limits import Limits
from stratloop.factors.mutations import MUTATION_OPERATORS, mutate
from stratloop.factors.nodes import Binary, Call, Expr, Field, Neg, Not, Number, Ref
from stratloop.factors.ops import FIELD_UNITS, FIELDS
from stratloop.factors.reference import dsl_reference
from stratloop.factors.references import FactorDefinitions
from stratloop.factors.saved import FactorStore, SavedFactor
from stratloop.factors.typecheck import available_fields
from stratloop.factors.units import Unit
from stratloop.factors.user import load_user_factors

__all__ = [
    "FIELDS",
    "FIELD_UNITS",
    "MUTATION_OPERATORS",
    "Binary",
    "Call",
    "EvalCache",
    "Expr",
    "FactorDefinitions",
    "FactorGraphGenerator",
    "FactorLibrary",
    "FactorStore",
    "FactorTemplate",
    "Field",
    "Limits",
    "Neg",
    "Not",
    "Number",
    "ParamRange",
    "Ref",
    "SavedFactor",
    "Unit",
    "available_fields",
    "check_strategy",
    "default_library",
    "dsl_reference",
    "evaluate",
    "load_user_factors",
    "mutate",
    "parse",
]

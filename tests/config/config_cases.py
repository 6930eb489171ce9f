"""The shared case list both validation paths are held to: (name, document, valid)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any


def doc(**sections: Any) -> dict[str, Any]:
    """A v1 document with a valid generation section unless one is given."""
    base: dict[str, Any] = {
        "version": 1,
        "generation": {"use_factor_graph": True, "innovation_rate": 0},
    }
    base.update(sections)
    return base


def gen(**fields: Any) -> dict[str, Any]:
    """A generation section from the valid default plus ``fields``."""
    return {"use_factor_graph": True, "innovation_rate": 0, **fields}


CASES: list[tuple[str, Any, bool]] = [
    ("minimal", doc(), True),
    ("rate 0", doc(generation=gen(use_factor_graph=None, innovation_rate=0)), True),
    ("rate 100", doc(generation=gen(use_factor_graph=None, innovation_rate=100)), True),
    ("rate 50 float", doc(generation=gen(innovation_rate=50.0)), True),
    ("rate -10", doc(generation=gen(innovation_rate=-10)), False),
    ("rate 150", doc(generation=gen(innovation_rate=150)), False),
    ("rate string", doc(generation=gen(innovation_rate="invalid")), False),
    ("rate numeric string", doc(generation=gen(innovation_rate="50")), False),
    ("rate bool", doc(generation=gen(innovation_rate=True)), False),
    ("rate nan", doc(generation=gen(innovation_rate=math.nan)), False),
    ("rate inf", doc(generation=gen(innovation_rate=-math.inf)), False),
    ("rate huge int", doc(generation=gen(innovation_rate=10**400)), False),
    ("use_factor_graph string", doc(generation=gen(use_factor_graph="true")), False),
    ("use_factor_graph int", doc(generation=gen(use_factor_graph=1)), False),
    ("missing use_factor_graph", doc(generation={"innovation_rate": 0}), False),
    ("missing rate", doc(generation={"use_factor_graph": True}), False),
    ("missing generation", {"version": 1}, False),
    ("version true", {**doc(), "version": True}, False),
    ("version 1.0", {**doc(), "version": 1.0}, False),
    ("version 2", {**doc(), "version": 2}, False),
    ("unknown top key", doc(lm={}), False),
    ("unknown field", doc(generation=gen(inovation_rate=5)), False),
    ("non-string key", {**doc(), 1: 2}, False),
    ("section null", doc(llm=None), False),
    ("section list", doc(llm=[1]), False),
    ("on_llm_failure ok", doc(generation=gen(on_llm_failure="fallback_to_factor_graph")), True),
    ("on_llm_failure bad", doc(generation=gen(on_llm_failure="ignore")), False),
    ("iterations float", doc(loop={"iterations": 10.0}), False),
    ("iterations bool", doc(loop={"iterations": True}), False),
    ("seed max", doc(loop={"seed": 2**63 - 1}), True),
    ("seed too big", doc(loop={"seed": 2**63}), False),
    ("api_key_env newline", doc(llm={"api_key_env": "KEY\n"}), False),
    ("api_key_env ok", doc(llm={"api_key_env": "MY_KEY"}), True),
    ("empty source", doc(data={"source": ""}), False),
    ("date ok", doc(data={"start_date": dt.date(2000, 1, 3)}), True),
    ("date string", doc(data={"start_date": "2000-01-03"}), False),
    ("datetime for date", doc(data={"start_date": dt.datetime(2000, 1, 3, tzinfo=dt.UTC)}), False),
    ("train_fraction 1", doc(backtest={"train_fraction": 1}), False),
    ("timeout 0", doc(llm={"timeout_s": 0}), False),
    ("optional null", doc(llm={"max_tokens_per_run": None, "model": None}), True),
    ("non-optional null", doc(llm={"enabled": None}), False),
    ("every section", doc(llm={}, data={}, backtest={}, loop={}, audit={}), True),
]

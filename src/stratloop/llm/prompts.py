"""The prompts that ask a model for one strategy spec, and for a corrected one.

The system message teaches the task: the DSL's grammar and operators (from
the strategy engine's own reference), the data fields, and the one reply
format (a JSON object matching :class:`~stratloop.spec.Strategy`, with a
checked example). The user message carries the iteration's state: the data
universe, the champion's spec and metrics, and recent results and failures.
With ``llm.anonymize`` the universe is described without tickers or dates, and
tickers and calendar dates are scrubbed from every piece of state shown, so
the model cannot lean on what it remembers about those names and years.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from string import Template
from types import MappingProxyType

from stratloop.errors import LLMGenerationError
from stratloop.factors.grammar import FactorReferences
from stratloop.generation.context import ChampionSnapshot, Feedback, GenerationContext
from stratloop.generation.outcome import Repeat
from stratloop.llm.client import Message
from stratloop.spec import Strategy

__all__ = [
    "Inspirations",
    "PromptSettings",
    "Universe",
    "build_messages",
    "repair_messages",
    "saved_factors_section",
]

_DATE = re.compile(r"(?<!\d)\d{4}[-/.]\d{2}[-/.]\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?)?")
_HIDDEN_DATE = "<date>"
_HIDDEN_ASSET = "<asset>"
_MAX_SHOWN_ERROR = 300
_MAX_SHOWN_REPLY = 4000

_SYSTEM = Template(
    """\
You are a quantitative researcher. You propose ONE trading strategy at a time \
for a daily equity panel (dates x assets). A strategy is a signal expression in \
a small typed DSL plus a portfolio rule; the signal at day t may only use data \
up to day t, and positions are taken from day t+1.
The signal and every input of a cross-sectional operator (rank, zscore, \
demean, scale) must be scale-free: a return, a ratio of same-unit series such \
as close / ts_mean(close, 20), or a rank. A raw price or volume level such as \
rank(close) is rejected, because back-adjusted levels leak future splits and \
dividends and are not comparable across stocks.

# The expression language
$reference

# Data fields
$fields

# Reply format
Reply with exactly one JSON object in a ```json block and nothing that \
executes: the expression is parsed by the DSL's grammar, never run as code. \
Keys:
- "expression": the signal, a DSL expression (higher value = more attractive).
- "portfolio": one of
  {"kind": "top_n", "n": <int 1-1000>, "rebalance_days": <int 1-252>}
  {"kind": "long_short", "quantile": <number in (0, 0.5]>, "rebalance_days": <int 1-252>}
  {"kind": "threshold", "upper": <number>, "lower": <number or null>, "rebalance_days": <int 1-252>}
- "exits" (optional): {"stop_loss": <fraction in (0, 1) or null>, \
"max_holding_days": <int 1-2520 or null>}
- "rationale" (optional): one short paragraph on why it should work.
Limits: at most $max_nodes nodes, nesting depth $max_depth, windows and lags up \
to $max_window days.

Example (it only shows the format: do not propose it):
```json
$example
```"""
)

_USER = Template(
    """\
# Data
$universe

# Current champion
$champion

# Earlier candidates (one JSON object a line; the expression is the quoted string)
$feedback

Propose one new strategy that is likely to beat the champion out of sample. \
Do not repeat an expression listed above or the format example; learn from the \
failures. Reply with the JSON object only."""
)

_REPEATED = Template(
    """\
That strategy repeats the one already tried in iteration $iteration: the same \
signal (once written in canonical form: operand order, grouping and equivalent \
spellings do not count) traded by the same portfolio rule and exits. It will \
not be evaluated again. The repeated strategy, exactly:
```json
$spec
```
Propose a different strategy: change what the signal measures, not how it is \
written. Reply with the JSON object only."""
)

_REPAIR = Template(
    """\
Your reply could not be used: $error

Reply again with exactly one corrected JSON object in a ```json block, \
following the reply format and the DSL reference above."""
)



_SAVED = Template(
    """

## Your factor library

Factors accepted in earlier runs. Use one as a leaf of your expression by its \
name, factor("name"), e.g. rank(factor("$first")) - rank(ts_std(returns, 20)); \
it stands for the expression shown (its unit is that expression's). A signal \
that correlates strongly with one of them on its own is not a new factor and \
is not counted: combine them with something new instead.

| name | expression |
|---|---|
$rows"""
)


def saved_factors_section(saved: FactorReferences | None) -> str:
    """The prompt's list of the persistent library's factors; empty without any.

    The expressions are data the prompt quotes, in a table the model reads;
    nothing of them is executed.
    """
    if saved is None or not saved.names:
        return ""
    rows = "\n".join(f"| `{name}` | `{saved.resolve(name).text}` |" for name in saved.names)
    return _SAVED.substitute(first=saved.names[0], rows=rows)


@dataclass(frozen=True, slots=True)
class Universe:
    """What the data covers, as the prompt may describe it.

    Args:
        assets: the tickers; hidden when anonymised.
        start: first date (ISO); hidden when anonymised.
        end: last date (ISO); hidden when anonymised.
        rows: number of dates (trading days).
    """

    assets: tuple[str, ...]
    start: str
    end: str
    rows: int


@dataclass(frozen=True, slots=True)
class PromptSettings:
    """Everything fixed for a run that the prompt shows.

    Args:
        reference: the DSL's grammar and operator reference text.
        fields: the data fields expressions may use.
        example: a valid strategy shown as the reply format's example.
        max_nodes: the expression node limit.
        max_depth: the expression depth limit.
        max_window: the window / lag limit.
        universe: the data's assets and dates, if known.
        max_feedback: how many recent results to show.
        field_notes: a description per field name, shown beside the name.
    """

    reference: str
    fields: frozenset[str]
    example: Strategy
    max_nodes: int
    max_depth: int
    max_window: int
    universe: Universe | None = None
    max_feedback: int = 10
    field_notes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    grammar_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Inspirations:
    """The earlier candidates one call is shown, sampled per call from the run's archive.

    Args:
        top: among the best scored so far.
        diverse: from factor families the top ones do not use.
        failures: recent failures, with their errors.
    """

    top: tuple[Feedback, ...] = ()
    diverse: tuple[Feedback, ...] = ()
    failures: tuple[Feedback, ...] = ()


def build_messages(
    ctx: GenerationContext,
    settings: PromptSettings,
    inspirations: Inspirations | None = None,
) -> tuple[Message, ...]:
    """The system and user messages asking for one strategy in iteration ``ctx``.

    Args:
        ctx: the iteration's context; ``ctx.config.llm.anonymize`` hides tickers and dates.
        settings: the run's fixed prompt content.
        inspirations: the earlier candidates to show; None shows the most
            recent results of ``ctx.feedback``.
    """
    hide = _Scrubber(settings.universe, enabled=ctx.config.llm.anonymize)
    system = _SYSTEM.substitute(
        reference=settings.reference.strip(),
        fields=_fields(settings),
        max_nodes=settings.max_nodes,
        max_depth=settings.max_depth,
        max_window=settings.max_window,
        example=_spec_json(settings.example, None),
    )
    if inspirations is None:
        recent = ctx.feedback[-settings.max_feedback :] if settings.max_feedback else ()
        shown = _feedback(recent, hide)
    else:
        shown = _inspirations(inspirations, hide)
    user = _USER.substitute(
        universe=_universe(settings.universe, anonymize=hide.enabled),
        champion=_champion(ctx.champion, hide),
        feedback=shown,
    )
    return (Message("system", system), Message("user", user), *_repeated(ctx.repeats, hide))


def _repeated(repeats: Sequence[Repeat], hide: _Scrubber) -> tuple[Message, ...]:
    """Each of this iteration's repeats as the model's reply and the loop's answer to it."""
    messages: list[Message] = []
    for repeat in repeats:
        spec = _spec_json(repeat.candidate.strategy, hide)
        messages.append(Message("assistant", f"```json\n{spec}\n```"))
        messages.append(
            Message("user", _REPEATED.substitute(iteration=repeat.of_iteration, spec=spec))
        )
    return tuple(messages)


def _shown_reply(reply: str) -> str:
    """A reply as shown back to the model: its first characters when it is long."""
    return reply if len(reply) <= _MAX_SHOWN_REPLY else reply[:_MAX_SHOWN_REPLY] + " [...]"


def _fields(settings: PromptSettings) -> str:
    """Every field the grammar knows, each marked available or not in this data."""
    notes = settings.field_notes
    names = sorted(set(settings.grammar_fields) | settings.fields)
    lines = []
    for name in names:
        note = f": {notes[name]}" if name in notes else ""
        if name in settings.fields:
            lines.append(f"- {name}{note}")
        else:
            lines.append(f"- {name}: NOT in this data; an expression using it is rejected")
    return "\n".join(lines)


def _inspirations(inspirations: Inspirations, hide: _Scrubber) -> str:
    groups = (
        ("Among the best so far", inspirations.top),
        ("Other factor families tried", inspirations.diverse),
        ("Recent failures (learn from the errors)", inspirations.failures),
    )
    parts = [
        f"{title}:\n{_feedback(items, hide)}" for title, items in groups if items
    ]
    return "\n\n".join(parts) if parts else "None yet."


def repair_messages(
    messages: Sequence[Message], reply: str, error: LLMGenerationError
) -> tuple[Message, ...]:
    """The conversation extended with the rejected reply and the parser's error."""
    cause = error.__cause__
    detail = str(error)
    if cause is not None and str(cause) not in detail:
        detail += f"\n({type(cause).__name__}: {cause})"
    return (
        *messages,
        Message("assistant", _shown_reply(reply)),
        Message("user", _REPAIR.substitute(error=detail)),
    )


class _Scrubber:
    """Replaces tickers and calendar dates in shown state when anonymising."""

    def __init__(self, universe: Universe | None, *, enabled: bool) -> None:
        self.enabled = enabled
        names = sorted(universe.assets, key=len, reverse=True) if universe else []
        alternatives = "|".join(re.escape(name) for name in names if name)
        self._assets = (
            re.compile(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])")
            if alternatives
            else None
        )

    def __call__(self, text: str) -> str:
        if not self.enabled:
            return text
        text = _DATE.sub(_HIDDEN_DATE, text)
        return self._assets.sub(_HIDDEN_ASSET, text) if self._assets else text


def _universe(universe: Universe | None, *, anonymize: bool) -> str:
    if universe is None:
        return "A daily panel of equities."
    if anonymize:
        return (
            f"{len(universe.assets)} equities (names hidden), {universe.rows} consecutive "
            "trading days (dates hidden; think in relative periods of days)."
        )
    return (
        f"{len(universe.assets)} equities ({', '.join(universe.assets)}), {universe.rows} "
        f"trading days from {universe.start} to {universe.end}."
    )


def _champion(champion: ChampionSnapshot | None, hide: _Scrubber) -> str:
    if champion is None:
        return "None yet: this is the first strategy of the run."
    metrics = _metrics(champion.metrics) or "no metrics"
    shown = _spec_json(champion.candidate.strategy, hide)
    return f"Spec:\n```json\n{shown}\n```\nTrain metrics: {metrics}"


def _feedback(recent: Sequence[Feedback], hide: _Scrubber) -> str:
    if not recent:
        return "None yet."
    lines = []
    for item in recent:
        shown: dict[str, object] = {
            "expression": hide(item.expression),
            "method": item.method,
            "score": _score(item.score),
        }
        if item.error:
            shown["error"] = hide(" ".join(item.error.split())[:_MAX_SHOWN_ERROR])
        lines.append("- " + json.dumps(shown))
    return "\n".join(lines)


def _score(value: float | None) -> float | None:
    """The score to 4 significant digits; None when unknown or not finite (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.4g}")


def _metrics(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {_number(value)}" for name, value in sorted(metrics.items()))


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _spec_json(strategy: Strategy, hide: _Scrubber | None) -> str:
    data = strategy.model_dump(mode="json")
    if hide is not None:
        data["expression"] = hide(data["expression"])
    return json.dumps(data, indent=2)

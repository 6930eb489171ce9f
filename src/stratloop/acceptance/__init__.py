"""The deployment guide's acceptance: its checks, drills, health probes and commands.

The guide (docs/deployment-guide-phase2-4.md) is the rollout's acceptance
spec. Everything that exists to prove a phase works lives here, never in
the product packages, which do not import this package: the ``stratloop``
command line reaches its commands through the ``stratloop.cli`` entry point
(:func:`stratloop.acceptance.cli.register`) and ``stratloop serve`` its
health probes through ``stratloop.health_probes``
(:func:`stratloop.acceptance.probes.service_probes`).

Modules: :mod:`~stratloop.acceptance.config_cases` and
:mod:`~stratloop.acceptance.validation_overhead` (Phase 2),
:mod:`~stratloop.acceptance.strategy_checks` and
:mod:`~stratloop.acceptance.strategy_overhead`,
:mod:`~stratloop.acceptance.shadow` (Phase 3, shadow mode) and
:mod:`~stratloop.acceptance.rehearsal` (the real generators they inject),
:mod:`~stratloop.acceptance.audit_logging`,
:mod:`~stratloop.acceptance.audit_drills` and
:mod:`~stratloop.acceptance.audit_samples` (Phase 4),
:mod:`~stratloop.acceptance.probes` and :mod:`~stratloop.acceptance.health`
(health checks and production validation).
"""

__all__: list[str] = []

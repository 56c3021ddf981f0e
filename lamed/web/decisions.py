"""Every experiment's decision, read from Redis in a constant number of
round trips: the experiment names (one SMEMBERS), their counters (one
pipelined HGETALL each, one round trip) and the definitions (one HGETALL,
or none while the process's snapshot is fresh).

Shared by ``GET /decisions``, ``GET /experiments/{name}``, ``lamed results``
and notifications, so they all give the JSON export's decision object
(:meth:`lamed.dashboard.views.GoalDecision.to_dict`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Optional

from lamed.core.definitions import Definition
from lamed.core.results import ExperimentCounts
from lamed.core.settings import Settings
from lamed.dashboard.views import ExperimentView, experiment_view
from lamed.store.results import Store

DefinitionOf = Callable[[str, str], Optional[Definition]]  # (namespace, experiment) -> its definition


def experiment_views(
    store: Store,
    definition_of: DefinitionOf,
    settings: Settings,
    namespace: str,
    names: Optional[Iterable[str]] = None,
) -> list[ExperimentView]:
    """The views of ``names`` (default: every experiment of the namespace with
    counters), in name order; experiments without counters are left out."""
    wanted = store.experiment_names(namespace) if names is None else list(names)
    return [
        experiment_view(counts, definition=definition_of(namespace, counts.name), settings=settings)
        for counts in store.results(namespace, wanted)
        if not counts.is_empty
    ]


def decision_entry(view: ExperimentView) -> dict[str, Any]:
    """One experiment of ``GET /decisions``: its name, lifecycle status (None
    without a definition), its decision and the per-goal lines."""
    return {
        "experiment": view.name,
        "status": view.definition.status if view.definition else None,
        "decision": view.decision.to_dict(),
        "decisions": [line.to_dict() for line in view.decisions],
    }


def decisions_document(namespace: str, views: Iterable[ExperimentView]) -> dict[str, Any]:
    """The answer of ``GET /decisions`` (and ``lamed results --json``)."""
    return {"namespace": namespace, "experiments": [decision_entry(view) for view in views]}


def experiment_decision(counts: ExperimentCounts, definition: Optional[Definition], settings: Settings) -> dict:
    """The decision object of one experiment, as ``GET /experiments/{name}`` carries it."""
    return experiment_view(counts, definition=definition, settings=settings).decision.to_dict()

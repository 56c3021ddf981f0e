"""Bounds on everything an anonymous client can invent, and the strict mode
of an allow-list of namespaces.

Each bound is a setting (``max_*``) that counts what exists in Redis (the
registry sets of :mod:`lamed.core.keys`), so it holds across processes and
restarts. Concurrent first events may pass together, so a limit can be
overshot by a few: it guards the key space against abuse, it is not a
quota. An event over a limit is refused before anything is written for it:
its outcome is a :class:`~lamed.core.errors.LimitExceeded` naming the
setting that raises the limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from lamed.core.errors import LimitExceeded
from lamed.core.events import PARTICIPATE, Event
from lamed.core.keys import KeySchema
from lamed.core.settings import ENV_PREFIX, Settings

# Runs commands in one round trip and returns their replies (the tracker's exchange).
Run = Callable[[Sequence[tuple[object, ...]]], list[Any]]

_REMEMBERED = 100_000  # events' names known to be within the limits: bounded memory in a long-lived process


class Bound(NamedTuple):
    """One dimension: the set ``key(event)`` may hold at most ``limit`` members."""

    setting: str
    what: str  # the plural noun, for the message
    field: str  # the event field a client changes to invent one
    limit: int
    key: Callable[[Event], bytes]
    member: Callable[[Event], Any]  # None: the event adds nothing to this set


def bounds(keys: KeySchema, settings: Settings) -> tuple[Bound, ...]:
    return (
        Bound("max_namespaces", "namespaces", "namespace", settings.max_namespaces,
              lambda e: keys.namespaces, lambda e: e.namespace),
        Bound("max_experiments", "experiments", "experiment", settings.max_experiments,
              lambda e: keys.experiment_index, lambda e: keys.experiment_index_member(e.namespace, e.experiment)),
        Bound("max_experiments_per_namespace", "experiments in the namespace", "experiment",
              settings.max_experiments_per_namespace,
              lambda e: keys.experiments_key(e.namespace), lambda e: e.experiment),
        Bound("max_variants_per_experiment", "variants in the experiment", "variant",
              settings.max_variants_per_experiment,
              lambda e: keys.variants_key(e.namespace, e.experiment), lambda e: e.variant),
        Bound("max_goals_per_experiment", "goals in the experiment", "event", settings.max_goals_per_experiment,
              lambda e: keys.goals_key(e.namespace, e.experiment),
              lambda e: None if e.event == PARTICIPATE else e.event),
    )  # fmt: skip


def refused(bound: Bound) -> LimitExceeded:
    """The one refusal of every limit: which, and the setting that raises it."""
    env = ENV_PREFIX + bound.setting.upper()
    return LimitExceeded(
        f"limit reached: {bound.limit} {bound.what} already exist; {bound.setting} ({env}) raises it",
        bound.field,
        setting=bound.setting,
    )


class KeySpaceLimits:
    """Which events of a batch are over a limit, and the registry entries of
    those that are not. Costs one round trip the first time this process
    sees an event's names (two when a name is new to Redis too), none after."""

    def __init__(self, keys: KeySchema, settings: Settings) -> None:
        self.bounds = bounds(keys, settings)
        self.allowed_namespaces = frozenset(settings.allowed_namespaces)
        self._within: set[tuple[str, ...]] = set()

    def admit(self, events: Sequence[Event], run: Run) -> dict[int, LimitExceeded]:
        """Index of each refused event -> why. New names earlier in the batch
        count too, so one batch cannot jump a limit. The names of the events
        admitted are in the registry when this returns: an event is listed
        before it can be counted."""
        found = {index: _not_allowed() for index, e in enumerate(events) if not self._allowed(e)}
        unseen = [i for i, e in enumerate(events) if i not in found and _names(e) not in self._within]
        if not unseen:
            return found
        members, sizes = self._read([events[i] for i in unseen], run)
        added: dict[bytes, set[Any]] = defaultdict(set)
        for index in unseen:
            event = events[index]
            adding = []
            for bound in self.bounds:
                key, member = bound.key(event), bound.member(event)
                if member is None or members[key, member] or member in added[key]:
                    continue
                if sizes[key] + len(added[key]) >= bound.limit:
                    found[index] = refused(bound)
                    break
                adding.append((key, member))
            else:
                for key, member in adding:
                    added[key].add(member)
        registrations = [(b"SADD", key, *members) for key, members in added.items() if members]
        if registrations:
            run(registrations)
        for index in unseen:
            if index not in found:
                self._remember(events[index])
        return found

    def registrations(self, events: Sequence[Event]) -> list[tuple[object, ...]]:
        """The commands that list ``events``' names in the registry sets."""
        return [
            (b"SADD", bound.key(event), member)
            for event in events
            for bound in self.bounds
            if (member := bound.member(event)) is not None
        ]

    def _allowed(self, event: Event) -> bool:
        return not self.allowed_namespaces or event.namespace in self.allowed_namespaces

    def _read(self, events: list[Event], run: Run) -> tuple[dict[tuple[bytes, Any], bool], dict[bytes, int]]:
        """Whether each name is known, and each set's size, in one round trip."""
        pairs = list(
            dict.fromkeys((b.key(e), b.member(e)) for e in events for b in self.bounds if b.member(e) is not None)
        )
        sets = list(dict.fromkeys(key for key, _ in pairs))
        replies = run([(b"SISMEMBER", key, member) for key, member in pairs] + [(b"SCARD", key) for key in sets])
        members = {pair: bool(reply) for pair, reply in zip(pairs, replies)}
        sizes = {key: int(reply) for key, reply in zip(sets, replies[len(pairs) :])}
        return members, sizes

    def _remember(self, event: Event) -> None:
        if len(self._within) > _REMEMBERED:
            self._within.clear()
        self._within.add(_names(event))


def _names(event: Event) -> tuple[str, ...]:
    """What the limits judge of an event: its names (not its uuid or value)."""
    return event[:4]


def _not_allowed() -> LimitExceeded:
    return LimitExceeded(
        "namespace is not in allowed_namespaces (LAMED_ALLOWED_NAMESPACES)", "namespace", setting="allowed_namespaces"
    )

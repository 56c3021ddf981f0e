"""Experiment definitions in Redis (one hash, see :mod:`lamed.core.keys`):
written here through redis-py; running handlers read them through the
process's :class:`lamed.core.lifecycle.DefinitionsSnapshot`."""

from __future__ import annotations

from typing import Any, Callable, Optional

from lamed.core.definitions import Definition, decode, decode_or_none, encode
from lamed.core.errors import DefinitionExists, DefinitionNotFound, StoreUnavailable
from lamed.core.keys import KeySchema, definition_field, parse_definition_field
from lamed.store.redis_client import redis_trouble

# Compare-and-set of one hash field: single-key, so it runs on Redis Cluster too.
_REPLACE_IF_UNCHANGED = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"""


class DefinitionStore:
    """Definitions in Redis, under ``keys``' prefix. Redis trouble surfaces
    as StoreUnavailable."""

    def __init__(self, client: Any, keys: KeySchema) -> None:
        self.client = client
        self.key = keys.definitions
        self.trouble = redis_trouble()

    def get(self, namespace: str, name: str) -> Optional[Definition]:
        raw = self._call(self.client.hget, self.key, definition_field(namespace, name))
        return None if raw is None else decode(name, raw)

    def all(self) -> dict:
        """Every valid definition: ``{(namespace, name): Definition}``; one
        that no longer validates is skipped with a warning."""
        stored = self._call(self.client.hgetall, self.key)
        found = {}
        for raw_field, raw in stored.items():
            namespace, name = parse_definition_field(raw_field)
            definition = decode_or_none(name, raw)
            if definition is not None:
                found[(namespace, name)] = definition
        return found

    def list(self, namespace: str) -> list:
        everything = self.all()
        return [everything[key] for key in sorted(everything) if key[0] == namespace]

    def create(self, namespace: str, definition: Definition) -> None:
        field_name = definition_field(namespace, definition.name)
        if not self._call(self.client.hsetnx, self.key, field_name, encode(definition)):
            raise DefinitionExists(f"experiment {definition.name!r} already has a definition")

    def put(self, namespace: str, definition: Definition) -> bool:
        """Creates or replaces; True if it was created."""
        field_name = definition_field(namespace, definition.name)
        return bool(self._call(self.client.hset, self.key, field_name, encode(definition)))

    def update(self, namespace: str, name: str, change: Callable[[Definition], Definition]) -> Definition:
        """Applies ``change`` to the stored definition, retrying if a concurrent
        writer changed it in between (compare-and-set)."""
        field_name = definition_field(namespace, name)
        for _ in range(10):
            raw = self._call(self.client.hget, self.key, field_name)
            if raw is None:
                raise DefinitionNotFound(f"experiment {name!r} has no definition")
            changed = change(decode(name, raw))
            replaced = self._call(
                self.client.eval, _REPLACE_IF_UNCHANGED, 1, self.key, field_name, raw, encode(changed)
            )
            if replaced:
                return changed
        raise StoreUnavailable("definition changed concurrently too often; retry")

    def delete(self, namespace: str, name: str) -> bool:
        return bool(self._call(self.client.hdel, self.key, definition_field(namespace, name)))

    def _call(self, operation: Callable[..., Any], *args: Any) -> Any:
        with self.trouble:
            return operation(*args)

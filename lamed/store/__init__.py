"""Lamed's data through redis-py: results, definitions writes, Redis Cluster,
export and import."""

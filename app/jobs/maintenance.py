"""Periodic upkeep run by the worker's sweeper thread."""
from ..services import sweeper


def sweep() -> dict:
    return sweeper.sweep()

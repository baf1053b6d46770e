"""The broker's HTTP resources: the only part of the broker that knows FastAPI.

Each resource module parses a request, calls the broker's services and stores
below, renders HAL and answers; ``install_broker`` mounts them all.
"""

from contracts.broker.resources._install import install_broker

__all__ = ["install_broker"]

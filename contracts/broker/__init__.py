"""Covenant's contract broker on PostgreSQL, speaking the Pact Broker HTTP API."""

from contracts.broker._db import BrokerDatabase, migrate
from contracts.broker._queries import latest_contracts
from contracts.broker.api import install_broker

__all__ = ["BrokerDatabase", "install_broker", "latest_contracts", "migrate"]

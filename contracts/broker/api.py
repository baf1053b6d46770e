"""The broker's face for the shell: mount it on an application."""

from contracts.broker.resources import install_broker

__all__ = ["install_broker"]

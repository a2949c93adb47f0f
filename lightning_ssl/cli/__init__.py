"""Command-line interface: ``lightning-ssl``."""

from lightning_ssl.cli.main import main

__all__ = ["main"]

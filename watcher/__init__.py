"""grok-usage-watcher: warns Grok Build users before their usage limit surprises them."""

__version__ = "0.1.0"

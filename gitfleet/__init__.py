"""gitfleet: many coding agents, one git repository, no collisions."""

__version__ = "0.1.0"

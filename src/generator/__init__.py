"""betagen: answers → plan → rendered beta repository."""

__version__ = "0.1.0"

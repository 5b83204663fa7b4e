"""cascade-rt: streaming ingestion on an in-process actor model."""

__version__ = "0.1.0"

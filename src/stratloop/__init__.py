"""stratloop: an autonomous learning loop that discovers trading strategies.

The configuration you wrote is exactly what runs, every decision is on record,
and every change can be rolled out and rolled back behind feature flags.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

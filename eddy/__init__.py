"""Eddy: real-time scoring and online learning on event streams.

This tiny package holds only what every other package shares: the root error and the version.
"""

from eddy.errors import EddyError

__all__ = ["EddyError", "__version__"]
__version__ = "0.1.0"

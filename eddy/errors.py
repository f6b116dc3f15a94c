"""The root of Eddy's exception hierarchy.

Each package (`features`, `learners`, `schemas`, `analytics`, `streams`) declares its own
`exceptions.py` with one-line subclasses of `EddyError`. Messages say what to do.
"""


class EddyError(Exception):
    """Base class of every error Eddy raises on purpose."""

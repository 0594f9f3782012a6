"""User-facing errors.

Every problem a user can cause (a malformed file, an impossible setting) is raised as a
:class:`ReplicationError`. The command line prints its message and exits with code 2,
without a traceback; library callers can catch it like any other exception.
"""

from __future__ import annotations


class ReplicationError(Exception):
    """A problem with the user's input, with a message that says where and what.

    Parameters
    ----------
    message : str
        The full message. By convention it starts with the file it is about and, where
        one applies, the row and column.
    """

    exit_code = 2


def location(path, row: int | None = None, column: str | None = None) -> str:
    """Format ``file, row R, column 'C'`` for the start of an error message."""
    parts = [str(path)]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)

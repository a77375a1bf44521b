"""The one error type commands report as a single line (bad input, never a bug)."""


class UserError(Exception):
    """Bad input from the user: a path, a value, a file. Reported without a traceback."""

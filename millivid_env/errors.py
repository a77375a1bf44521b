"""The one error type commands report as a single line (bad input, never a bug)."""


class UserError(ValueError):
    """Bad input from the user: a path, a value, a file, an action. `millivid` reports it in one
    line; any other exception is a bug and keeps its traceback. A ValueError, as Gymnasium and
    NumPy raise for bad arguments, so callers catching those catch it too."""

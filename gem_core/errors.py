"""The one exception type for errors a user can cause (bad file, wrong shape, missing weights, ...)."""


class GemError(Exception):
    """A problem the user can fix. The message says what is wrong and what to do.

    Code that catches it shows ``str(err)`` to the user (UI, CLI ``error:`` line); anything else that
    escapes is a bug.
    """

"""The one error type the user sees as a one-line message (CLI exit 2, a UI notice).

Each stage nests its own subclasses (e.g. `Index.Missing`, `LLM.ModelMissing`); anything
that is not a `TutorError` is a bug and exits 1.
"""


class TutorError(Exception):
    """A user-fixable problem: bad input or configuration. `str(e)` says how to fix it."""

    exit_code = 2

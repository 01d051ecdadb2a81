"""The one error type a user can cause: the CLI prints its message, no traceback."""


class MnistlabError(Exception):
    """A problem with the user's input or environment, described in one line."""

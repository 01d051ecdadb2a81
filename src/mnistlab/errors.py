"""The one error type a user can cause: the CLI prints its message, no traceback."""


class MnistlabError(Exception):
    """A problem with the user's input or environment, described in one line."""


def cannot_write(error: OSError, fix: str) -> MnistlabError:
    """An OSError while writing (a full disk, a read-only folder...) as one line: what
    happened, to which file, and `fix`, what to do."""
    reason = error.strerror or str(error)
    reason = reason[:1].lower() + reason[1:]  # "No space left on device" inside a sentence
    return MnistlabError(f"{reason} while writing {error.filename}: {fix}")

"""The one error type that LTSI raises for input a user can fix."""


class LTSIError(ValueError):
    """Unrecoverable input or request, with a message a non-programmer can act on.

    The message is one or two plain sentences: what is wrong and what to do about it.
    It never contains a stack trace; callers (CLI, dashboard) show `str(error)` as is.
    """


def one_line_error(message: str) -> LTSIError:
    """LTSIError on one line, even when a column or file name holds a line break."""
    return LTSIError(" ".join(message.split()))

"""What ganlab calls a user-input error (one place; the CLIs decide how it is shown, cli/errors.py).

A user-input error is
  * a `ConfigError` or a `BadFile`, wherever it is raised (a ValueError, so callers and tests can keep catching
    ValueError), or
  * a ValueError / TypeError / FileNotFoundError / NotADirectoryError raised inside a `user_input()`
    block: building components from the config, reading a run directory, parsing paths.
A `Fault` (a full disk, a diverged loss) is no one's input error and no bug: the CLIs show it as one line too.
Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import contextlib

USER_INPUT_TYPES = (ValueError, TypeError, FileNotFoundError, NotADirectoryError)
_MARK = "_ganlab_user_input"


class ConfigError(ValueError):
    """A bad configuration or command-line value: the message names the key, the value and the choices."""


class BadFile(ValueError):
    """A file the user named, or one a run directory keeps, that cannot be used (a corrupt or foreign
    checkpoint): the message names the file, what is wrong with it and what to do instead."""


class Fault(RuntimeError):
    """A run stopped by its circumstances (a full disk, a loss that diverged), not by a bad value or a bug: the
    message says what happened, what is kept and what to do."""


class NoSpace(Fault):
    """A write failed because the disk (or the quota) is full; the file being written was left as it was."""

    def __init__(self, path):
        self.path = path
        super().__init__(f"no space left on {path.parent} (writing {path.name}; nothing was left half-written); "
                         f"free some space and run the same command again: it resumes from checkpoints/last.pt "
                         f"when the run has one")


@contextlib.contextmanager
def user_input():
    """Exceptions of USER_INPUT_TYPES raised inside are user-input errors (their type is kept)."""
    try:
        yield
    except USER_INPUT_TYPES as e:
        setattr(e, _MARK, True)
        raise


def is_user_error(e: BaseException) -> bool:
    return isinstance(e, (ConfigError, BadFile)) or (isinstance(e, USER_INPUT_TYPES) and getattr(e, _MARK, False))

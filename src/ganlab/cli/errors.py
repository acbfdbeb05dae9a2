"""How every ganlab-* command shows an error: a user-input error (ganlab.errors) or a Hydra
composition error is one line, `ganlab-<cmd>: error: <message>` on stderr, exit status 2 (as
argparse does for bad arguments); a fault (full disk, diverged loss) is one such line with exit status 1; a bug keeps its full traceback. HYDRA_FULL_ERROR=1 shows the
traceback of every error."""
from __future__ import annotations

import functools
import os
import re
import sys
from typing import Callable

from hydra.errors import CompactHydraException

from ganlab.errors import Fault, is_user_error

EXIT_USAGE = 2
EXIT_FAULT = 1   # the run failed, as a crash does, but with one line that says why
_SHOW_TRACE = {"value": None}   # the user's HYDRA_FULL_ERROR, before a Hydra entry point forces it on


def full_errors() -> bool:
    if _SHOW_TRACE["value"] is not None:
        return _SHOW_TRACE["value"]
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def one_line(e: BaseException) -> str:
    message = str(e).strip()
    if isinstance(e, CompactHydraException):
        message = hydra_line(message, e.__cause__)
    return message


def hydra_line(message: str, cause: BaseException | None) -> str:
    """Hydra's composition errors in one line: no config search path, the options of a group as a list, and for
    a key that does not exist, no hint to add it with + (the component would then ignore it or fail later)."""
    message = message.split("\nConfig search path:")[0].rstrip()
    unknown = re.match(r"Could not override '([^']+)'\.", message)
    if unknown and "not in struct" in str(cause):
        key = unknown.group(1)
        if re.match(r"model\.[gd]\.", key):   # model=pair's halves list only `name`: the model's other keys are added
            return (f"model=pair's halves take their model's keys with +: +{key}={message.rsplit('=', 1)[-1]} "
                    f"(a key that model lacks is refused when it is built)")
        return f"unknown key {key}={message.rsplit('=', 1)[-1]} (misspelt?); ganlab-train --cfg job lists the keys there are"

    def options(m: re.Match) -> str:
        names = [n.strip() for n in m.group(2).splitlines() if n.strip() and not n.strip().startswith("_")]
        return f"available options in '{m.group(1)}': {', '.join(names)}"
    message = re.sub(r"Available options in '([^']+)':\n((?:\t[^\n]*(?:\n|$))*)", options, message)
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def exit_on_user_error(prog: str, e: BaseException) -> None:
    """Print `prog: error: message` and exit 2 for a user error, exit 1 for a fault (a full disk, a diverged
    loss: ganlab.errors.Fault); return (to re-raise) for a bug."""
    if full_errors():
        return
    if isinstance(e, Fault):
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        sys.exit(EXIT_FAULT)
    if not (is_user_error(e) or isinstance(e, CompactHydraException)):
        return
    print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def command(prog: str, hydra: bool = False) -> Callable:
    """Decorate a CLI's main so user errors become one line and exit 2.

    For a Hydra entry point (hydra=True) Hydra is told to re-raise (HYDRA_FULL_ERROR=1 inside this
    process only), so its composition errors ("Could not find 'model/bigan'") reach this one
    formatter instead of Hydra's own printer; the user's own setting decides whether traces show.
    """
    def wrap(main: Callable) -> Callable:
        @functools.wraps(main)
        def run(*args, **kwargs):
            saved = os.environ.get("HYDRA_FULL_ERROR")
            if hydra:
                _SHOW_TRACE["value"] = saved == "1"
                os.environ["HYDRA_FULL_ERROR"] = "1"
            try:
                return main(*args, **kwargs)
            except Exception as e:
                exit_on_user_error(prog, e)
                raise
            finally:
                if hydra:
                    _SHOW_TRACE["value"] = None
                    if saved is None:
                        os.environ.pop("HYDRA_FULL_ERROR", None)
                    else:
                        os.environ["HYDRA_FULL_ERROR"] = saved
        return run
    return wrap

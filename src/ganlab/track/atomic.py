"""Writing a run's files so that a crash or a full disk never leaves a truncated one: a file is written to a
temporary name beside it and renamed over it; an append that fails is cut back to where it started. A full
disk becomes one NoSpace error naming the folder."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ganlab.errors import NoSpace

LOW = 2 ** 20   # bytes free under which a failed write is taken for a full disk (torch's writer reports no errno)


def no_space(e: BaseException, folder: Path) -> bool:
    """ENOSPC (or EDQUOT) anywhere in the exception's chain, or a folder left with under LOW bytes free."""
    seen = e
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(folder).free < LOW
    except OSError:
        return False


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write `path`'s new content to; on success it replaces `path` at once, on any
    failure it is removed and `path` is left as it was. The temporary name keeps the suffix (PIL and matplotlib
    choose the format by it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        if no_space(e, path.parent):   # judged before the temporary file frees its space
            raise NoSpace(path) from e
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def appending(path: Path) -> Iterator[IO[str]]:
    """`path` opened for appending text; when the write fails, the file is cut back to its size before."""
    path = Path(path)
    size = path.stat().st_size if path.exists() else 0
    try:
        with open(path, "a") as f:
            yield f
    except OSError as e:
        with open(path, "r+") as f:
            f.truncate(size)
        if no_space(e, path.parent):
            raise NoSpace(path) from e
        raise

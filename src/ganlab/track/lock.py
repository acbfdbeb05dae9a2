"""One ganlab-train per run directory: RUN/.lock is held (flock) by the process that writes the run and
names it (pid, host, start time).

A second ganlab-train into a live run directory stops with one line naming that process, before it writes
anything there. The kernel drops the lock of a process that dies, even by kill -9: its .lock is then stale,
and the next run takes it over and says so. The file stays when a run ends (removing it would let a waiting
process lock a file that is no longer the directory's); an empty or stale one means the directory is free.
Over NFS, flock is shared between hosts on Linux; a lock written on another host that this host could take
is taken over the same way, with the other host named."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ganlab.errors import ConfigError

LOCK = ".lock"


def _holder(f) -> dict:
    f.seek(0)
    try:
        return json.loads(f.read() or "{}")
    except json.JSONDecodeError:
        return {}


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold RUN/.lock while the block runs; a ConfigError (one line) when another live process holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    f = open(run_dir / LOCK, "a+")
    try:
        for attempt in range(20):
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(f)
                if holder or attempt == 19:   # empty: the holder has not written its name yet
                    raise ConfigError(
                        f"hydra.run.dir={run_dir} is in use by another ganlab-train (pid {holder.get('pid', '?')} "
                        f"on {holder.get('host', '?')}, started {holder.get('started', '?')}); wait for it or stop "
                        f"it, or choose another hydra.run.dir") from None
                time.sleep(0.05)
        old, me = _holder(f), {"pid": os.getpid(), "host": socket.gethostname(),
                               "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        if old.get("pid"):   # its process ended without releasing the lock (kill -9, a lost node)
            where = "" if old.get("host") == me["host"] else f" on {old.get('host')}"
            print(f"[ganlab] {run_dir / LOCK} was left by pid {old['pid']}{where}, which no longer holds it: "
                  f"taking it over", file=sys.stderr)
        f.seek(0)
        f.truncate()
        f.write(json.dumps(me))
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()   # released: the next run finds an empty lock
            f.flush()
    finally:
        f.close()   # drops the flock

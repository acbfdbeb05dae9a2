"""Starting the ranks: reading them from torchrun's or SLURM's environment, SLURM's rendezvous, and
`launch()`, which starts N local processes for `ganlab-train hardware.devices=N` (it sets torchrun's
variables, so each rank joins the group exactly as under torchrun). train/distributed.py's `Dist` is what a
running rank knows about the others."""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torch.distributed as dist


def ranks_from_env(env=None) -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from torchrun's or SLURM's variables; None for a single process."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env and "RANK" in env:
        ranks = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0))
    elif "SLURM_PROCID" in env:   # srun's step size first: a batch script's own shell is one task
        world = int(env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or 1)
        ranks = int(env["SLURM_PROCID"]), world, int(env.get("SLURM_LOCALID", 0))
    else:
        return None
    return ranks if ranks[1] > 1 else None


def slurm_rendezvous(env=None) -> None:
    """MASTER_ADDR / MASTER_PORT for SLURM tasks: the job's first host, a port derived from the job id."""
    env = os.environ if env is None else env
    if "MASTER_ADDR" not in env:
        nodes = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST", "127.0.0.1")
        try:
            out = subprocess.run(["scontrol", "show", "hostnames", nodes], capture_output=True, text=True, check=True)
            env["MASTER_ADDR"] = out.stdout.split()[0]
        except (OSError, subprocess.CalledProcessError, IndexError):
            env["MASTER_ADDR"] = nodes.split(",")[0]   # a plain list such as "node1,node2"
    env.setdefault("MASTER_PORT", str(20000 + int(env.get("SLURM_JOB_ID", 0)) % 20000))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(index: int, fn, args: tuple, world: int, port: int, errors: str) -> None:
    os.environ.update(RANK=str(index), LOCAL_RANK=str(index), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if "OMP_NUM_THREADS" not in os.environ:   # as torchrun does: N ranks share the cores, not N x all of them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    try:
        fn(*args)
    except BaseException:
        # when is part of the record: a crash makes its peers fail too ("connection closed by peer"),
        # always later, and launch() reports the first failure, the cause
        (Path(errors) / str(index)).write_text(f"{time.time()}\n{traceback.format_exc()}")
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def first_failure(errors: str) -> tuple[int, str] | None:
    """(rank, traceback) of the rank that failed first, from the files _rank_main writes."""
    found = []
    for f in Path(errors).iterdir():
        when, _, trace = f.read_text().partition("\n")
        found.append((float(when), int(f.name), trace))
    return min(found)[1:] if found else None


class RankFailed(RuntimeError):
    pass


def launch(nprocs: int, fn, args: tuple = ()) -> None:
    """Run fn(*args) in nprocs fresh processes on this machine, one rank each. When one rank fails the
    others are stopped at once and RankFailed names it and carries its traceback."""
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory(prefix="ganlab-ranks-") as errors:
        try:
            mp.start_processes(_rank_main, args=(fn, args, nprocs, free_port(), errors), nprocs=nprocs,
                               start_method="spawn")
            return
        except mp.ProcessRaisedException as e:
            rank, trace = first_failure(errors) or (e.error_index, e.msg)
            raise RankFailed(f"rank {rank} of {nprocs} failed and the other ranks were stopped; "
                             f"its error:\n{trace.strip()}") from None
        except mp.ProcessExitedException as e:
            raise RankFailed(f"rank {e.error_index} of {nprocs} died ({e.signal_name or f'exit code {e.exit_code}'}) "
                             f"and the other ranks were stopped") from None


def rank_overrides(argv: list[str], env=None) -> list[str]:
    """Hydra overrides for ranks > 0 of a torchrun/srun launch: no dated output directory, no .hydra/,
    no log file of their own (rank 0 broadcasts its run directory once the process group is up)."""
    ranks = ranks_from_env(env)
    if ranks is None or ranks[0] == 0:
        return []
    given = {a.split("=", 1)[0].lstrip("+~") for a in argv}
    groups = [f"{k}=disabled" for k in ("hydra/job_logging", "hydra/hydra_logging") if k not in given]
    return ["hydra.run.dir=.", "hydra.output_subdir=null", *groups]   # the last value of a key wins

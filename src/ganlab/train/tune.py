"""hardware.tune: the memory format and compilation chosen by timing the run's own step (DESIGN.md, "Diagnosis
and measured settings").

Before training, each candidate trains a few iterations on a deep copy of the run's parts (networks,
regularizers and their heads, optimizers, schedules, statistics channel) fed one fixed real batch, inside a
forked RNG: the run itself starts from exactly the state it would have had without tuning, and only the
memory format and compilation of its modules change, which change the math by float rounding only.
Candidates run in alternating blocks, so that a shared machine's drift hits them alike, and each keeps the
median of its blocks. Precision is never a candidate: bf16 and fp16 are the user's choice.

    candidates: channels_last off and on; then compile on top of the faster one, only where the run is long
                enough for a compile to pay back (COMPILE_MIN_S), and chosen only if its measured compile time
                is won back within the remaining steps.

The timings and the choice go to RUN_DIR/tune.json; a resumed run reuses that choice, so it computes what it
started computing.
"""
from __future__ import annotations

import copy
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ganlab.track.atomic import replacing
from ganlab.train.hardware import Hardware
from ganlab.train.outputs import RunOptions
from ganlab.train.settings import TrainSettings
from ganlab.train.trainer import Parts, Trainer

WARMUP = 2      # untimed iterations per candidate: the first allocates (and compiles), the second settles
BLOCK = 2       # iterations per timed block
REPEATS = 5     # timed blocks per candidate, alternating between candidates (on the shared 2-core machine, 3-step
                # blocks of dcgan_digits ranged 146-325 ms: one block decides nothing, a median of five steadies it)
# Tuning runs at most this share of the run's own iterations (2 candidates: 24 iterations, so runs of at
# least 480 steps are tuned; the default digits run has 2,000, and channels_last alone gained more there).
MAX_SHARE = 0.05
# Compile is tried only where the rest of the run, eager, takes at least this long. Inductor compiled
# dcgan_digits' step in 151 s and biggan_augself_apa_digits' in 272 s on this 2-core CPU (one thread, under
# load; docs/speed.md), for 0.3% and 4% faster steps; a tried compile that is not chosen is lost time, so it
# is tried only where that costs at most ~15% of the run. On a GPU a compile takes tens of seconds.
COMPILE_MIN_S = 1800.0


@dataclass(frozen=True)
class Candidate:
    channels_last: bool
    compile: bool

    @property
    def name(self) -> str:
        return "+".join(n for n, on in (("channels_last", self.channels_last), ("compile", self.compile)) if on) or "plain"


class FixedBatch:
    """One real batch of the run's own data, again and again: a step's time does not depend on which images it
    sees. Drawn with the data's position saved and restored, so the run's first batch is unchanged."""

    def __init__(self, batches):
        position = batches.state_dict()
        self.batch = batches.next()
        batches.load_state_dict(position)
        self.data = batches.data   # the data set (the trainer counts epochs over it)

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.batch


def iteration(t: Trainer) -> None:
    """One training iteration as Trainer.fit's loop runs it, less logging, samples, checkpoints and the finiteness
    check (its queue is dropped): what the tuner and `ganlab-bench step` time."""
    t.iteration()
    t._watch.clear()


class Trial:
    """One candidate's trainer on its own deep copy of the parts, and its timings."""

    def __init__(self, cand: Candidate, parts: Parts, stats, settings: TrainSettings, hw: Hardware, scratch: Path):
        self.cand, self.hw = cand, replace(hw, channels_last=cand.channels_last, compile=cand.compile)
        batch = FixedBatch(parts.data)
        # one deepcopy for everything, so the copies keep their links (optimizers -> parameters, regularizers ->
        # D, G and the statistics channel); the data is the fixed batch, not a copy of the data set
        parts, stats = copy.deepcopy((parts, stats), memo={id(parts.data): batch})
        for m in (parts.g, parts.d, *parts.regs):
            self.hw.place(m)
        self.trainer = Trainer(parts, settings, self.hw, RunOptions(scratch, progress=False), stats=stats)
        self.warmup_s, self.blocks = 0.0, []

    def run(self, n: int) -> float:
        """Seconds for n iterations (device work included)."""
        sync = torch.cuda.synchronize if self.hw.device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            iteration(self.trainer)
        sync()
        return time.perf_counter() - t0

    def warm(self) -> None:
        self.warmup_s = self.run(WARMUP)

    def block(self) -> None:
        self.blocks.append(self.run(BLOCK) / BLOCK)

    @property
    def step_s(self) -> float:
        return statistics.median(self.blocks)

    @property
    def compile_s(self) -> float:
        """What the warm-up took beyond its iterations' steady time: the compile (and first allocations)."""
        return max(0.0, self.warmup_s - WARMUP * self.step_s)

    def record(self) -> dict:
        return {"channels_last": self.cand.channels_last, "compile": self.cand.compile, "step_s": self.step_s,
                "blocks_s": self.blocks, "warmup_s": self.warmup_s}


def race(trials: list[Trial]) -> None:
    for t in trials:
        t.warm()
    for _ in range(REPEATS):
        for t in trials:
            t.block()


def with_compile(best: Trial, parts: Parts, stats, settings: TrainSettings, hw: Hardware, scratch: Path,
                 steps_left: int) -> tuple[Trial | None, str]:
    """The compiled candidate (best's memory format), raced against best; -> (its trial, or None where compiling
    failed, and what happened, for tune.json). A compile that fails costs the run its time, not the run."""
    try:
        compiled = Trial(Candidate(best.cand.channels_last, True), parts, stats, settings, hw, scratch)
        race([best, compiled])   # best gets more blocks beside the compiled one, under the same load
    except Exception as e:   # noqa: BLE001 (any backend error: the eager candidates stand)
        first = (str(e).strip().splitlines() or [""])[0][:200]
        return None, f"tried and failed ({type(e).__name__}: {first})"
    gain_s = steps_left * (best.step_s - compiled.step_s)
    return compiled, (f"tried: compile took {compiled.compile_s:.1f} s, the steps {best.step_s * 1e3:.2f} -> "
                      f"{compiled.step_s * 1e3:.2f} ms, {gain_s:.1f} s won back over {steps_left} steps")


def measure(parts: Parts, stats, settings: TrainSettings, hw: Hardware, steps_left: int,
            allow_compile: bool = True) -> dict:
    """Time the candidates on copies of the parts; -> tune.json's record (the chosen settings under "chosen").
    Everything the run owns is as it was: the copies are thrown away and the RNG is forked."""
    devices = [hw.device] if hw.device.type == "cuda" else []
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=devices), tempfile.TemporaryDirectory(prefix="ganlab-tune-") as scratch:
        eager = [Trial(Candidate(cl, False), parts, stats, settings, hw, Path(scratch)) for cl in (False, True)]
        race(eager)
        best = min(eager, key=lambda t: t.step_s)
        trials = list(eager)
        rest_s = steps_left * best.step_s
        if not allow_compile:
            compile_note = "not tried: hardware.compile_backend is not available"
        elif rest_s < COMPILE_MIN_S:
            compile_note = (f"not tried: the rest of the run takes about {rest_s:.0f} s eager, under the "
                            f"{COMPILE_MIN_S:.0f} s a tried compile needs to be worth its cost")
        else:
            compiled, compile_note = with_compile(best, parts, stats, settings, hw, Path(scratch), steps_left)
            if compiled is not None:
                trials.append(compiled)
                if steps_left * (best.step_s - compiled.step_s) > compiled.compile_s:
                    best = compiled
        for t in trials:
            del t.trainer   # the copies go before the run's own trainer is built
    return {"mode": "auto", "tuned": True, "device": str(hw.device), "threads": torch.get_num_threads(),
            "precision": hw.precision, "steps_left": steps_left,
            "candidates": [t.record() for t in trials], "compile": compile_note,
            "chosen": {"channels_last": best.cand.channels_last, "compile": best.cand.compile},
            "cost_s": time.perf_counter() - t0}


def choose(parts: Parts, stats, settings: TrainSettings, hw: Hardware, run_dir: Path, *, resumed: bool,
           distributed: bool = False, main: bool = True) -> Hardware:
    """The hardware the run trains with under hardware.tune (`hw` itself when off), its modules placed for it;
    called by build() after the parts exist and before the Trainer does."""
    if hw.tune == "off":
        return hw
    path = Path(run_dir) / "tune.json"
    configured = {"channels_last": hw.channels_last, "compile": hw.compile}
    if resumed:
        if path.is_file():
            record = json.loads(path.read_text())
            note = "the choice recorded when this run started (tune.json)"
        else:
            record = {"mode": hw.tune, "tuned": False, "chosen": configured}
            note = "not tuned: the run resumed without a tune.json, so it keeps the configured settings"
        return apply(parts, hw, record, path, note, write=False, main=main)
    tuning_steps = 2 * (WARMUP + REPEATS * BLOCK)
    if distributed:
        reason = "not tuned under DDP (ranks would time alone and could choose apart): the configured settings"
    elif settings.steps * MAX_SHARE < tuning_steps:
        reason = (f"not tuned: {settings.steps} steps is too short to pay for {tuning_steps} tuning iterations "
                  f"(runs of {int(tuning_steps / MAX_SHARE)}+ are tuned)")
    else:
        available = hw.compile_backend in torch._dynamo.list_backends(exclude_tags=())
        record = measure(parts, stats, settings, hw, settings.steps, allow_compile=available)
        times = ", ".join(f"{Candidate(c['channels_last'], c['compile']).name} {c['step_s'] * 1e3:.2f} ms"
                          for c in record["candidates"])
        note = f"{times}; compile {record['compile']}; tuning took {record['cost_s']:.1f} s"
        return apply(parts, hw, record, path, note, write=True, main=main)
    return apply(parts, hw, {"mode": hw.tune, "tuned": False, "chosen": configured}, path, reason, write=True, main=main)


def apply(parts: Parts, hw: Hardware, record: dict, path: Path, note: str, *, write: bool, main: bool) -> Hardware:
    chosen = replace(hw, **record["chosen"])
    for m in (parts.g, parts.d, *parts.regs):   # in place: the optimizers keep their parameters
        chosen.place(m)
    if main:
        if write:
            with replacing(path) as tmp:
                tmp.write_text(json.dumps({**record, "note": note}, indent=1) + "\n")
        flags = " ".join(f"{k}={str(v).lower()}" for k, v in record["chosen"].items())
        print(f"[ganlab] hardware.tune={hw.tune}: {flags} ({note})", flush=True)
    return chosen

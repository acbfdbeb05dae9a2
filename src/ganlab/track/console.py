"""What a run tells its user on the console: at the start where it writes, on what hardware and for how long;
one line per evaluation while it trains (above the progress bar); at the end its final and best results, the
doctor's verdict, where its files are and the next commands. Every line also goes to RUN/train.log, so the log
holds what the console showed. Only rank 0 speaks; nothing here changes training."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from tqdm import tqdm

PREFIX = "[ganlab] "


class Console:
    def __init__(self, run_dir: Path | None = None, enabled: bool = True):
        self.log = Path(run_dir) / "train.log" if run_dir is not None else None
        self.enabled = enabled

    def say(self, *lines: str) -> None:
        if not self.enabled:
            return
        for line in lines:
            tqdm.write(PREFIX + line, file=sys.stderr)   # above a running progress bar, which stays at the bottom
        if self.log is not None:
            try:
                with self.log.open("a") as f:
                    f.writelines(PREFIX + line + "\n" for line in lines)
            except OSError:   # a full disk or a vanished directory: the console still showed it; training goes on
                pass


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _g(v: float) -> str:
    """Three significant figures, no exponent for the values a run reports (0.0123, 43.0, 2,633)."""
    return f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3g}"


def fid_text(result: dict) -> str | None:
    """'digits FID 43.0 = 1.17x its floor 36.8 (95% CI 41.2-44.9)' from one evaluation, or None without a FID; a
    run on a fraction adds ', 1.05x its 90 training images' 41.0' (fid_train)."""
    fid = _num(result.get("fid"))
    if fid is None:
        return None
    extractor = (result.get("protocol") or {}).get("extractor", "")
    text = f"{extractor + ' ' if extractor and extractor != 'inception' else ''}FID {_g(fid)}"
    floor = _num(result.get("fid_floor"))
    if floor:
        text += f" = {fid / floor:.2f}x its floor {_g(floor)}"
    train, n = _num(result.get("fid_train")), result.get("fid_train_n")
    if train:   # a run on a fraction of the data: what copying its training images would score
        text += f", {fid / train:.2f}x its {n:,} training images' {_g(train)}"
    ci = result.get("fid_ci")
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_num(c) is not None for c in ci):
        text += f" ({round(100 * result.get('fid_ci_level', 0.95))}% CI {_g(ci[0])}-{_g(ci[1])})"
    return text


# what else an evaluation line shows, in this order, where the run measured it
OTHERS = (("class_acc", "class_acc"), ("class_recall", "class_recall"), ("is_mean", "IS"), ("kid", "KID"),
          ("precision", "precision"), ("recall", "recall"), ("d_accuracy", "D accuracy"))


def eval_text(result: dict) -> str:
    parts = [fid_text(result)] if fid_text(result) else []
    parts += [f"{label} {_g(_num(result[key]))}" for key, label in OTHERS if _num(result.get(key)) is not None]
    return ", ".join(parts) or "no metric"


def eval_line(result: dict) -> str:
    """One line per evaluation during the run."""
    return f"step {result.get('step')} ({_g(result.get('kimg', 0))} kimg): {eval_text(result)}"


def start_lines(run_dir: Path, device: str, hardware: str, steps: int, start: int, images_per_step: int,
                what: str) -> list[str]:
    """Where the run writes, what it trains on which hardware, and for how long."""
    kimg = steps * images_per_step / 1000
    length = f"{steps:,} steps of {images_per_step} real images ({_g(kimg)} kimg)"
    if start:
        length += f", resuming at step {start:,}"
    return [f"run directory {run_dir}", f"{what} on {device} ({hardware}); {length}"]


def end_lines(run_dir: Path, summary: dict, verdict: list[str], grid: Path | None) -> list[str]:
    """The result that matters, the doctor's verdict, where the files are and what to run next."""
    run_dir = Path(run_dir)
    minutes, seconds = divmod(round(summary.get("wall_time_s", 0)), 60)
    lines = [f"{summary.get('status', 'stopped')} at step {summary.get('step', 0):,} of {summary.get('steps', 0):,} "
             f"({_g(summary.get('images_seen', 0) / 1000)} kimg) in {minutes}m{seconds:02d}s"]
    final, best = summary.get("final_eval"), summary.get("best_eval")
    if final:
        lines.append(f"final (step {final.get('step')}): {eval_text(final)}")
    if best and final and best.get("step") != final.get("step"):
        lines.append(f"best (step {best.get('step')}): {fid_text(best)}")
    lines += verdict   # track/doctor's verdict_lines
    files = [f"plots {run_dir / 'plots'}", f"summary {run_dir / 'summary.json'}"]
    if grid is not None:
        files.insert(0, f"grid {grid}")
    lines.append("; ".join(files))
    lines.append(f"next: ganlab-sample {run_dir} --out SAMPLES_DIR | ganlab-report {run_dir} | "
                 f"ganlab-compare {run_dir} OTHER_RUN...")
    return lines

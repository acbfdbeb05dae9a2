"""Faults a user meets end in one line that says what happened and what to do, and lose nothing: a corrupt or
foreign checkpoint, a malicious pickle (never run), an unusable image, a full disk, a diverged loss, a second run into a live run directory, a refused resume."""
import errno
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import ganlab_train_here
from ganlab.errors import BadFile, ConfigError, NoSpace, is_user_error
from ganlab.train import checkpoint as ckpt

TINY = ["eval=none", "progress=false", "hardware=cpu", "train.batch_size=8", "dataset.image_size=16",
        "model.g_width=8", "model.d_width=8", "train.log_every=1", "train.sample_every=100"]


def cli(name: str, *args, env=None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name(name)
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0", **(env or {})})


def one_line_error(out: subprocess.CompletedProcess, prog: str) -> str:
    """The single stderr line of a refused command (exit status 2), without its `prog: error: ` start."""
    assert out.returncode == 2, out.stderr[-3000:]
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), out.stderr[-3000:]
    return lines[0][len(f"{prog}: error: "):]


def train_here(monkeypatch, capsys, *args, status: int = 2) -> str:
    """ganlab-train's main() in this process (conftest.ganlab_train_here; the console script's own process and
    exit status are test_errors.py's): the single stderr line of a command that stops with `status` (2: refused,
    1: a fault), without its `ganlab-train: error: ` start."""
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    code = ganlab_train_here(monkeypatch, *TINY, *map(str, args))
    err = capsys.readouterr().err
    assert code == status, err[-3000:]
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganlab-train: error: "), err[-3000:]
    return lines[0][len("ganlab-train: error: "):]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished 2-step run directory, made by ganlab-train (so it has .hydra/config.yaml), shared by the tests
    that copy it."""
    run_dir = tmp_path_factory.mktemp("faults") / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert ganlab_train_here(monkeypatch, *TINY, "train.steps=2", f"hydra.run.dir={run_dir}") == 0
    return run_dir


def copy_run(finished: Path, dst: Path) -> Path:
    shutil.copytree(finished, dst)
    return dst


class Malicious:
    """Unpickling this runs a shell command: ganlab must never do it."""
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def spoil(path: Path, how: str, tmp_path: Path) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "random bytes":
        path.write_bytes(os.urandom(4096))
    elif how == "malicious":
        torch.save({"g": Malicious(tmp_path / "PWNED"), "d": {}, "config": {}}, path)
    elif how == "malicious pickle":
        path.write_bytes(pickle.dumps({"g": Malicious(tmp_path / "PWNED")}))
    elif how == "pickled module":   # torch's refusal of an allowed-looking global carries ANSI bold codes
        torch.save({"g": torch.nn.Linear(2, 2)}, path)
    elif how == "foreign":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, path)


PROBLEMS = {"truncated": "truncated or corrupt", "empty": "empty (0 bytes)", "random bytes": "not a PyTorch checkpoint",
            "malicious": "would run code when unpickled", "malicious pickle": "not a PyTorch checkpoint",
            "pickled module": "holds a Python object (torch.nn.modules.linear.Linear) that would run code",
            "foreign": "not a ganlab checkpoint"}


@pytest.mark.parametrize("how", list(PROBLEMS))
def test_a_bad_checkpoint_is_one_user_error_naming_the_file_and_offering_best_pt(tmp_path, how):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"g": {}, "d": {}, "config": {}}, folder / "best.pt")
    torch.save({"g": {}, "d": {}, "config": {}}, folder / "last.pt")
    spoil(folder / "last.pt", how, tmp_path)
    with pytest.raises(BadFile) as e:
        ckpt.load(tmp_path, option="resume=", fresh="start afresh with resume=null")
    message = str(e.value)
    assert is_user_error(e.value) and "\n" not in message and "\x1b" not in message
    assert message.startswith(f"{folder / 'last.pt'}: ") and PROBLEMS[how] in message
    assert f"resume={folder / 'best.pt'}" in message and message.endswith("or start afresh with resume=null")
    assert "weights_only=False" not in message
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("how", ["random bytes", "truncated"])
def test_resume_from_a_corrupt_last_pt_is_refused_in_one_line(finished, tmp_path, monkeypatch, capsys, how):
    run_dir = copy_run(finished, tmp_path / "run")
    spoil(run_dir / "checkpoints" / "last.pt", how, tmp_path)
    message = train_here(monkeypatch, capsys, "train.steps=4", f"hydra.run.dir={run_dir}")
    assert message.startswith(f"{run_dir / 'checkpoints' / 'last.pt'}: ") and PROBLEMS[how] in message
    assert message.endswith("or start afresh with resume=null")


@pytest.mark.parametrize("prog,args", [("ganlab-sample", ["--n", "4", "--out", "OUT"]),
                                       ("ganlab-evaluate", ["--no-append"])])
def test_sample_and_evaluate_refuse_a_malicious_checkpoint_in_one_line(finished, tmp_path, capsys, monkeypatch, prog, args):
    run_dir = copy_run(finished, tmp_path / "run")
    spoil(run_dir / "checkpoints" / "last.pt", "malicious", tmp_path)
    argv = [str(run_dir), *[str(tmp_path / "out") if a == "OUT" else a for a in args]]
    if prog == "ganlab-sample":   # its main() in process: its console script runs in test_a_refused_resume_...
        from ganlab.cli.sample import main
        monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        out = subprocess.CompletedProcess(prog, exit_info.value.code, "", capsys.readouterr().err)
    else:
        out = cli(prog, *argv)
    message = one_line_error(out, prog)
    assert "would run code when unpickled" in message and "weights_only=False" not in message
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("option", ["init_from", "resume"])
def test_init_from_and_resume_refuse_a_malicious_checkpoint_in_one_line(tmp_path, monkeypatch, capsys, option):
    evil = tmp_path / "evil.pt"
    spoil(evil, "malicious", tmp_path)
    message = train_here(monkeypatch, capsys, "train.steps=2", f"{option}={evil}", f"hydra.run.dir={tmp_path / 'run'}")
    assert message.startswith(f"{evil}: it holds a Python object (posix.system)")
    assert not (tmp_path / "PWNED").exists()


def test_a_streamed_folder_with_an_unusable_file_stops_in_one_line(tmp_path, monkeypatch, capsys):
    from test_data import header_only_png, png
    for i in range(8):
        png(tmp_path / "faces" / f"{i}.png", value=20 * i)
    header_only_png(tmp_path / "faces" / "bomb.png", 20000, 20000)
    message = train_here(monkeypatch, capsys, "train.steps=2", "dataset=imagefolder", f"dataset.root={tmp_path / 'faces'}",
                         "dataset.storage=stream", "dataset.on_corrupt=error", "dataset.workers=1",
                         f"hydra.run.dir={tmp_path / 'run'}")
    assert message.startswith(f"unusable image {tmp_path / 'faces' / 'bomb.png'}: too large")


# ---- a full disk -------------------------------------------------------------------------------------------
def enospc():
    return OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_one(tmp_path):
    from ganlab.track.atomic import appending, replacing
    target = tmp_path / "summary.json"
    target.write_text("before")
    with pytest.raises(NoSpace, match=f"^no space left on {tmp_path} \\(writing summary.json"):
        with replacing(target) as tmp:
            tmp.write_text("half a fi")
            raise enospc()
    assert target.read_text() == "before" and sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1}\n')
    with pytest.raises(NoSpace):
        with appending(log) as f:
            f.write('{"step": 2, "loss')
            f.flush()
            raise enospc()
    assert log.read_text() == '{"step": 1}\n'     # no half line


def test_a_plot_that_does_not_fit_leaves_no_empty_png(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from ganlab.track.plots import plot_run
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss/d/total": 1.0}\n{"step": 2, "loss/d/total": 0.5}\n')

    def full(self, path, **kw):
        Path(path).write_bytes(b"")
        raise enospc()
    monkeypatch.setattr(Figure, "savefig", full)
    with pytest.raises(NoSpace):
        plot_run(tmp_path)
    assert not list((tmp_path / "plots").glob("*.png"))


def test_a_full_disk_is_one_line_a_crashed_summary_and_an_intact_last_pt(tmp_path, monkeypatch, capsys):
    saves, torch_save = [], torch.save

    def save(state, f, *args, **kwargs):   # the disk fills up while the second last.pt is written
        saves.append(str(getattr(f, "name", f)))
        if sum(name.endswith("last.tmp.pt") for name in saves) == 2:
            f.write(b"half a checkpoint")
            raise enospc()
        torch_save(state, f, *args, **kwargs)
    monkeypatch.setattr(torch, "save", save)
    run_dir = tmp_path / "run"
    message = train_here(monkeypatch, capsys, "train.steps=6", "train.ckpt_every=2", f"hydra.run.dir={run_dir}", status=1)
    monkeypatch.undo()
    assert message == (f"no space left on {run_dir / 'checkpoints'} (writing last.pt; nothing was left half-written); "
                       f"free some space and run the same command again: it resumes from checkpoints/last.pt when the "
                       f"run has one")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "crashed" and summary["step"] == 4 and "no space left" in summary["error"]
    assert ckpt.load(run_dir)["step"] == 2                     # the checkpoint before the full disk
    assert not [p for p in run_dir.rglob("*") if p.is_file() and p.stat().st_size == 0 and p.name not in ("train.log", ".lock")]
    assert not list(run_dir.rglob("*.tmp*"))


# ---- a diverged loss ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("ckpt_every,kept", [(100, "no checkpoint was written before it (train.ckpt_every=100)"),
                                             (1, "the last good checkpoint is kept (RUN/checkpoints/last.pt)")])
def test_a_non_finite_loss_is_one_line_and_the_summary_says_why(tmp_path, monkeypatch, capsys, ckpt_every, kept):
    """test_poison: NaN from step `at` on, registered by test_trainer.py."""
    import test_trainer  # noqa: F401
    run_dir = tmp_path / "run"
    message = train_here(monkeypatch, capsys, "train.steps=5", f"train.ckpt_every={ckpt_every}",
                         "+regularizer.test_poison.at=2", f"hydra.run.dir={run_dir}", status=1)
    expected = f"non-finite loss: loss/d/poison = nan at step 3; {kept.replace('RUN', str(run_dir))}"
    assert message == expected
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "crashed" and summary["error"] == f"NonFiniteLoss: {expected}"


# ---- one run per run directory -----------------------------------------------------------------------------
def test_a_live_run_directory_is_refused_naming_its_process(tmp_path):
    from ganlab.track.lock import run_lock
    with run_lock(tmp_path):
        with pytest.raises(ConfigError, match=rf"^hydra.run.dir={tmp_path} is in use by another ganlab-train "
                                              rf"\(pid {os.getpid()} on {socket.gethostname()}, started "):
            with run_lock(tmp_path):
                pass
    with run_lock(tmp_path):   # released
        pass


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    from ganlab.track.lock import run_lock
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(json.dumps({"pid": int(dead.stdout), "host": "elsewhere", "started": "then"}))
    with run_lock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    assert f"was left by pid {int(dead.stdout)} on elsewhere, which no longer holds it: taking it over" \
        in capsys.readouterr().err


def test_a_second_ganlab_train_into_a_live_run_directory_stops_in_one_line(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    exe = Path(sys.executable).with_name("ganlab-train")
    first = subprocess.Popen([str(exe), *TINY, "train.steps=100000", "train.ckpt_every=100000",
                              f"hydra.run.dir={run_dir}"], stderr=subprocess.DEVNULL,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 120
        while not (run_dir / "samples" / "real.png").is_file() and time.time() < deadline:
            time.sleep(0.2)
        hydra_files = {p.name: p.read_bytes() for p in (run_dir / ".hydra").iterdir()}
        message = train_here(monkeypatch, capsys, "train.steps=3", "model.g_width=16", f"hydra.run.dir={run_dir}")
        assert message.startswith(f"hydra.run.dir={run_dir} is in use by another ganlab-train (pid {first.pid} on ")
        assert {p.name: p.read_bytes() for p in (run_dir / ".hydra").iterdir()} == hydra_files
        assert [p.name for p in run_dir.iterdir() if p.name.startswith(".hydra")] == [".hydra"]
    finally:
        first.terminate()
        first.wait(timeout=120)


# ---- a refused command changes nothing ---------------------------------------------------------------------
def test_a_refused_resume_leaves_the_run_directory_as_it_was(finished, tmp_path, monkeypatch, capsys):
    run_dir = copy_run(finished, tmp_path / "run")
    before = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    status = ganlab_train_here(monkeypatch, *TINY, "train.steps=4", "model.g_width=16", f"hydra.run.dir={run_dir}")
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f"ganlab-train: error: cannot resume from {run_dir}")
    assert "model.g_width: 8 -> 16" in err   # the per-key diff, a line each
    after = {p.relative_to(run_dir): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after.keys() - {Path(".lock"), Path("train.log")} == before.keys() - {Path(".lock"), Path("train.log")}
    assert all(after[k] == v for k, v in before.items() if k.name not in (".lock", "train.log"))
    sample = cli("ganlab-sample", run_dir, "--n", "2", "--out", tmp_path / "samples")
    assert sample.returncode == 0, sample.stderr[-2000:]


# ---- sweeps ------------------------------------------------------------------------------------------------
def test_a_sweep_with_a_failed_job_exits_1_and_lists_it(tmp_path, monkeypatch, capsys):
    """In process (conftest.ganlab_train_here); test_cli.py runs such a sweep as the console script."""
    monkeypatch.chdir(tmp_path)
    assert ganlab_train_here(monkeypatch, "-m", *TINY, "train.steps=2", "train.batch_size=8,-4", "hydra.sweep.dir=sweep") == 1
    error = "ConfigError: train.batch_size must be a positive integer, got -4"
    assert capsys.readouterr().err.splitlines()[-2:] == ["[ganlab] 1 of 2 sweep jobs failed:", f"[ganlab]   sweep/1: {error}"]
    assert json.loads((tmp_path / "sweep" / "1" / "summary.json").read_text()) == {"status": "crashed", "error": error}
    assert json.loads((tmp_path / "sweep" / "0" / "summary.json").read_text())["status"] == "finished"

"""The launcher plugins of the [launchers] extra, run for real on the digits set with a few steps:
joblib (2 jobs in parallel), submitit_local (2 jobs), the Optuna sweeper (3 trials minimising the
returned FID), and the SLURM preset's composition (a cluster cannot be tested here)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import TINY, TINY_DCGAN, ganlab_train_here
from ganlab import CONF_DIR

pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install -e '.[launchers]' (make test does)")
pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src") + os.pathsep
       + os.environ.get("PYTHONPATH", "")}
SWEEP = TINY + TINY_DCGAN + ["regularizer=[]", "train.steps=2", "hydra.sweep.dir=sweep"]


def sweep(tmp_path: Path, *overrides: str, timeout: int = 900) -> tuple[Path, subprocess.CompletedProcess]:
    r = subprocess.run([str(BIN / "ganlab-train"), "-m", *SWEEP, *overrides], cwd=tmp_path, env=ENV,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-4000:]
    return tmp_path / "sweep", r


def jobs(sweep_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))]


def test_joblib_runs_two_jobs_in_parallel(tmp_path):
    sweep_dir, _ = sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1")
    assert [j["status"] for j in jobs(sweep_dir)] == ["finished", "finished"]
    # joblib hands each job to a worker process of its own (Hydra's basic launcher runs both in its own process)
    pids = {json.loads((sweep_dir / job / "provenance.json").read_text())["pid"] for job in ("0", "1")}
    assert len(pids) == 2


def test_submitit_local_runs_two_jobs(tmp_path):
    sweep_dir, _ = sweep(tmp_path, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "seed=0,1")
    assert [j["status"] for j in jobs(sweep_dir)] == ["finished", "finished"]
    assert list((sweep_dir / ".submitit").iterdir()), "submitit kept no job folders"


@pytest.mark.filterwarnings("ignore::DeprecationWarning:optuna")   # its storage imports SQLAlchemy 1.x names
def test_optuna_minimises_the_returned_fid_and_writes_the_best_overrides(tmp_path, monkeypatch, capsys):
    """In process (conftest.ganlab_train_here): the sweeper runs its trials with Hydra's basic launcher, in the
    sweep's own process either way."""
    monkeypatch.chdir(tmp_path)
    assert ganlab_train_here(monkeypatch, "-m", *SWEEP, "hydra/sweeper=optuna_fid", "hydra.sweeper.n_trials=3",
                             "optimizer.d.lr=interval(1e-4,1e-3)", "eval.every=2", "eval.num_samples=50",
                             "eval.metrics=[fid]") == 0   # digits: its own small classifier, no download
    sweep_dir = tmp_path / "sweep"
    fids = [j["final_eval"]["fid"] for j in jobs(sweep_dir)]
    assert len(fids) == 3
    best = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert best.best_value == pytest.approx(min(fids)) and set(best.best_params) == {"optimizer.d.lr"}
    out = capsys.readouterr()
    assert "Best parameters: {'optimizer.d.lr':" in out.out + out.err


def test_slurm_preset_asks_one_task_per_gpu():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=4",
                                                      "hydra.launcher.nodes=2"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 2)

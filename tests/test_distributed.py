"""Distributed data parallel on the CPU: gloo, 2 ranks, 4 tiny steps, by both launch styles
(ganlab-train hardware.devices=2, torchrun), with every subprocess under a timeout so nothing hangs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import ddp_worker  # noqa: F401  (registers the test_tiny extractor used below)
from conftest import TINY, TINY_DCGAN, compose_cfg, run
from ddp_worker import OVERRIDES
from ganlab.data.base import DeviceBatches, ImageSet
from ganlab.data.stream import EpochBatches
from ganlab.track.stats import Stats
from ganlab.train.distributed import Dist, convert_sync_bn
from ganlab.train.launch import rank_overrides, ranks_from_env, slurm_rendezvous

TESTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SRC = str(TESTS.parent / "src")
ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
ENV["OMP_NUM_THREADS"] = "1"   # the same CPU kernels (summation order) in every launch style, so weights compare bit-exactly
for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS", "MASTER_ADDR", "MASTER_PORT"):
    ENV.pop(key, None)
CLI = TINY + TINY_DCGAN + OVERRIDES + ["train.steps=4", "hydra.run.dir=outputs/${now:%H-%M-%S-%f}"]
PARTS = ("g", "d", "ema")


def sh(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def same(a: dict, b: dict, parts=PARTS) -> list[str]:
    """The keys of parts whose tensors differ between two state dicts."""
    return [f"{p}.{k}" for p in parts for k in a[p] if not torch.equal(a[p][k], b[p][k])]


def reg_tensors(regs: list[dict], extra: bool = True) -> list[torch.Tensor]:
    """Every tensor in the regularizers' state dicts (extra state too: APA's pseudo-reals, per rank)."""
    out = []
    for state in regs:
        for v in state.values():
            if torch.is_tensor(v):
                out.append(v)
            elif extra and isinstance(v, dict):
                out += [t for t in v.values() if torch.is_tensor(t)]
    return out


def only_run_dir(cwd: Path) -> Path:
    dirs = [p for p in (cwd / "outputs").iterdir()]
    assert len(dirs) == 1, f"expected one run directory, got {dirs}"
    assert [p.name for p in cwd.iterdir()] == ["outputs"], list(cwd.iterdir())
    return dirs[0]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> Path:
    """ganlab's launch() with 2 ranks: a straight run, a resumed run, each rank's final state dumped."""
    out = tmp_path_factory.mktemp("ddp")
    r = sh([sys.executable, TESTS / "ddp_worker.py", "main", out], TESTS, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def torchrun_dir(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("torchrun")
    r = sh([BIN / "torchrun", "--standalone", "--nproc_per_node=2", BIN / "ganlab-train", *CLI], cwd, timeout=400)
    assert r.returncode == 0, r.stderr[-12000:]   # torchrun's own failure report alone is ~2,000 characters
    return only_run_dir(cwd)


def test_both_ranks_hold_identical_g_d_ema_and_apa_p(ranks):
    r0, r1 = load(ranks / "straight_rank0.pt"), load(ranks / "straight_rank1.pt")
    assert not same(r0, r1), same(r0, r1)
    assert r0["regs"][2]["p"] == r1["regs"][2]["p"]
    a, b = reg_tensors(r0["regs"], extra=False), reg_tensors(r1["regs"], extra=False)   # LeCam's EMAs too
    assert len(a) > 3 and all(torch.equal(x, y) for x, y in zip(a, b))
    # p rises by (images counted) / (kimg * 1000) each of 4 iterations: 16 images over both ranks, not 8
    assert float(r0["regs"][2]["p"]) == pytest.approx(4 * 16 / 100)


def test_training_metrics_count_the_global_batch_and_evaluation_is_gathered(ranks):
    run_dir = ranks / "straight"
    row = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    assert row["global_batch"] == 16 and row["kimg"] == pytest.approx(4 * 16 / 1000)
    ev = json.loads((run_dir / "eval.jsonl").read_text().splitlines()[-1])
    assert ev["protocol"]["num_samples"] == 30 and ev["fid"] > 0 and 0 <= ev["d_accuracy"] <= 1
    state = load(run_dir / "checkpoints/last.pt")
    assert state["world_size"] == 2 and len(state["ranks"]) == 2 and (run_dir / "checkpoints/best.pt").is_file()


def test_resume_with_2_ranks_equals_a_straight_2_rank_run(ranks):
    a, b = load(ranks / "straight/checkpoints/last.pt"), load(ranks / "resumed/checkpoints/last.pt")
    assert b["step"] == 4 and not same(a, b), same(a, b)
    ra, rb = reg_tensors(a["regs"]), reg_tensors(b["regs"])   # with APA's pseudo-reals of the last G step
    assert len(ra) == len(rb) and all(torch.equal(x, y) for x, y in zip(ra, rb))
    rank1 = [reg_tensors(s["regs"]) for s in (a["ranks"][1], b["ranks"][1])]
    assert all(torch.equal(x, y) for x, y in zip(*rank1))
    assert torch.equal(a["opt_d"]["state"][0]["exp_avg"], b["opt_d"]["state"][0]["exp_avg"])


def test_torchrun_makes_one_run_directory_and_trains_as_the_spawned_ranks(torchrun_dir, ranks):
    assert (torchrun_dir / ".hydra/config.yaml").is_file() and (torchrun_dir / "summary.json").is_file()
    assert not same(load(torchrun_dir / "checkpoints/last.pt"), load(ranks / "straight/checkpoints/last.pt"))


def test_hardware_devices_starts_the_ranks_itself(tmp_path, ranks):
    r = sh([BIN / "ganlab-train", *CLI, "hardware.devices=2"], tmp_path, timeout=400)
    assert r.returncode == 0, r.stderr[-4000:]
    run_dir = only_run_dir(tmp_path)
    assert json.loads((run_dir / "summary.json").read_text())["images_seen"] == 4 * 16
    assert not same(load(run_dir / "checkpoints/last.pt"), load(ranks / "straight/checkpoints/last.pt"))


def test_last_checkpoint_of_2_ranks_evaluates_in_a_single_process(torchrun_dir, capsys):
    from ganlab.cli.evaluate import main as evaluate
    evaluate([str(torchrun_dir), "--checkpoint", "last.pt", "--extractor", "test_tiny", "--num-samples", "20",
              "--device", "cpu", "--no-append"])
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 4 and result["fid"] > 0


def test_a_crash_on_one_rank_ends_the_others_with_a_clear_message(tmp_path):
    r = sh([sys.executable, TESTS / "ddp_worker.py", "crash", tmp_path], TESTS, timeout=300)   # a hang fails here
    assert r.returncode != 0
    assert "rank 1 of 2 failed and the other ranks were stopped" in r.stderr, r.stderr[-4000:]
    assert "RuntimeError: injected crash on rank 1 at step 2" in r.stderr


def test_resume_with_another_rank_count_is_refused_for_the_data_position(ranks, tmp_path):
    ckpt = ranks / "straight/checkpoints/last.pt"
    with pytest.raises(ValueError, match=r"written with 2 rank\(s\) and this run has 1; the weights load"):
        run(tmp_path, OVERRIDES + ["train.steps=6", f"resume={ckpt}"])


# ---- the pieces, in one process ---------------------------------------------------------------------
def test_ranks_come_from_torchrun_or_slurm_variables():
    assert ranks_from_env({}) is None
    assert ranks_from_env({"RANK": "0", "WORLD_SIZE": "1"}) is None
    assert ranks_from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (1, 4, 1)
    slurm = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_ID": "123",
             "SLURM_JOB_NODELIST": "gpu-a,gpu-b", "PATH": ""}   # no scontrol on PATH here
    assert ranks_from_env(slurm) == (5, 8, 1)
    assert ranks_from_env({**slurm, "SLURM_STEP_NUM_TASKS": "1"}) is None   # a batch script's own shell
    slurm_rendezvous(slurm)
    assert (slurm["MASTER_ADDR"], slurm["MASTER_PORT"]) == ("gpu-a", str(20000 + 123))


def test_ranks_above_0_get_no_hydra_directory_of_their_own():
    assert rank_overrides(["train.steps=4"], {"RANK": "0", "WORLD_SIZE": "2"}) == []
    over = rank_overrides(["hydra.run.dir=x", "hydra/job_logging=stdout"], {"RANK": "1", "WORLD_SIZE": "2"})
    assert over == ["hydra.run.dir=.", "hydra.output_subdir=null", "hydra/hydra_logging=disabled"]


def test_each_rank_reads_its_own_shard_of_the_epoch_in_memory_and_streamed():
    data = ImageSet(torch.arange(20 * 4, dtype=torch.uint8).view(20, 1, 2, 2), None, 0, "toy")
    whole = DeviceBatches(data, 6, seed=3, mirror=True)
    shards = [DeviceBatches(data, 3, seed=3, mirror=True, rank=r, world=2) for r in range(2)]
    for _ in range(5):   # across an epoch boundary (20 // 6 = 3 global batches per epoch)
        parts = [s.next()[0] for s in shards]
        assert torch.equal(torch.cat(parts), whole.next()[0])
    assert all(s.state_dict()["pos"] == whole.state_dict()["pos"] for s in shards)
    streamed = [list(EpochBatches(20, 3, seed=1, rank=r, world=2)) for r in range(2)]
    assert [a + b for a, b in zip(*streamed)] == list(EpochBatches(20, 6, seed=1)) and len(streamed[0]) == 3
    with pytest.raises(ValueError, match="batch_size=12 x 2 ranks is larger than the dataset toy"):
        DeviceBatches(data, 12, world=2)
    with pytest.raises(ValueError, match="data position in this checkpoint is for 2 rank"):
        whole.load_state_dict(shards[0].state_dict())


class TwoSameRanks:
    """Stands in for a Dist of 2 ranks that saw the same values (sum = 2 x)."""
    active, world = True, 2

    def sum_(self, t):
        return t.mul_(2)

    def same_names(self, names):
        return sorted(names)


def test_stats_reads_are_over_all_ranks():
    stats = Stats(TwoSameRanks())
    stats.open("apa")
    stats.report("d/sign_real", torch.tensor([1.0, -1.0, 1.0]))
    assert stats.read_counts("apa") == {"d/sign_real": (pytest.approx(1 / 3), 6)}
    assert float(stats.mean(torch.tensor([1.0, 2.0]))) == 1.5


def test_sync_bn_converts_every_batchnorm_including_conditional_bn(monkeypatch):
    from ganlab.cli.build import build_data, build_models
    cfg = compose_cfg(TINY + ["model=biggan_deep", "model.ch=8", "model.g_attn=0", "model.d_attn=0"])
    g, _ = build_models(cfg, build_data(cfg)[0])
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    assert any(type(m).__name__ == "ConditionalBatchNorm2d" for m in g.modules()) and n_bn > 0
    g = convert_sync_bn(g)
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in g.modules()) == n_bn
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="hardware.sync_bn=true needs CUDA devices"):
        Dist.init(torch.device("cpu"), sync_bn=True)


def test_hardware_devices_is_checked(monkeypatch):
    with pytest.raises(ValueError, match="hardware.devices must be a positive integer, got 0"):
        run(Path("/nonexistent"), ["hardware.devices=0"])
    for key in ("RANK", "WORLD_SIZE", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ValueError, match="hardware.devices=2 but no ranks were started"):
        Dist.init(torch.device("cpu"), devices=2)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ValueError, match="hardware.devices=2 but the launcher started 3 ranks"):
        Dist.init(torch.device("cpu"), devices=2)

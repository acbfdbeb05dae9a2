"""ganlab-compare over runs made by the real trainer, and wandb offline tracking."""
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ganlab.cli import compare
from ganlab.track.runs import find_runs, load_run

TINY = ["progress=false", "train.batch_size=8", "dataset.image_size=16", "model.g_width=8", "model.d_width=8",
        "train.log_every=1", "hardware=cpu", "eval.every=2", "eval.num_samples=40", "eval.kid_subset_size=20"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    exe = Path(sys.executable).with_name("ganlab-train")
    out = subprocess.run([str(exe), "-m", "seed=0,1", "loss=hinge,bce", "train.steps=2", *TINY,
                          f"hydra.sweep.dir={root}/multirun"], capture_output=True, text=True, timeout=600, cwd=root)
    assert out.returncode == 0, out.stderr
    return root / "multirun"


def fids(run_dirs):
    return [json.loads((d / "eval.jsonl").read_text().splitlines()[-1])["fid"] for d in run_dirs]


def test_compare_finds_runs_through_a_multirun_directory_and_a_glob(sweep):
    assert len(find_runs([str(sweep)])) == 4
    assert len(find_runs([str(sweep / "*")])) == 4
    assert len(find_runs([str(sweep / "0"), str(sweep / "0")])) == 1


def test_table_shows_only_the_keys_that_differ(sweep, capsys):
    compare.main([str(sweep)])
    out = capsys.readouterr().out
    assert "loss.name" in out and "seed" in out and "fid_final" in out
    assert "model.g_width" not in out and "train.steps" not in out


def test_group_by_aggregates_seeds_with_mean_std_and_n(sweep, tmp_path):
    compare.main([str(sweep), "--group-by", "--csv", str(tmp_path / "t.csv"), "--markdown", str(tmp_path / "t.md"),
                  "--plot", str(tmp_path / "t.png"), "--sort", "fid_final"])
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert len(rows) == 2 and {r["loss.name"] for r in rows} == {"hinge", "bce"}
    for r in rows:
        members = [d for d in find_runs([str(sweep)]) if load_run(d).config["loss.name"] == r["loss.name"]]
        values = fids(members)
        mu = sum(values) / 2
        sd = math.sqrt(sum((v - mu) ** 2 for v in values))   # n - 1 = 1
        assert r["fid_final"] == f"{mu:.4g} ± {sd:.2g} (n=2)"
    assert float(rows[0]["fid_final"].split()[0]) <= float(rows[1]["fid_final"].split()[0])
    assert (tmp_path / "t.md").read_text().startswith("| run | status | loss.name |")
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_partial_runs_are_listed_with_what_they_have(sweep, tmp_path):
    import shutil
    broken = tmp_path / "broken"
    shutil.copytree(sweep / "0", broken)
    (broken / "summary.json").unlink()
    with open(broken / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "loss/d/tot')          # a line cut mid-write
    run = load_run(broken)
    assert run.status == "running" and run.skipped_lines == 1 and run.values["step"] == 2
    compare.main([str(broken), str(sweep / "1")])


def test_wandb_offline_run_lives_in_the_run_directory_and_holds_the_logged_keys(tmp_path):
    from conftest import run
    run(tmp_path, ["logger=wandb", "logger.wandb.mode=offline", "train.steps=2"])
    files = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    blob = files[0].read_bytes()
    for key in (b"loss/d/bce", b"D(x)", b"lr_g", b"img_s", b"samples", str(tmp_path).encode()):
        assert key in blob, key

"""ganlab-bench recipes: the preset suite's table, bar and grids (the suite itself is a benchmark, not a test)."""
import json
from argparse import Namespace

import pytest
from PIL import Image

from conftest import compose_cfg
from ganlab.cli import bench_recipes
from ganlab.cli.bench_recipes import digits_presets, row, run_preset, table


def fake_run(d, fids, floor=30.0):
    (d / "samples").mkdir(parents=True)
    Image.new("L", (4, 4)).save(d / "samples" / "step_0000010.png")
    lines = [{"step": 5 * (i + 1), "fid": f, "fid_floor": floor, "is_mean": 5.0, "precision": 0.5, "recall": 0.4}
             for i, f in enumerate(fids)]
    (d / "eval.jsonl").write_text("\n".join(json.dumps(x) for x in [{"step": 1, "d_accuracy": 0.5}, *lines]) + "\n")


def test_the_suite_is_every_digits_preset_and_each_trains_on_digits():
    presets = digits_presets()
    assert {"dcgan_digits", "biggan_digits", "biggan_augself_apa_digits", "unet_cutmix_digits", "wgan_gp_digits",
            "attention_wgan_gp_digits", "dcgan_bce_plateau"} <= set(presets) and "_digits_cpu" not in presets
    assert all(compose_cfg([f"+experiment={p}"]).dataset.name == "digits" for p in presets)


def test_a_row_has_final_and_best_fid_against_the_floor_and_the_bar(tmp_path):
    fake_run(tmp_path / "a", [120.0, 80.0, 95.0])
    r = row("a", tmp_path / "a", 300.0, 0)
    assert (r["fid"], r["best_fid"], r["steps"], r["minutes"]) == (95.0, 80.0, 15, 5.0)
    assert r["ratio"] == pytest.approx(95 / 30) and r["status"] == "misses"          # 3.17x the floor
    fake_run(tmp_path / "b", [85.0])
    assert row("b", tmp_path / "b", 300.0, 0)["status"] == "meets"
    assert row("b", tmp_path / "b", 361.0, 0)["status"] == "misses"                  # over 6 minutes
    assert row("c", tmp_path / "c", 10.0, 1)["status"].startswith("failed (exit 1")
    text = table([row("b", tmp_path / "b", 300.0, 0), row("c", tmp_path / "c", 10.0, 1)])
    assert "| b | 5.0 | 5 | 85.0 | 85.0 | 30.0 | 2.83 | 5.00 | 0.500 | 0.400 | meets |" in text and "failed" in text


def test_the_command_prints_the_table_writes_it_and_copies_each_grid(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_recipes, "run_preset", lambda p, d, o: (fake_run(d, [60.0]), (90.0, 0))[1])
    a = Namespace(recipes="dcgan_digits,wgan_gp_digits", out=str(tmp_path / "runs"), grids=str(tmp_path / "grids"),
                  override=[])
    bench_recipes.main(a)
    out = capsys.readouterr().out
    assert "| dcgan_digits | 1.5 |" in out and "| wgan_gp_digits | 1.5 |" in out
    assert (tmp_path / "runs" / "recipes.md").read_text().count("meets") == 2
    assert sorted(p.name for p in (tmp_path / "grids").iterdir()) == ["dcgan_digits.png", "wgan_gp_digits.png"]
    assert Image.open(tmp_path / "grids_suite.png").width == 2 * (2 * 4 + 8)     # both grids, doubled, side by side
    bench_recipes.main(Namespace(**{**vars(a), "recipes": "dcgan_digits", "out": str(tmp_path / "again")}))  # one again:
    assert Image.open(tmp_path / "grids_suite.png").width == 2 * (2 * 4 + 8)     # the montage keeps the other's grid
    with pytest.raises(ValueError, match="unknown presets"):
        bench_recipes.main(Namespace(**{**vars(a), "recipes": "biggan_digts"}))


def test_a_preset_runs_as_a_user_would_in_its_own_process(tmp_path):
    seconds, code = run_preset("dcgan_digits", tmp_path / "dcgan_digits", [
        "train.steps=2", "train.batch_size=8", "model.g_width=8", "model.d_width=8", "dataset.image_size=16",
        "eval.num_samples=64", "eval.metrics=[fid]", "eval.fid_ci=0", "eval.g_batch_size=32", "hardware=cpu"])
    r = row("dcgan_digits", tmp_path / "dcgan_digits", seconds, code)
    assert code == 0 and r["steps"] == 2 and r["fid"] > r["floor"] > 0

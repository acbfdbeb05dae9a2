"""ganlab-bench recipes: the preset suite's table, bar and grids (the suite itself is a benchmark, not a test)."""
import json
import re
from argparse import Namespace

import pytest
import torch
from PIL import Image

from conftest import compose_cfg
from ganlab.bench import recipes as bench_recipes
from ganlab.bench.recipes import digits_presets, row, run_preset, suite_presets, table


def fake_run(d, fids, floor=30.0, **extra):
    (d / "samples").mkdir(parents=True)
    Image.new("L", (4, 4)).save(d / "samples" / "step_0000010.png")
    lines = [{"step": 5 * (i + 1), "fid": f, "fid_floor": floor, "is_mean": 5.0, "precision": 0.5, "recall": 0.4, **extra}
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
    assert "| b | 5.0 | 5 | - | - | 85.0 | 85.0 | 30.0 | 2.83 | 5.00 | 0.500 | 0.400 | - | - | meets |" in text and "failed" in text


def test_a_row_reports_the_images_seen_and_the_training_rate_of_its_run(tmp_path):
    fake_run(tmp_path / "a", [95.0])
    (tmp_path / "a" / "metrics.jsonl").write_text(json.dumps({"step": 5, "kimg": 96.0}) + "\n")
    (tmp_path / "a" / "summary.json").write_text(json.dumps({"status": "finished", "step": 5,
                                                             "time_s": {"train": 200.0, "eval": 30.0}}))
    r = row("a", tmp_path / "a", 300.0, 0)
    assert r["kimg"] == 96.0 and r["img_s"] == pytest.approx(480.0)                # training time only, not evaluation
    assert "| a | 5.0 | 5 | 96 | 480 | 95.0 |" in table([r])


def test_the_bar_scales_minutes_by_the_yardstick_and_asks_conditional_presets_for_the_right_class(tmp_path):
    fake_run(tmp_path / "a", [60.0], class_acc=0.95, class_recall=0.5)
    assert row("a", tmp_path / "a", 300.0, 0, yardstick=360.0)["status"] == "meets"
    slow_machine = row("a", tmp_path / "a", 600.0, 0, yardstick=180.0)      # 10 minutes here = 5 at 360 img/s
    assert slow_machine["minutes"] == pytest.approx(5.0) and slow_machine["status"] == "meets"
    assert row("a", tmp_path / "a", 300.0, 0, yardstick=720.0)["status"] == "misses"   # 5 minutes here = 10 there
    fake_run(tmp_path / "b", [60.0], class_acc=0.85, class_recall=0.5)
    r = row("b", tmp_path / "b", 300.0, 0)
    assert r["status"] == "misses" and "| 0.850 | 0.500 | misses |" in table([r])   # good FID, wrong classes


def test_the_command_prints_the_table_writes_it_and_copies_each_grid(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_recipes, "run_preset", lambda p, d, o: (fake_run(d, [60.0]), (90.0, 0))[1])
    monkeypatch.setattr(bench_recipes, "plain_loop_rate", lambda: 360.0)
    a = Namespace(recipes="dcgan_digits,wgan_gp_digits", out=str(tmp_path / "runs"), grids=str(tmp_path / "grids"),
                  override=[])
    bench_recipes.main(a)
    out = capsys.readouterr().out
    assert "| dcgan_digits | 1.5 |" in out and "| wgan_gp_digits | 1.5 |" in out
    assert (tmp_path / "runs" / "recipes.md").read_text().count("meets") == 2
    assert sorted(p.name for p in (tmp_path / "grids").iterdir()) == ["dcgan_digits.png", "wgan_gp_digits.png"]
    suite = Image.open(tmp_path / "grids_digits.png").convert("L")
    assert suite.size == (3 * 320 + 2 * 12, 16 + 320)                       # one row of 3 slots, grids 320 px wide
    assert suite.getpixel((160, 100)) == 0 and suite.getpixel((332 + 160, 100)) == 0   # both (black) grids shown
    assert suite.getpixel((664 + 160, 100)) == 255                           # the third slot is empty
    bench_recipes.main(Namespace(**{**vars(a), "recipes": "dcgan_digits", "out": str(tmp_path / "again")}))  # one again:
    assert Image.open(tmp_path / "grids_digits.png").convert("L").getpixel((332 + 160, 100)) == 0   # keeps the other's
    with pytest.raises(ValueError, match="unknown presets"):
        bench_recipes.main(Namespace(**{**vars(a), "recipes": "biggan_digts"}))


def test_the_sprites_suite_has_its_own_bar_and_is_skipped_without_its_folder(tmp_path, monkeypatch, capsys):
    presets = suite_presets("sprites")
    assert presets == ["attention_wgan_gp_sprites", "biggan_augself_apa_sprites", "biggan_diffaug_sprites",
                       "dcgan_sprites", "unet_cutmix_sprites"]
    for p in presets:
        cfg = compose_cfg([f"+experiment={p}"])
        assert (cfg.dataset.name, cfg.dataset.labels, cfg.dataset.image_size, cfg.eval.extractor) == \
            ("imagefolder", "folders", 32, "domain")
    fake_run(tmp_path / "a", [60.0], class_acc=0.85, class_recall=0.5)
    assert row("dcgan_sprites", tmp_path / "a", 29 * 60.0, 0)["status"] == "meets"     # 30 minutes, class_acc 0.8
    assert row("dcgan_digits", tmp_path / "a", 5 * 60.0, 0)["status"] == "misses"      # within 6 minutes, class_acc 0.9
    assert row("dcgan_sprites", tmp_path / "a", 31 * 60.0, 0)["status"] == "misses"

    def never(*a):
        raise AssertionError("a preset without its folder must not run")
    monkeypatch.setattr(bench_recipes, "run_preset", never)
    monkeypatch.setattr(bench_recipes, "plain_loop_rate", lambda: 360.0)
    bench_recipes.main(Namespace(recipes="sprites", out=str(tmp_path / "runs"), grids="",
                                 override=[f"dataset.root={tmp_path / 'nowhere'}"]))
    out = capsys.readouterr().out
    assert out.count(f"skipped, dataset.root={tmp_path / 'nowhere'} is missing") == 5
    assert "| dcgan_sprites | - |" in out and out.count("skipped: no folder") == 5
    assert bench_recipes.missing_data("unet_anime_faces", []) == "(unset: dataset.root=...)"
    assert bench_recipes.missing_data("biggan_cifar10", []) is None     # torchvision sets download their files


def test_a_preset_runs_as_a_user_would_in_its_own_process(tmp_path):
    seconds, code = run_preset("dcgan_digits", tmp_path / "dcgan_digits", [
        "train.steps=2", "train.batch_size=8", "model.g_width=8", "model.d_width=8", "dataset.image_size=16",
        "eval.num_samples=64", "eval.metrics=[fid]", "eval.fid_ci=0", "eval.g_batch_size=32", "hardware=cpu"])
    r = row("dcgan_digits", tmp_path / "dcgan_digits", seconds, code)
    assert code == 0 and r["steps"] == 2 and r["fid"] > r["floor"] > 0


def test_the_yardstick_is_a_plain_loop_that_trains():
    from ganlab.bench.yardstick import plain_loop_rate, scaled_minutes, tutorial_pair
    g, d = tutorial_pair()
    assert g(torch.randn(2, 100, 1, 1)).shape == (2, 3, 32, 32) and d(torch.randn(2, 3, 32, 32)).shape == (2, 1)
    assert plain_loop_rate(seconds=0.5, batch=8, warmup=1) > 0
    assert scaled_minutes(6.0, 180.0) == pytest.approx(3.0)


def test_the_prepared_gpu_bench_runs_tiny_on_the_cpu_and_fills_every_section(tmp_path):
    """ganlab-bench gpu --tiny: the code a lent GPU will run, with tiny shapes; every cell measured, none failed."""
    from ganlab.cli.bench import main
    main(["gpu", "--tiny", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "gpu.json").read_text())
    assert result["device"].startswith("CPU") and result["peak_fp32"] > 0 and result["peak_bf16"] > 0
    (speed,) = result["speed"]
    assert all(speed[f"img_s_{s}"] > 0 for s in ("fp32", "bf16", "channels_last", "compile"))
    assert speed["gflop_per_img"] > 0 and 0 < speed["flops_fraction_fp32"] < 1
    assert [r["finite"] for r in result["long"]] == [True]
    assert result["biggan"]["s_per_100"] > 0
    assert result["default"]["wall_s"] > 0 and result["default"]["fid"] > 0 and "embed" in result["default"]["eval_s"]
    assert result["ddp"]["result"]["img_s_1_rank"] > 0
    assert not [e for part in ("speed", "long") for r in result[part] for e in r.get("errors", [])]
    md = (tmp_path / "gpu.md").read_text()
    assert md.startswith("# ganlab-bench gpu on CPU") and "| dcgan_digits | 32 | 64 |" in md and "Failed cells" not in md


def test_the_step_bench_prints_flops_against_the_peak_and_the_overhead_as_a_median_with_its_spread(capsys):
    from ganlab.cli.bench import main
    main(["step", "--recipes", "dcgan_digits", "--settings", "fp32", "--steps", "2", "--warmup", "1", "--repeats", "3",
          "--yardstick-seconds", "0.5",
          "--override", "model.g_width=8", "--override", "model.d_width=8", "--override", "dataset.image_size=16"])
    out = capsys.readouterr().out
    assert re.search(r"fp32 matmul peak [\d.]+ GFLOP/s; plain PyTorch DCGAN loop \(bench/yardstick.py\) \d+ img/s", out)
    cells = [c.strip() for c in next(line for line in out.splitlines() if line.startswith("| dcgan_digits")).split("|")[1:-1]]
    fp32, gflop, of_peak, overhead = float(cells[3]), float(cells[4]), float(cells[5].rstrip("%")), cells[6]
    median, low, high = map(float, re.fullmatch(r"([\d.]+) \(([\d.]+)-([\d.]+)\)", overhead).groups())
    assert fp32 > 0 and gflop > 0 and 0 < of_peak < 100 and low <= median <= high


def test_flops_are_counted_per_image_or_reported_missing_where_a_penalty_needs_a_double_backward(tmp_path):
    from ganlab.bench.step import fit_rate, flops_per_image, recipe_cfg
    small = ["model.g_width=8", "model.d_width=8", "dataset.image_size=16", "train.batch_size=8"]
    _, plain = fit_rate(recipe_cfg("dcgan_digits", small), 1, 1, tmp_path / "dcgan")
    _, gp = fit_rate(recipe_cfg("wgan_gp_digits", small), 1, 1, tmp_path / "wgan_gp")
    assert flops_per_image(plain) > 1e5 and flops_per_image(gp) is None

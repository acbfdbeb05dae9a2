"""A run explains itself on the console: the lines it prints at its start, per evaluation and at its end."""
from pathlib import Path

from ganlab.track.console import Console, end_lines, eval_line, start_lines

EVAL = {"step": 1500, "kimg": 96.0, "fid": 43.04, "fid_floor": 36.8, "fid_ci": [41.2, 44.9], "fid_ci_level": 0.95,
        "class_acc": 0.981, "class_recall": 0.38, "precision": 0.72, "recall": 0.39,
        "protocol": {"extractor": "digits"}}


def test_an_evaluation_is_one_line_with_the_fid_over_its_floor_and_the_class_scores():
    line = eval_line(EVAL)
    assert "\n" not in line
    assert line.startswith("step 1500 (96.0 kimg): digits FID 43.0 = 1.17x its floor 36.8 (95% CI 41.2-44.9)")
    assert "class_acc 0.981" in line and "class_recall 0.38" in line and "precision 0.72" in line


def test_a_run_on_a_fraction_reads_its_fid_against_what_its_training_images_score():
    line = eval_line({"step": 4000, "kimg": 256.0, "fid": 118.54, "fid_floor": 37.85, "fid_train": 146.56, "fid_train_n": 90,
                      "protocol": {"extractor": "digits"}})
    assert line == "step 4000 (256.0 kimg): digits FID 118.5 = 3.13x its floor 37.9, 0.81x its 90 training images' 146.6"


def test_an_inception_fid_without_floor_or_interval_is_plain():
    line = eval_line({"step": 10, "kimg": 0.64, "fid": 2633.1, "is_mean": 6.62, "protocol": {"extractor": "inception"}})
    assert line == "step 10 (0.64 kimg): FID 2,633.1, IS 6.62"


def test_the_start_says_where_what_on_which_hardware_and_how_long():
    lines = start_lines(Path("out/run"), "cpu", "fp32, channels_last", 1500, 0, 64, "dcgan on digits")
    assert lines == ["run directory out/run", "dcgan on digits on cpu (fp32, channels_last); 1,500 steps of 64 real "
                     "images (96.0 kimg)"]
    assert "resuming at step 500" in start_lines(Path("r"), "cpu", "fp32", 1500, 500, 64, "x")[1]


def test_the_end_names_final_and_best_result_the_verdict_the_files_and_the_next_commands(tmp_path):
    best = {**EVAL, "step": 1000, "fid": 40.0}
    summary = {"status": "finished", "step": 1500, "steps": 1500, "images_seen": 96000, "wall_time_s": 125.4,
               "final_eval": EVAL, "best_eval": best}
    lines = end_lines(tmp_path, summary, ["doctor: no known failure signature"], tmp_path / "samples" / "g.png")
    text = "\n".join(lines)
    assert lines[0] == "finished at step 1,500 of 1,500 (96.0 kimg) in 2m05s"
    assert "final (step 1500): digits FID 43.0 = 1.17x" in text
    assert "best (step 1000): digits FID 40.0 = 1.09x" in text
    assert "doctor: no known failure signature" in lines
    assert f"grid {tmp_path / 'samples' / 'g.png'}" in text and f"summary {tmp_path / 'summary.json'}" in text
    assert f"ganlab-sample {tmp_path}" in text and f"ganlab-report {tmp_path}" in text and "ganlab-compare" in text


def test_the_best_line_is_left_out_when_the_final_evaluation_is_the_best(tmp_path):
    summary = {"status": "finished", "step": 1500, "steps": 1500, "images_seen": 96000, "wall_time_s": 60,
               "final_eval": EVAL, "best_eval": EVAL}
    assert not any(line.startswith("best") for line in end_lines(tmp_path, summary, [], None))


def test_train_log_holds_what_the_console_showed(tmp_path, capsys):
    console = Console(tmp_path)
    console.say("one", "two")
    shown = capsys.readouterr().err
    assert shown == "[ganlab] one\n[ganlab] two\n"
    assert (tmp_path / "train.log").read_text() == shown
    Console(tmp_path, enabled=False).say("three")   # ranks > 0 say nothing, anywhere
    assert capsys.readouterr().err == "" and (tmp_path / "train.log").read_text() == shown


def test_a_run_prints_where_and_how_long_each_evaluation_and_its_result_and_train_log_holds_the_same(tmp_path, capsys):
    from conftest import run
    summary, run_dir = run(tmp_path / "run", ["progress=true", "train.steps=4", "eval=default", "eval.every=2",
                                              "eval.num_samples=40", "eval.metrics=[fid]", "eval.fid_ci=0"])
    shown = [line.rsplit("\r", 1)[-1] for line in capsys.readouterr().err.splitlines()]
    said = [line for line in shown if line.startswith("[ganlab] ")]
    text = "\n".join(said)
    assert f"[ganlab] run directory {run_dir}" in said
    assert "4 steps of 8 real images (0.032 kimg)" in text and "dcgan on digits (1,797 images, 10 classes) on cpu" in text
    assert "[ganlab] step 2 (0.016 kimg): digits FID " in text and "[ganlab] step 4 (0.032 kimg): digits FID " in text
    assert "[ganlab] finished at step 4 of 4" in text and "[ganlab] final (step 4): digits FID " in text
    assert any(line.startswith("[ganlab] doctor: ") for line in said)
    assert f"ganlab-report {run_dir}" in text and said[-1].startswith("[ganlab] time ")
    assert (run_dir / "train.log").read_text().splitlines() == said


def test_a_quiet_run_prints_nothing_and_writes_no_train_log(tmp_path, capsys):
    from conftest import run
    run(tmp_path / "run", ["progress=false"])
    assert "[ganlab]" not in capsys.readouterr().err and not (tmp_path / "run" / "train.log").exists()

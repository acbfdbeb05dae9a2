"""The console script from another working directory, presets, and multirun sweeps (the plain sweep over every
combination is tests/test_compare.py's fixture, checked there)."""
import json
import subprocess
import sys
from pathlib import Path

from conftest import ganlab_train_here

TINY = ["progress=false", "train.batch_size=8", "dataset.image_size=16", "model.g_width=8",
        "model.d_width=8", "train.log_every=1", "hardware=cpu", "eval=none"]   # evaluation is tested in test_evaluation


def ganlab_train(args, cwd):
    exe = Path(sys.executable).with_name("ganlab-train")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_experiment_presets_work_from_any_directory(tmp_path):
    out = ganlab_train(["+experiment=dcgan_bce_plateau", "train.steps=2", *TINY, f"hydra.run.dir={tmp_path}/run"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    cfg = (tmp_path / "run/.hydra/config.yaml").read_text()
    assert "name: plateau" in cfg and "lr: 0.0001" in cfg
    assert json.loads((tmp_path / "run/summary.json").read_text())["status"] == "finished"


def test_a_failed_sweep_job_is_recorded_and_the_others_run(tmp_path):
    out = ganlab_train(["-m", "train.batch_size=8,5000", "train.steps=2", *TINY[:1], *TINY[2:],
                        f"hydra.sweep.dir={tmp_path}/sweep"], cwd=tmp_path)
    assert out.returncode == 1, out.stderr   # the sweep ran every job, and says one failed (cli/sweeps.py)
    assert "[ganlab] 1 of 2 sweep jobs failed:" in out.stderr
    ok, bad = (json.loads((tmp_path / f"sweep/{i}/summary.json").read_text()) for i in (0, 1))
    assert ok["status"] == "finished"
    assert bad["status"] == "crashed" and "larger than the dataset" in bad["error"]
    assert (tmp_path / "sweep/1/error.txt").is_file()


def test_list_groups_sweep_with_whole_lists(tmp_path, monkeypatch):
    """In process (conftest.ganlab_train_here): what the sweep composes is checked here; the console script's own
    sweeps are the failed-job test above and test_compare.py's fixture."""
    assert ganlab_train_here(monkeypatch, "-m", "regularizer=[],[r1,diffaugment]", "train.steps=1", *TINY, "eval.every=0",
                             f"hydra.sweep.dir={tmp_path}/sweep") == 0
    cfgs = [(tmp_path / f"sweep/{i}/.hydra/config.yaml").read_text() for i in (0, 1)]
    assert "r1:" not in cfgs[0] and "r1:" in cfgs[1] and "diffaugment:" in cfgs[1]


def test_help_lists_every_option_but_not_the_shared_bases(monkeypatch, capsys):
    from ganlab.cli import train
    monkeypatch.setattr(sys, "argv", ["ganlab-train", "--help"])
    train.main()
    out = capsys.readouterr().out
    assert "  model: attention_wgan, biggan, biggan_deep, dcgan, pair, unet_gan" in out
    assert "+experiment: " in out and "dcgan_digits" in out and "regularizer: " in out
    assert "_digits_cpu" not in out and "_torchvision" not in out and "_fraction" not in out


def test_cfg_job_prints_the_composed_config_after_overrides(monkeypatch, capsys):
    """`ganlab-train KEY=VALUE --cfg job`, as the one-line errors advise: the overrides come before the flag."""
    from ganlab.cli import train
    monkeypatch.setattr(sys, "argv", ["ganlab-train", "train.steps=7", "--cfg", "job"])
    train.main()
    assert "steps: 7" in capsys.readouterr().out


def test_cfg_job_prints_what_runs_when_the_command_line_chooses_a_group_a_preset_set(monkeypatch, capsys):
    """The preset sets DiffAugment's policy with colour; `regularizer=[...]` on the command line composes the
    group bare (cli/choices.py), and --cfg job shows that, as the run's .hydra/config.yaml records it. What the
    preset set and the run drops is said in one line (apa is not the preset's: nothing of it is named)."""
    from ganlab.cli import train
    monkeypatch.setattr(sys, "argv", ["ganlab-train", "+experiment=biggan_diffaug_digits",
                                      "regularizer=[diffaugment,apa]", "--cfg", "job"])
    train.main()
    out, err = capsys.readouterr()
    assert "- translation" in out and "- color" not in out and "kimg: 500.0" in out
    assert ("regularizer is chosen on the command line, so the preset's settings for it are not used: "
            "regularizer.diffaugment.policy: ['color', 'translation', 'cutout'] -> ['translation', 'cutout'] (") in err
    assert "apa" not in err
    monkeypatch.setattr(sys, "argv", ["ganlab-train", "+experiment=biggan_diffaug_digits", "model=pair", "--cfg", "job"])
    train.main()
    assert "model" not in capsys.readouterr().err   # the option the user named is no dropped setting


def test_a_tools_own_group_choice_is_not_reported_as_the_users(capsys):
    """The bench composes each preset with `eval=none`: not the user's choice, so nothing is said about it."""
    from ganlab.cli.choices import compose_config
    assert compose_config(["+experiment=dcgan_sprites", "eval=none"]).eval.every == 0
    assert capsys.readouterr().err == ""
    compose_config(["+experiment=dcgan_sprites", "eval=none"], notify=True)
    assert "eval.every: 2500 -> 0" in capsys.readouterr().err

"""ganlab-doctor: every failure signature is found in a real run that shows it, with its evidence and overrides to
try; the healthy default run raises no alarm; compare and the report show the verdict per run. The fixtures are cut
from real runs (tests/fixtures/doctor/README.md names the command that made each one)."""
import json
import shutil
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from ganlab.cli import compare, doctor
from ganlab.cli.choices import compose_config
from ganlab.track.doctor import LIMITS, SIGNATURES, diagnose, verdict_lines
from ganlab.track.doctor.reading import reg_list
from ganlab.track.runs import load_run

FIXTURES = Path(__file__).parent / "fixtures" / "doctor"
SHOWN_IN = {   # each signature -> the real run (cut) that shows it
    "loss_diverged": "wgan_without_penalty",
    "d_overfitting": "lowdata_no_augmentation",
    "collapse_in_class": "lowdata_no_augmentation",
    "class_not_learned": "augself_paper_weights",
    "adaptive_p_runaway": "ada_fast_controller",
    "adaptive_p_idle": "apa_under_hinge",
    "critic_drift": "attention_critic",
    "d_rejects_reals": "cutmix_every_step",
    "d_too_weak": "d_lr_tiny",
    "fid_stalled": "g_lr_tiny",
}


def test_the_healthy_default_run_raises_no_alarm():
    """`ganlab-train` with no overrides, cut from its run directory: no finding, and one line at the end of the run."""
    assert diagnose(FIXTURES / "healthy_default") == []
    assert verdict_lines([]) == ["doctor: no known failure signature"]


def test_every_signature_has_a_run_that_shows_it():
    assert sorted(SHOWN_IN) == sorted(check.__name__ for check in SIGNATURES)


@pytest.mark.parametrize("signature", sorted(SHOWN_IN))
def test_each_signature_is_found_in_a_run_that_shows_it(signature):
    """The run provoked to show it yields that finding, whose evidence names numbers and whose first suggestion
    is a ganlab override of a key the run's config has."""
    run_dir = FIXTURES / SHOWN_IN[signature]
    found = {f.signature: f for f in diagnose(run_dir)}
    assert signature in found, f"{signature} not found in its fixture; found {sorted(found)}"
    f = found[signature]
    assert any(ch.isdigit() for ch in f.evidence) and f.values and f.try_next
    config = load_run(run_dir).config
    for override in f.try_next[0].split("  (")[0].split():
        assert "=" in override and is_key(override.split("=", 1)[0], config), f"{override!r} is not a ganlab override"


CONF = Path(__file__).parents[1] / "src" / "ganlab" / "conf"


def is_key(key: str, config: dict) -> bool:
    """A config group, a key of the run's config, or a setting of a regularizer (conf/regularizer/NAME.yaml)."""
    parts = key.split(".")
    if (CONF / key).is_dir() or key in config:
        return True
    return len(parts) == 3 and parts[0] == "regularizer" and parts[2] in yaml.safe_load((CONF / "regularizer" / f"{parts[1]}.yaml").read_text())


def test_the_verdict_lines_name_each_finding_its_evidence_and_what_to_try():
    findings = diagnose(FIXTURES / "ada_fast_controller")
    lines = verdict_lines(findings)
    assert lines[0] == "doctor: " + ", ".join(f.signature for f in findings)
    runaway = next(f for f in findings if f.signature == "adaptive_p_runaway")
    assert f"  adaptive_p_runaway: {runaway.evidence}" in lines and f"    try {runaway.try_next[0]}" in lines


def test_every_threshold_carries_its_reason():
    assert all(len(limit.why) > 20 for limit in LIMITS.values())


def test_the_command_prints_findings_with_exit_0_and_a_non_run_is_one_line_and_exit_2(tmp_path, capsys):
    doctor.main([str(FIXTURES / "healthy_default"), str(FIXTURES / "ada_fast_controller")])
    out = capsys.readouterr().out
    assert "healthy_default (finished, step 2000): no known failure signature" in out
    assert "adaptive_p_runaway: ADA's p reached" in out and "try regularizer.ada.kimg=" in out
    doctor.main(["--limits"])
    limits = capsys.readouterr().out
    assert all(f"{key} = {limit.value:g}: {limit.why}" in limits for key, limit in LIMITS.items())
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(SystemExit) as exit_info:
            doctor.main([str(path)])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and err.startswith("ganlab-doctor: error: ")


def test_compare_and_the_report_show_the_verdict_per_run(tmp_path, capsys):
    for name in ("healthy_default", "lowdata_no_augmentation"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    compare.main([str(tmp_path), "--allow-mixed", "protocol", "--markdown", str(tmp_path / "t.md")])
    header, _, *rows = (tmp_path / "t.md").read_text().splitlines()
    column = [h.strip() for h in header.strip("|").split("|")].index("doctor")
    verdicts = {r.strip("|").split("|")[0].strip(): r.strip("|").split("|")[column].strip() for r in rows}
    assert verdicts == {"healthy_default": "healthy", "lowdata_no_augmentation": "d_overfitting, collapse_in_class"}
    compare.main([str(tmp_path), "--allow-mixed", "protocol", "--group-by", "--csv", str(tmp_path / "g.csv")])
    assert "healthy" in (tmp_path / "g.csv").read_text() and "collapse_in_class" in (tmp_path / "g.csv").read_text()
    compare.report([str(tmp_path), "--allow-mixed", "protocol", "--out", str(tmp_path / "r.html")])
    page = (tmp_path / "r.html").read_text()
    assert "<b>collapse_in_class</b>: class_recall" in page and "doctor: no known failure signature" in page


def test_a_run_stopped_by_a_non_finite_loss_is_a_divergence(tmp_path):
    """error.txt from the trainer's finite check (train/trainer.py check_finite) is evidence on its own."""
    shutil.copytree(FIXTURES / "healthy_default", tmp_path / "run")
    (tmp_path / "run" / "error.txt").write_text("NonFiniteLoss: non-finite loss: loss/d/lecam = nan at step 301; "
                                                 "the last good checkpoint is kept in run/checkpoints\n")
    cfg = yaml.safe_load((tmp_path / "run" / ".hydra" / "config.yaml").read_text())
    assert cfg["loss"]["name"] == "bce"
    (found,) = diagnose(tmp_path / "run")
    assert found.signature == "loss_diverged" and "loss/d/lecam = nan at step 301" in found.evidence
    assert json.dumps(found.values)


def test_a_run_that_never_learned_is_not_called_overfit():
    """LeCam at 0.3 on 5% of digits: FID rises from 4,612 to 5,102 while D grows surer of the reals, but its best is
    122x its floor, so nothing was learned to lose: the finding is the class, with LeCam's weight to try."""
    (found,) = diagnose(FIXTURES / "lecam_lowdata")
    assert found.signature == "class_not_learned" and found.try_next[0].startswith("regularizer.lecam.weight=0.1")


def test_a_low_data_run_is_read_against_what_its_training_images_score(tmp_path):
    """DiffAugment at 5% of digits, 256 kimg: FID 118.5 is 3.1x the full set's floor with D near chance, which read
    alone is a D too weak; but its 90 training images themselves score 146.6 (fid_train), and G is under that, so
    there is no finding. The same run without fid_train in its evaluations is called too weak."""
    assert diagnose(FIXTURES / "lowdata_diffaugment") == []
    shutil.copytree(FIXTURES / "lowdata_diffaugment", tmp_path / "run")
    evals = tmp_path / "run" / "eval.jsonl"
    rows = [json.loads(x) for x in evals.read_text().splitlines()]
    evals.write_text("".join(json.dumps({k: v for k, v in r.items() if not k.startswith("fid_train")}) + "\n" for r in rows))
    (found,) = diagnose(tmp_path / "run")
    assert found.signature == "d_too_weak" and "3.1x its floor" in found.evidence


def test_a_wider_d_is_suggested_on_the_discriminator_a_model_pair_trains(tmp_path):
    """Under model=pair a top-level model.ch reaches only the halves whose model has it: the doctor widens the D half
    (dcgan's d_width, from its yaml, with + as the half lists only its name), never the G's width."""
    shutil.copytree(FIXTURES / "d_lr_tiny", tmp_path / "run")
    cfg = yaml.safe_load((tmp_path / "run" / ".hydra" / "config.yaml").read_text())
    plain = next(t for f in diagnose(tmp_path / "run") if f.signature == "d_too_weak" for t in f.try_next if "wider" in t)
    cfg["model"] = {"name": "pair", "conditional": True, "ch": 16, "g": {"name": "biggan_deep"}, "d": {"name": "dcgan"}}
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (found,) = [f for f in diagnose(tmp_path / "run") if f.signature == "d_too_weak"]
    assert plain.startswith("model.") and "+model.d.d_width=64  (a wider D)" in found.try_next
    assert not any(t.startswith("model.ch") for t in found.try_next)
    cfg["model"]["d"] = {"name": "biggan_deep", "ch": 8}
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (found,) = [f for f in diagnose(tmp_path / "run") if f.signature == "d_too_weak"]
    assert "model.d.ch=16  (a wider D)" in found.try_next


def test_a_suggested_regularizer_list_keeps_the_presets_settings(tmp_path):
    """A list named on the command line composes bare, so the doctor's `regularizer=[...]` spells out the run's own
    settings of the regularizers it keeps: with the preset, the suggestion composes to the run's settings."""
    preset = ["+experiment=biggan_apa_digits"]
    ran = compose_config(preset)
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(ran))
    suggestion = reg_list(load_run(tmp_path), drop="apa", add="lecam")
    assert "regularizer.apa" not in suggestion and "regularizer.diffaugment.policy=[color,translation,cutout]" in suggestion
    tried = compose_config(preset + suggestion.split())
    assert list(tried.regularizer) == ["diffaugment", "augself", "mode_seeking", "lecam"]
    for name in ("diffaugment", "augself", "mode_seeking"):
        assert tried.regularizer[name] == ran.regularizer[name], name


def test_a_sprites_run_that_overfits_far_above_its_floor_is_still_overfitting():
    """dcgan_sprites on 10% of the sprites without augmentation: its best FID is 27.8x the domain floor at 160 kimg,
    then it doubles while D calls nearly every real real and class_recall falls 0.36 -> 0. The digits runs overfit
    nearer their floor, but this one had learned the classes' units to lose them: d_overfitting, with DiffAugment
    to try; and its class, falling from 0.65 to 0.41, is not one that more steps would bring."""
    found = {f.signature: f for f in diagnose(FIXTURES / "sprites_lowdata_no_augmentation")}
    assert "d_overfitting" in found, sorted(found)
    assert found["d_overfitting"].try_next[0].startswith("regularizer=[diffaugment]")
    assert "at step 2,500" in found["d_overfitting"].evidence
    lost = found["class_not_learned"]   # the class is being lost: training longer is not the advice
    assert "it was 0.646 at step 3,000" in lost.evidence and not any("train.steps" in t for t in lost.try_next)

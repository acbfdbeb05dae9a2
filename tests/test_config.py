"""Every option of every config group composes and trains one step; bad input fails early and clearly."""
import json

import pytest
from omegaconf import OmegaConf

from conftest import compose_cfg, distinct_recipes, options, preset_on_digits, run
from ganlab.registry import REGULARIZERS
from ganlab.regularizers import Regularizer

GROUP_OVERRIDES = {   # every model trains at the tiny size it declares where it registers
    "model": {},
    "loss": {},
    "optimizer": {},
    "scheduler": {},
    "logger": {"wandb": ["logger.wandb.mode=offline"]},
    "dataset": {},
    "eval": {},
}
NEEDS_DATA = {"dataset": {"mnist", "cifar10", "cifar100", "svhn", "imagefolder", "anime_faces", "imagenet_subset"}}
REGULARIZER_NEEDS = {
    "cutmix": ["model=unet_gan", "regularizer.cutmix.mode=additive", "regularizer.cutmix.warmup_epochs=0"],   # a U-Net D; mix from step 1
    "feature_diversity": ["regularizer.feature_diversity.embedding=discriminator"],   # no ResNet weights offline
    "lecam": ["regularizer.lecam.start=0", "train.steps=2"],   # its penalty starts after iteration `start`
}


def cases():
    for group, extra in GROUP_OVERRIDES.items():
        for opt in options(group):
            if opt in NEEDS_DATA.get(group, ()):
                continue  # composed in test_compose_all_options; trained in test_data with tiny files
            small_eval = ["eval.num_samples=50", "eval.kid_subset_size=20"] if group == "eval" else []
            yield group, opt, extra.get(opt, []) + small_eval


@pytest.mark.parametrize("group,option,extra", list(cases()), ids=lambda v: str(v))
def test_every_option_trains_one_step(tmp_path, group, option, extra):
    summary, run_dir = run(tmp_path, [f"{group}={option}", "train.steps=1", *extra])
    assert summary["status"] == "finished" and summary["step"] == 1
    assert (run_dir / "checkpoints" / "last.pt").is_file()


@pytest.mark.parametrize("option", options("regularizer"))
def test_every_regularizer_trains_one_step(tmp_path, option):
    chosen = f"[diffaugment,{option}]" if option == "augself" else f"[{option}]"   # augself regresses diffaugment's parameters
    summary, run_dir = run(tmp_path, [f"regularizer={chosen}", "train.steps=1", *REGULARIZER_NEEDS.get(option, [])])
    assert summary["status"] == "finished"
    cls = REGULARIZERS.get(option)
    if cls.d_terms is not Regularizer.d_terms or cls.g_terms is not Regularizer.g_terms:   # a penalty or a loss:
        logged = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])        # its term reached a loss
        adversarial = {"bce", "hinge", "wasserstein", "real", "fake", "total", "pixel"}
        assert [k for k in logged if k.startswith(("loss/d/", "loss/g/")) and k.split("/")[2] not in adversarial], logged


@pytest.mark.parametrize("option", [o for o in options("experiment") if o not in distinct_recipes()])
def test_every_other_preset_composes_and_trains_two_steps(tmp_path, option):
    """Real-data presets run on digits-shaped data at their own resolution, narrowed (model.ch=4, model.depth=1); the
    recipe (model, loss, regularizers, optimizer, D steps) is the preset's. The presets that stand for a distinct
    recipe train the same two steps compiled, in test_hardware."""
    summary, run_dir = run(tmp_path, preset_on_digits(option), tiny_model=False)
    assert summary["status"] == "finished" and summary["step"] == 2
    assert (run_dir / "checkpoints" / "last.pt").is_file()


@pytest.mark.parametrize("group", ["model", "dataset", "loss", "optimizer", "scheduler", "hardware", "logger", "eval"])
def test_every_option_composes_to_settings_of_its_own(group):
    """Choosing an option takes effect: each composes a section unlike every other option's."""
    composed = {opt: OmegaConf.to_container(compose_cfg([f"{group}={opt}"])[group]) for opt in options(group)}
    assert len({json.dumps(c, sort_keys=True) for c in composed.values()}) == len(composed) > 1, composed


def test_regularizer_is_a_list_group():
    cfg = compose_cfg(["regularizer=[r1,gradient_penalty]", "regularizer.r1.gamma=0.5"])
    assert list(cfg.regularizer) == ["r1", "gradient_penalty"]
    assert cfg.regularizer.r1.gamma == 0.5
    assert list(compose_cfg([]).regularizer) == ["diffaugment"]   # the default recipe augments


@pytest.mark.parametrize("override,message", [
    (["model=bigan"], "Could not find 'model/bigan'"),
    (["model.g_widht=3"], "g_widht"),
    (["train.batch_size=-4"], "train.batch_size must be a positive integer, got -4"),
    (["train.batch_size=abc"], "batch_size"),
    (["dataset.image_size=48"], "dcgan cannot make image_size=48; supported: 16, 32, 64, 128"),
    (["+model.depth=3"], "unknown argument 'depth'"),
    (["model.spectral_norm=maybe"], "argument 'spectral_norm' must be bool"),
    (["hardware.precision=fp8"], "unknown hardware.precision 'fp8'"),
    (["train.batch_size=5000"], "larger than the dataset"),
])
def test_bad_overrides_fail_before_training_with_a_clear_message(tmp_path, override, message):
    with pytest.raises(Exception, match=message) as info:
        run(tmp_path, override)
    assert not (tmp_path / "checkpoints").exists(), f"training started despite {override}: {info.value}"


@pytest.mark.parametrize("option", options("experiment"))
def test_a_group_chosen_on_the_command_line_wins_over_the_presets_settings(option):
    cfg = compose_cfg([f"+experiment={option}", "eval=none", "logger=jsonl", "scheduler=none", "eval.batch_size=7"])
    bare = compose_cfg(["eval=none", "eval.batch_size=7"])
    assert cfg.eval == bare.eval and cfg.eval.every == 0 and cfg.eval.batch_size == 7
    assert cfg.logger == compose_cfg(["logger=jsonl"]).logger and cfg.scheduler.name == "none"
    assert not compose_cfg([f"+experiment={option}", "regularizer=[]"]).get("regularizer")
    assert compose_cfg([f"+experiment={option}"]).train == cfg.train     # what was not chosen keeps the preset's


def test_ganlab_train_records_the_config_it_ran(tmp_path, monkeypatch):
    import yaml

    from conftest import ganlab_train_here
    out = tmp_path / "run"
    assert ganlab_train_here(monkeypatch, "+experiment=unet_digits", "eval=none", "model.ch=8", "train.steps=1",
                             "progress=false", "hardware=cpu", f"hydra.run.dir={out}") == 0
    saved = yaml.safe_load((out / ".hydra" / "config.yaml").read_text())
    assert saved["eval"]["every"] == 0 and saved["model"]["ch"] == 8


def test_trainer_settings_take_their_values_from_the_yaml_only():
    from conftest import compose_cfg
    from ganlab.config import EvalSchema, train_settings, validated
    from ganlab.train.settings import TrainSettings
    cfg = compose_cfg([])
    assert (train_settings(cfg).steps, train_settings(cfg).ema.start) == (cfg.train.steps, cfg.train.ema.start)
    assert validated(EvalSchema, cfg.eval, "eval").every == cfg.eval.every
    section = {k: v for k, v in dict(cfg.train).items() if k != "log_every"}
    with pytest.raises(ValueError, match=r"bad config in 'train.log_every': Missing mandatory value"):
        validated(TrainSettings, section, "train")

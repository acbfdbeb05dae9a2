"""Every numeric setting has a domain (ganlab/domains.py): zero, negative, NaN, inf, huge and wrongly typed values
of every numeric key of every config option are refused in one line naming the key, or are valid as the table
documents; no value passes silently or ends in a traceback."""
import copy
import math

import pytest
from omegaconf import OmegaConf

from conftest import compose_cfg, ganlab_train_here, options
from ganlab import CONF_DIR
from ganlab.config import settings_of
from ganlab.domains import DOMAINS, leaves
from ganlab.errors import ConfigError

LIST_GROUPS = ("regularizer", "logger")
GROUPS = ("model", "dataset", "loss", "optimizer", "scheduler", "hardware", "eval", *LIST_GROUPS)
BAD = [0, -1, -0.5, math.nan, math.inf, -math.inf, 10 ** 15, 1e300, "abc", [1], True, None]


def numeric_keys(cfg: dict) -> set[str]:
    return {k for k, v in leaves(cfg).items()
            if (isinstance(v, (int, float)) and not isinstance(v, bool)) or (v is None and k in DOMAINS)}


@pytest.fixture(scope="module")
def configs() -> dict[str, object]:
    """key -> a composed config that has it: train.yaml with each option of each group."""
    found = {}
    for group in GROUPS:
        for option in options(group):
            cfg = compose_cfg([f"{group}=[{option}]" if group in LIST_GROUPS else f"{group}={option}"])
            for key in numeric_keys(OmegaConf.to_container(cfg, resolve=True)):
                found.setdefault(key, cfg)
    return found


def test_every_numeric_key_of_every_option_and_preset_has_a_domain(configs):
    preset_keys = set()
    for path in (CONF_DIR / "experiment").glob("*.yaml"):
        preset = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        preset.pop("defaults", None)
        preset_keys |= {k for k, v in leaves(preset).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert sorted((set(configs) | preset_keys) - set(DOMAINS)) == []
    assert len(configs) > 100


def test_malformed_values_of_every_numeric_key_are_refused_in_one_line_or_documented_valid(configs):
    checked = 0
    for key, cfg in sorted(configs.items()):
        bad = copy.deepcopy(cfg)
        for value in BAD:
            OmegaConf.update(bad, key, value, force_add=True)
            try:
                settings_of(bad)
            except (ConfigError, ValueError, TypeError) as e:
                message = str(e)
                assert not DOMAINS[key].accepts(value), f"{key}={value!r} is documented valid but refused: {message}"
                assert "\n" not in message and message.startswith(f"{key} must be "), f"{key}={value!r}: {message}"
            else:
                assert DOMAINS[key].accepts(value), f"{key}={value!r} passed silently"
            checked += 1
    assert checked == len(configs) * len(BAD)


@pytest.mark.parametrize("override,message", [
    ("+optimizer.lr=1e4", "optimizer.lr is not a setting: the optimizer takes its settings per network, "
                          "optimizer.g.lr and optimizer.d.lr"),
    ("eval.every=-1", "eval.every must be a non-negative integer, got -1"),
    ("model.z_dim=0", "model.z_dim must be an integer from 1 to 65536, got 0"),
    ("dataset.subset=-1", "dataset.subset must be a non-negative integer, got -1"),
    ("train.ema.start=-10", "train.ema.start must be a non-negative integer, got -10"),
    ("model.embed_dim=0", "model.embed_dim must be an integer from 1 to 65536, got 0"),
    ("optimizer.g.lr=inf", "optimizer.g.lr must be a finite number > 0, got inf"),
])
def test_the_values_once_accepted_silently_are_refused(override, message):
    with pytest.raises(ConfigError) as e:
        settings_of(compose_cfg([override, "dataset=imagefolder"] if "subset" in override else [override]))
    assert str(e.value) == message


def test_a_half_of_model_pair_is_checked_like_the_model_it_names():
    with pytest.raises(ConfigError) as e:
        settings_of(compose_cfg(["model=pair", "+model.d.d_width=0"]))
    assert str(e.value) == "model.d.d_width must be an integer from 1 to 65536, got 0"


def test_a_key_of_a_model_pair_half_without_plus_is_told_to_add_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    status = ganlab_train_here(monkeypatch, "model=pair", "model.d.d_width=8", "hardware=cpu", "eval=none",
                               f"hydra.run.dir={tmp_path / 'run'}")
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("ganlab-train: error: model=pair's halves take their model's keys with +: "
                                          "+model.d.d_width=8"), err[-3000:]


@pytest.mark.parametrize("override,line", [
    ("model.g_width=0", "model.g_width must be an integer from 1 to 65536, got 0"),
    ("model.d_width=0", "model.d_width must be an integer from 1 to 65536, got 0"),
    ("model.ch=0", "unknown key model.ch=0 (misspelt?); ganlab-train --cfg job lists the keys there are"),
    ("train.stpes=10", "unknown key train.stpes=10 (misspelt?); ganlab-train --cfg job lists the keys there are"),
    ("model=bigan", "In 'train': Could not find 'model/bigan'; available options in 'model': attention_wgan, biggan, "
                    "biggan_deep, dcgan, pair, unet_gan"),
    ("+experiment=does_not_exist", "In 'train': Could not find 'experiment/does_not_exist'; available options in "
                                   "'experiment': attention_wgan_gp_cifar10, "),
])
def test_ganlab_train_refuses_a_value_or_a_name_in_one_line(tmp_path, monkeypatch, capsys, override, line):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    status = ganlab_train_here(monkeypatch, override, "hardware=cpu", "eval=none", "progress=false",
                               f"hydra.run.dir={tmp_path / 'run'}")
    err = capsys.readouterr().err
    assert status == 2, err[-3000:]
    assert len(err.splitlines()) == 1 and err.startswith(f"ganlab-train: error: {line}"), err[-3000:]
    assert not (tmp_path / "run" / ".hydra").exists()   # a refused command leaves nothing behind

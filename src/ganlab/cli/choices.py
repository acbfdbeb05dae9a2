"""A group chosen on the command line wins over a preset's settings for that group.

Presets (`+experiment=...`) are `@package _global_` deltas: besides choosing options they set keys of the
groups (`eval: {every: 5000}`, `model: {ch: 64}`), and Hydra merges those keys over whatever option the
command line picked, so `+experiment=unet_cutmix_anime_faces eval=none` would still evaluate. The rule
here: every group named on the command line (`eval=none`, `logger=jsonl`, `scheduler=none`,
`regularizer=[]`, ...) is taken from a composition without the presets, that is, the chosen option plus
the command line's own `group.key=value` overrides, and nothing a preset set for it. What the preset set there and
the run therefore does not use is printed at start, one line per group: the rule is easy to forget when the option
chosen is the preset's own (`regularizer=[diffaugment,apa]` drops the preset's DiffAugment policy).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from ganlab import CONF_DIR
from ganlab.nested import flatten

PRESET_GROUPS = ("experiment", "debug")     # `+experiment=NAME`: whole-config deltas, not component groups


def component_groups(config_dir: str | Path) -> list[str]:
    return sorted(p.name for p in Path(config_dir).iterdir()
                  if p.is_dir() and p.name not in PRESET_GROUPS + ("hydra",) and not p.name.startswith("_"))


def chosen_groups(overrides: Sequence[str], groups: Sequence[str]) -> list[str]:
    """The component groups whose option the command line chose (`eval=none`, not `eval.every=0`)."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    return [o.key_or_group for o in parsed if o.key_or_group in groups and not o.is_delete()]


def prefer_command_line_groups(cfg: DictConfig, overrides: Sequence[str], config_dir: str | Path,
                               compose: Callable[[list[str]], DictConfig], notify: bool) -> list[str]:
    """Replace (in cfg) every group the command line chose by that group as composed without presets, saying on
    stderr (notify) what of the presets' settings that drops; -> the groups replaced."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    presets = [o for o in parsed if o.key_or_group in PRESET_GROUPS]
    groups = chosen_groups(overrides, component_groups(config_dir))
    if not presets or not groups:
        return []
    mine = [o.input_line for o in parsed if o.key_or_group.split(".")[0] in groups]   # `eval=none`, `eval.every=3`
    bare = compose(mine)
    with open_dict(cfg):
        for group in groups:
            if notify and (notice := preset_settings_dropped(group, cfg.get(group), bare.get(group))):
                print(notice, file=sys.stderr)
            if group in bare:
                cfg[group] = bare[group]
            else:                     # an empty list group (`regularizer=[]`) composes to no key at all
                cfg.pop(group, None)
    return groups


def preset_settings_dropped(group: str, preset, chosen) -> str:
    """One line naming each key of `group` that the preset set to another value than the run's (the option's name,
    and keys of an option the command line left out, such as a regularizer not in its list, are the user's choice:
    not named)."""
    before = flatten(OmegaConf.to_container(preset)) if preset is not None else {}
    after = flatten(OmegaConf.to_container(chosen)) if chosen is not None else {}
    changed = [f"{group}.{k}: {before[k]} -> {after[k]}" for k in after if k != "name" and k in before and before[k] != after[k]]
    if not changed:
        return ""
    return (f"[ganlab] {group} is chosen on the command line, so the preset's settings for it are not used: "
            f"{'; '.join(changed)} (set a key on the command line to keep the preset's value)")


def compose_config(overrides: Sequence[str] = (), notify: bool = False) -> DictConfig:
    """What ganlab-train composes for these command-line overrides, outside a Hydra app (the tests, the
    bench, ganlab-evaluate): the same config files and the same command-line-wins rule. The tools' own groups
    (the bench's `eval=none`) are not the user's choice, so the dropped settings are said only when asked (notify)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(overrides))
        prefer_command_line_groups(cfg, overrides, CONF_DIR, lambda o: compose(config_name="train", overrides=o), notify)
        return cfg


def help_text() -> str:
    """ganlab-train --help: every group's options (the shared `_` bases left out), then where to go next."""
    lines = ["ganlab-train: train a GAN from composable config groups (Hydra).", "",
             "Compose the run from these groups (group=option; regularizer and logger are lists: regularizer=[diffaugment,apa], logger=[jsonl,tensorboard]),",
             "and presets with +experiment=NAME (see experiments/README.md):", ""]
    for group in sorted(component_groups(CONF_DIR)) + list(PRESET_GROUPS):
        opts = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))
        lines.append(f"  {'+' if group in PRESET_GROUPS else ''}{group}: {', '.join(opts)}")
    lines += ["", "Override any key: model.ch=64 train.steps=5000 eval.every=500. Print the composed config without",
              "training: ganlab-train [overrides] --cfg job. Sweep: ganlab-train -m seed=0,1,2. Hydra's own flags: --hydra-help."]
    return "\n".join(lines)

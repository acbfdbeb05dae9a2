"""model=pair: the generator of one model against the discriminator of another, each with its own settings.

A controlled swap: to tell whether a recipe's trouble lies in its G or its D, keep everything else (loss,
regularizers, optimizer, data) and change one network. `g` and `d` each name a model and hold any of its keys;
the keys they leave out take that model's defaults from conf/model/NAME.yaml (cli.build completes them). Each half
is built by its own model's builder, which also builds that model's other network (dropped): the architectures are
the models' own, the random init draws are not the same as either model's alone. The pair's `conditional` applies
to both; any other top-level key goes to each half whose model has it (cli.build.halves_completed), so that a
preset's model keys still reach the model it names as one half.
"""
from __future__ import annotations

from ganlab.registry import MODELS


@MODELS.register("pair", tiny=dict(g={"name": "dcgan", "g_width": 8},
                                   d={"name": "biggan_deep", "ch": 4, "depth": 1, "g_attn": 0, "d_attn": 0}))
def pair(image_size: int, channels: int, num_classes: int = 0, *, conditional: bool, g: dict, d: dict):
    if g.get("name") == "pair" or d.get("name") == "pair":
        raise ValueError("model=pair: g and d must each name a model other than pair")

    def half(name: str, keys: dict):
        keys = {k: v for k, v in keys.items() if k != "name"} | {"conditional": conditional}
        return MODELS.build(name, image_size=image_size, channels=channels, num_classes=num_classes, **keys)

    return half(g["name"], g)[0], half(d["name"], d)[1]

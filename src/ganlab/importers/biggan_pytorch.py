"""BigGAN-PyTorch (ajbrock/BigGAN-PyTorch; also the data-efficient-gans and lecam-gan forks) -> ganlab.

Files: utils.save_weights writes G.pth, G_ema.pth and D.pth, each a plain state dict. Facts of the layout:
  * layers.SN keeps the raw weight and a left vector u0 (sv0 is a log), and runs one power iteration from u0
    in eval mode too (without updating it), so its eval sigma is the train-mode formula at the stored u0.
  * ccbn and layers.bn keep BatchNorm statistics as stored_mean / stored_var; layers.bn's affine terms are
    gain / bias. Momentum 0.1 and eps 1e-5 (--BN_eps; layers.bn always 1e-5) as ganlab's BatchNorm2d.
  * Blocks are nested per stage: blocks.STAGE.0 the residual block(s), then the attention layer.
biggan: BigGAN.py as in the CIFAR scripts (no G_shared, no hier: one nn.Embedding per conditional BN, ganlab's
g_cond=class), or with --G_shared --hier as in the ImageNet scripts (ganlab's g_cond=hier).
biggan_deep: BigGANdeep.py with G_shared and hier (the only setting its forward runs with: z joins the shared
embedding for the stem and every BN). The tanh of G's forward is ganlab's last layer.
"""
from __future__ import annotations

from ganlab.importers.common import Arch, Layout, power_sigma, renamer, stage_paths
from ganlab.models.biggan import PlainGBlock, WideDBlock
from ganlab.models.biggan_deep import DBlock, GBlock


def sn(state: dict, path: str):
    """layers.SN: raw weight, u0; sigma of one power iteration from u0 in both modes."""
    weight, u = state[f"{path}.weight"], state[f"{path}.u0"]
    return weight, u, power_sigma(weight, u), [f"{path}.weight", f"{path}.u0", f"{path}.sv0"]


LAYOUT = Layout(sn=sn, bn={"running_mean": "stored_mean", "running_var": "stored_var", "weight": "gain", "bias": "bias"},
                ignore=(r"\.(u|sv)[1-9]\d*$",))   # --num_G_SVs > 1: extra vectors, not used by the normalisation

G_SUBS = [(r"^stem", "linear"), (r"^out\.", "output_layer."), (r"\.skip$", ".conv_sc"),
          (r"^(blocks\.\d+\.\d+)\.out$", r"\1.o")]


def biggan_g(g) -> callable:
    table = stage_paths(g.blocks, "blocks", "blocks", 1, (PlainGBlock,))
    return renamer(table, G_SUBS + [(r"\.(bn[12])\.bn$", r".\1")])   # the BN statistics sit on the ccbn itself


def biggan_d(d) -> callable:
    table = stage_paths(d.blocks, "blocks", "blocks", 1, (WideDBlock,))
    return renamer(table, [(r"\.skip$", ".conv_sc"), (r"^(blocks\.\d+\.\d+)\.out$", r"\1.o"), (r"^head\.", "")])


def deep_g(g) -> callable:
    table = stage_paths(g.blocks, "blocks", "blocks", 1, (GBlock,))   # G: one list per block (D: one per stage)
    one_up = [(r"\.convs\.(\d)", lambda m: f".conv{int(m.group(1)) + 1}"),
              (r"\.bns\.(\d)\.bn$", lambda m: f".bn{int(m.group(1)) + 1}"),   # statistics on the ccbn itself
              (r"\.bns\.(\d)\.", lambda m: f".bn{int(m.group(1)) + 1}.")]
    return renamer(table, G_SUBS + one_up)


def deep_d(d) -> callable:
    table = stage_paths(d.blocks, "blocks", "blocks", d.depth, (DBlock,))
    return renamer(table, [(r"^stem", "input_conv"), (r"\.convs\.(\d)", lambda m: f".conv{int(m.group(1)) + 1}"),
                           (r"\.extra$", ".conv_sc"), (r"^(blocks\.\d+\.\d+)\.out$", r"\1.o"), (r"^head\.", "")])


def biggan_settings(state: dict) -> dict:
    """--G_shared --hier (the ImageNet scripts) is g_cond=hier; the CIFAR scripts' per-BN embeddings are g_cond=class."""
    if "shared.weight" not in state:
        return {"g_cond": "class", "d_relu_skip": False}
    return {"g_cond": "hier", "shared_dim": int(state["shared.weight"].shape[1]), "d_relu_skip": False}


def _classes(*keys: str):
    """Classes = rows of the first of these class embeddings in the G file (0: none, unconditional)."""
    return lambda state: next((int(state[k].shape[0]) for k in keys if k in state), 0)


G_FILE = "a BigGAN-PyTorch generator state dict (G.pth or G_ema.pth from utils.save_weights)"
D_FILE = "a BigGAN-PyTorch discriminator state dict (D.pth from utils.save_weights)"

ARCHS = {
    "biggan": Arch(biggan_g, biggan_d, _classes("blocks.0.0.bn1.gain.weight", "shared.weight"), LAYOUT,
                   G_FILE + ", BigGAN.py", D_FILE + ", BigGAN.py", g_key="output_layer.2.weight", d_key="embed.weight",
                   implied=biggan_settings),
    "biggan_deep": Arch(deep_g, deep_d, _classes("shared.weight"), LAYOUT, G_FILE + ", BigGANdeep.py with G_shared and hier",
                        D_FILE + ", BigGANdeep.py", g_key="output_layer.2.weight", d_key="input_conv.weight"),
}

READ_KEY = None   # the files are the state dicts themselves


def safe_globals() -> list:
    """What weights_only may rebuild besides tensors: nothing."""
    return []

"""PyTorch-StudioGAN (POSTECH-CVLab; src/models/big_resnet.py, its BigGAN) -> ganlab's biggan with g_cond=hier.

Files: misc.save_model writes model=G-..., model=G_ema-... and model=D-...-weights-step=N.pth, each a dict whose
"state_dict" holds the weights (next to the optimizer and, in D's, run bookkeeping). Facts of the layout:
  * Spectral norm is torch.nn.utils.spectral_norm (weight_orig, weight_u, weight_v): in train mode one power
    iteration from u (v first, then u), in eval mode sigma = u W v as stored.
  * G: z splits into one chunk per block plus one for linear0; each block's ConditionalBatchNorm2d (BatchNorm2d
    .bn, eps 1e-4) reads [shared(y), chunk] through SN linears without bias: ganlab's g_cond=hier, bn_eps=1e-4.
    bn4 (eps 1e-4) - ReLU - conv2d5 - tanh is ganlab's `out`.
  * Attention layers are their own entries of `blocks` (blocks.K.0), after the block they follow; sigma is
    ganlab's gamma. D: DiscOptBlock then DiscBlocks as BigGAN's wide D blocks, linear1 and the projection
    embedding (d_cond_mtd PD); at 32 px its widths are 2 x d_conv_dim (ganlab d_ch = d_conv_dim / 2).
  * DiscBlock keeps x0 = x and then applies nn.ReLU(inplace=True) to x, which rewrites x0: the shortcut reads
    ReLU(x). ganlab's d_relu_skip=true does that on purpose (the weights were trained with it).
A StudioGAN D file may hold numpy scalars (best_fid); those, and only those, are allowed to load.
"""
from __future__ import annotations

from ganlab.importers.common import Arch, Layout, renamer


def sn(state: dict, path: str):
    """torch.nn.utils.spectral_norm: raw weight_orig, u; eval sigma = u W v with the stored vectors."""
    weight, u, v = state[f"{path}.weight_orig"], state[f"{path}.weight_u"], state[f"{path}.weight_v"]
    sigma = u.double() @ (weight.reshape(len(weight), -1).double() @ v.double())
    return weight, u, sigma, [f"{path}.weight_orig", f"{path}.weight_u", f"{path}.weight_v"]


LAYOUT = Layout(sn=sn, bn={}, rename={"gamma": "sigma"})

BLOCK = [(r"\.conv1$", ".conv2d1"), (r"\.conv2$", ".conv2d2"), (r"\.skip$", ".conv2d0"),
         (r"\.theta$", ".conv1x1_theta"), (r"\.phi$", ".conv1x1_phi"), (r"\.g$", ".conv1x1_g"),
         (r"^(blocks\.\d+\.0)\.out$", r"\1.conv1x1_attn")]


def flat(blocks, official: str = "blocks") -> dict:
    """ganlab's blocks.I -> blocks.I.0: StudioGAN lists attention layers as entries of their own, in the same order."""
    return {f"blocks.{i}": f"{official}.{i}.0" for i in range(len(blocks))}


def big_resnet_g(g) -> callable:
    return renamer(flat(g.blocks), [(r"^stem", "linear0"), (r"^out\.0", "bn4"), (r"^out\.2", "conv2d5")] + BLOCK)


def big_resnet_d(d) -> callable:
    return renamer(flat(d.blocks), [(r"^head\.linear", "linear1"), (r"^head\.embed", "embedding")] + BLOCK)


def _classes(state: dict) -> int:
    return int(state["shared.weight"].shape[0]) if "shared.weight" in state else 0


ARCHS = {
    "biggan": Arch(big_resnet_g, big_resnet_d, _classes, LAYOUT,
                   "a StudioGAN generator checkpoint (model=G-... or model=G_ema-...-weights-step=N.pth, big_resnet "
                   "with apply_g_sn and cBN)",
                   "a StudioGAN discriminator checkpoint (model=D-...-weights-step=N.pth, big_resnet with apply_d_sn "
                   "and d_cond_mtd PD)", g_key="conv2d5.weight_orig", d_key="linear1.weight_orig",
                   implied=lambda state: {"g_cond": "hier", "bn_eps": 1e-4, "d_relu_skip": True,
                                          **({"shared_dim": int(state["shared.weight"].shape[1])}
                                             if "shared.weight" in state else {})}),
}

READ_KEY = "state_dict"




def safe_globals() -> list:
    """What weights_only may rebuild besides tensors: numpy scalars and their dtypes (StudioGAN's D file records
    best_fid as one). Data, never code."""
    import numpy as np
    core = getattr(np, "_core", None) or np.core
    return [core.multiarray.scalar, np.dtype, *(type(np.dtype(k)) for k in ("float64", "float32", "int64"))]

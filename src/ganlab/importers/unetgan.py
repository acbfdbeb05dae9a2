"""U-Net GAN (boschresearch/unetgan, BigGAN.py) -> ganlab's unet_gan.

Its files are BigGAN-PyTorch's (utils.save_weights: G.pth, G_ema.pth, D.pth as plain state dicts; the published
FFHQ model is G_ema_ep_82.pth and D_ep_82.pth), with the same layers.SN, ccbn and nesting. Facts of the layout:
  * G (--unconditional --hier, no G_shared): every ccbn is self-modulated by the whole z, its gain and bias each
    Sequential(Linear(z, z), ReLU, Linear(z, C, no bias)) without spectral norm: ganlab's self_modulation.
  * Unet_Discriminator: blocks 0..L-1 are the encoder's DBlocks, L..2L-1 the decoder's GBlock2s, block 2L the
    plain 1x1 output conv; linear_middle / embed_middle are the global head, embed the per-pixel projection.
    Its `linear` is built but never used by forward, so it is not imported.
The class-conditional unetgan G needs G_shared with hier (z chunks), which ganlab's generator does not have.
"""
from __future__ import annotations

from ganlab.importers.biggan_pytorch import LAYOUT, biggan_g, safe_globals  # noqa: F401 (this source's too)
from ganlab.importers.common import Arch, Layout, renamer


def unet_d(d) -> callable:
    levels = len(d.down)
    table = {f"down.{i}": f"blocks.{i}.0" for i in range(levels)}
    table.update({f"up.{k}": f"blocks.{levels + k}.0" for k in range(len(d.up))})
    table.update({"head.linear": "linear_middle", "head.embed": "embed_middle", "pixel_out": f"blocks.{2 * levels}",
                  "pixel_embed": "embed"})
    if d.attn is not None:
        table["attn"] = f"blocks.{d.attn_level - 1}.1"
    return renamer(table, [(r"\.skip$", ".conv_sc"), (r"^(blocks\.\d+\.1)\.out$", r"\1.o")])


def _classes(state: dict) -> int:
    key = "blocks.0.0.bn1.gain.weight"   # a per-class embedding; the self-modulated G has gain.0 / gain.2
    return int(state[key].shape[0]) if key in state else 0


D_LAYOUT = Layout(sn=LAYOUT.sn, bn=LAYOUT.bn, ignore=LAYOUT.ignore + (r"^linear\.",))

ARCHS = {
    "unet_gan": Arch(biggan_g, unet_d, _classes, D_LAYOUT,
                     "a unetgan generator state dict (G.pth / G_ema.pth; BigGAN.py Generator with --unconditional --hier)",
                     "a unetgan discriminator state dict (D.pth; BigGAN.py Unet_Discriminator)",
                     g_key="output_layer.2.weight", d_key="linear_middle.weight"),
}

READ_KEY = None   # the files are the state dicts themselves

import inspect

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from ganlab import CONF_DIR
from ganlab.cli.build import model_pair
from ganlab.errors import ConfigError
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.layers import ConditionalBatchNorm2d, SelfAttention, has_spectral_norm
from ganlab.registry import MODELS


@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size, channels):
    g = DCGANGenerator(z_dim=16, image_size=size, channels=channels, width=4)
    d = DCGANDiscriminator(image_size=size, channels=channels, width=4)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, channels, size, size)
    assert x.abs().max() <= 1
    assert d(x).logits.shape == (3,)


def test_dcgan_rejects_sizes_it_cannot_make():
    with pytest.raises(ValueError, match="cannot make image_size=48; supported: 16, 32, 64, 128"):
        model_pair("dcgan", image_size=48, channels=1)


def test_conditioning_changes_the_output():
    g, d = model_pair("dcgan", image_size=16, channels=1, num_classes=10, conditional=True, g_width=8, d_width=8)
    g.eval()
    z = torch.randn(2, 100)
    a, b = g(z, torch.tensor([0, 0])), g(z, torch.tensor([3, 3]))
    assert not torch.allclose(a, b)
    x = torch.randn(2, 1, 16, 16)
    assert not torch.allclose(d(x, torch.tensor([0, 0])).logits, d(x, torch.tensor([5, 5])).logits)


def test_dcgan_class_norm_puts_the_label_in_every_batch_norm_and_not_at_the_input():
    g, _ = model_pair("dcgan", image_size=16, channels=1, num_classes=10, conditional=True, g_width=8, d_width=8,
                      g_norm="class")
    assert g.net[0].in_channels == 100                       # z alone at G's input
    cbns = [m for m in g.net if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbns) == 2 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in g.net)
    g.eval()
    z = torch.randn(2, 100)
    assert not torch.allclose(g(z, torch.tensor([0, 0])), g(z, torch.tensor([3, 3])))
    for m in cbns:                                           # the label acts through the BNs' gains and biases only
        torch.nn.init.zeros_(m.gain.weight), torch.nn.init.zeros_(m.bias.weight)
    assert torch.equal(g(z, torch.tensor([0, 0])), g(z, torch.tensor([3, 3])))
    with pytest.raises(ValueError, match="g_norm=class needs a class-conditional model"):
        model_pair("dcgan", image_size=16, channels=1, g_norm="class")


def test_spectral_norm_on_d_when_asked():
    _, d = model_pair("dcgan", image_size=16, channels=1, spectral_norm=True, d_norm="none", d_width=8)
    _, plain = model_pair("dcgan", image_size=16, channels=1, d_width=8)
    assert has_spectral_norm(d) and not has_spectral_norm(plain)


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml")))
def test_each_model_default_lives_in_its_yaml(name):
    """The builder takes every model key without a default, and the YAML gives exactly those keys."""
    params = inspect.signature(MODELS.get(name)).parameters.values()
    required = {p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty}
    keyword_defaults = {p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}
    assert not keyword_defaults and required == set(OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml")) - {"name"}
    with pytest.raises(TypeError, match="missing"):
        MODELS.build(name, image_size=16, channels=1)


def tiny_pair(name: str, conditional: bool = True):
    """Every registered model at the smallest settings it declares (MODELS.register(..., tiny=...))."""
    return model_pair(name, image_size=16, channels=1, num_classes=10 if conditional else 0,
                      conditional=conditional, **MODELS.info(name)["tiny"])


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_has_a_yaml_and_a_tiny_size(name):
    assert (CONF_DIR / "model" / f"{name}.yaml").is_file()
    assert set(MODELS.info(name)["tiny"]) <= set(OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml"))


@pytest.mark.parametrize("conditional", [True, False], ids=["conditional", "unconditional"])
@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_answers_the_protocol_and_learns_one_step(name, conditional):
    """models/base.py: G maps (z, y) to images in [-1, 1]; D gives logits (B,), features (B, features_dim),
    per-pixel logits if any at the image's size; one non-saturating step moves every G and D parameter."""
    torch.manual_seed(0)
    g, d = tiny_pair(name, conditional)
    z = torch.randn(4, g.z_dim)
    y = torch.tensor([0, 1, 2, 3]) if conditional else None
    x = g(z, y)
    assert x.shape == (4, 1, 16, 16) and x.abs().max() <= 1
    out = d(x, y)
    assert out.logits.shape == (4,)
    assert out.features.shape == (4, d.features_dim)
    assert out.pixel_logits is None or out.pixel_logits.shape == (4, 1, 16, 16)
    before = {n: p.detach().clone() for n, p in [*g.named_parameters("g"), *d.named_parameters("d")]}
    real = torch.rand_like(x) * 2 - 1
    def score(images):   # the global logit and, for a U-Net D, the mean per-pixel one
        o = d(images, y)
        return o.logits + (0 if o.pixel_logits is None else o.pixel_logits.mean((1, 2, 3)))
    d_loss = F.softplus(score(x.detach())).mean() + F.softplus(-score(real)).mean()
    d_grads = torch.autograd.grad(d_loss, list(d.parameters()), allow_unused=True)
    g_grads = torch.autograd.grad(F.softplus(-score(x)).mean(), list(g.parameters()), allow_unused=True)
    with torch.no_grad():
        for p, grad in zip([*d.parameters(), *g.parameters()], [*d_grads, *g_grads]):
            if grad is not None:
                p -= 0.1 * grad
    still = [n for n, p in [*g.named_parameters("g"), *d.named_parameters("d")] if torch.equal(p, before[n])]
    attention = {f"{who}.{m}.{n}" for who, net in (("g", g), ("d", d)) for m, mod in net.named_modules()
                 if isinstance(mod, SelfAttention) for n, _ in mod.named_parameters() if n != "gamma"}
    assert set(still) <= attention   # self-attention's branch is scaled by gamma, 0 at init (SAGAN): it moves from step 2


@pytest.mark.parametrize("name", MODELS.names())
def test_every_discriminator_lists_its_blocks_input_first(name):
    _, d = tiny_pair(name)
    blocks = d.ordered_blocks()
    in_blocks = [p for b in blocks for p in b.parameters()]
    assert len(in_blocks) == len({id(p) for p in in_blocks})            # no parameter in two blocks
    names = {id(p): n for n, p in d.named_parameters()}
    covered = {names[id(p)] for p in in_blocks}
    assert covered == {n for n in names.values() if not n.startswith(("head.", "pixel_out.", "pixel_embed."))}
    assert any(p.dim() == 4 and p.shape[1] == 1 for p in blocks[0].parameters())   # the first block reads the image
    d.eval()                                                            # no SN power iteration between the passes
    x = h = torch.randn(2, 1, 16, 16)
    out = d(x, torch.tensor([1, 2]))
    if out.pixel_logits is None:                                        # encoders: the blocks chain to D's features
        for b in blocks:
            h = b(h)
        feats = out.features
        h = h.flatten(1) if name == "dcgan" else torch.relu(h).sum((2, 3))
        assert torch.allclose(h, feats, atol=1e-5)


@pytest.mark.parametrize("name, sizes", [("dcgan", dict(g_width=8, d_width=8)),
                                         ("biggan_deep", dict(ch=4, depth=1, g_attn=0, d_attn=0))])
def test_d_pool_sums_the_last_map_or_reads_it_position_by_position(name, sizes):
    torch.manual_seed(0)
    _, flat = model_pair(name, image_size=32, channels=3, num_classes=5, conditional=True, d_pool="flatten", **sizes)
    _, summed = model_pair(name, image_size=32, channels=3, num_classes=5, conditional=True, d_pool="sum", **sizes)
    trunk = {k: v for k, v in flat.state_dict().items() if not k.startswith("head.")}
    summed.load_state_dict(trunk, strict=False)                  # the same convolutions; only the heads differ
    flat.eval(), summed.eval()
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([0, 4])
    h = flat(x, y).features
    channels = summed.features_dim
    assert flat.features_dim == h.shape[1] > channels
    assert torch.allclose(summed(x, y).features, h.view(2, channels, -1).sum(2), atol=1e-5)
    with pytest.raises(ValueError, match="d_pool 'mean'"):
        model_pair(name, image_size=32, channels=3, d_pool="mean", **sizes)


def test_pair_trains_the_generator_of_one_model_against_the_discriminator_of_another():
    """model=pair: each half is built with its own keys, and the keys it leaves out are its model's defaults."""
    from ganlab.models.biggan_deep import BigGANDeepGenerator
    g, d = model_pair("pair", image_size=32, channels=3, num_classes=5,
                      g={"name": "biggan_deep", "ch": 4, "depth": 1, "g_attn": 0}, d={"name": "dcgan", "d_width": 8})
    own_g, _ = model_pair("biggan_deep", image_size=32, channels=3, num_classes=5, ch=4, depth=1, g_attn=0)
    _, own_d = model_pair("dcgan", image_size=32, channels=3, num_classes=5, d_width=8)
    assert isinstance(g, BigGANDeepGenerator) and isinstance(d, DCGANDiscriminator)
    for half, own in ((g, own_g), (d, own_d)):   # the same layers at the same shapes, dcgan.yaml's batch norm in D
        assert {k: v.shape for k, v in half.state_dict().items()} == {k: v.shape for k, v in own.state_dict().items()}
    assert d(g(torch.randn(2, g.z_dim), torch.tensor([0, 4])), torch.tensor([0, 4])).logits.shape == (2,)
    _, unconditional = model_pair("pair", image_size=32, channels=3, num_classes=5, conditional=False, d={"name": "dcgan"})
    assert unconditional.head.embed is None      # the pair's `conditional` reaches both halves
    with pytest.raises(ValueError, match="other than pair"):
        model_pair("pair", image_size=32, channels=3, g={"name": "pair"})
    with pytest.raises(TypeError, match="unknown argument 'ch'"):
        model_pair("pair", image_size=32, channels=3, d={"name": "dcgan", "ch": 4})


def test_a_top_level_key_of_model_pair_reaches_each_half_whose_model_has_it():
    """A preset's model keys composed onto model=pair (biggan_augself_apa_sprites: the seed's options, D from dcgan)
    go to the halves whose models have them; a half's own key wins; a key neither model has is refused."""
    g, d = model_pair("pair", image_size=32, channels=3, num_classes=5, ch=4, depth=1, g_attn=0, d_attn=0,
                      g={"name": "biggan_deep"}, d={"name": "dcgan", "d_width": 8})
    own_g, _ = model_pair("biggan_deep", image_size=32, channels=3, num_classes=5, ch=4, depth=1, g_attn=0, d_attn=0)
    assert {k: v.shape for k, v in g.state_dict().items()} == {k: v.shape for k, v in own_g.state_dict().items()}
    assert isinstance(d, DCGANDiscriminator)
    wider, _ = model_pair("pair", image_size=32, channels=3, num_classes=5, ch=4, depth=1, g_attn=0, d_attn=0,
                          g={"name": "biggan_deep", "ch": 8}, d={"name": "dcgan"})
    assert sum(p.numel() for p in wider.parameters()) > sum(p.numel() for p in g.parameters())
    with pytest.raises(ConfigError, match="model.d_widht: not a key of biggan_deep or dcgan"):
        model_pair("pair", image_size=32, channels=3, d_widht=8, g={"name": "biggan_deep"}, d={"name": "dcgan"})


def test_a_run_saved_before_a_model_key_existed_still_loads_with_that_keys_default():
    from types import SimpleNamespace

    from ganlab.cli.build import build_models
    saved = OmegaConf.create({"model": {**OmegaConf.load(CONF_DIR / "model" / "biggan_deep.yaml"), **MODELS.info("biggan_deep")["tiny"]}})
    del saved.model["d_pool"]                                   # a key added after this run was saved
    _, d = build_models(saved, SimpleNamespace(image_size=16, channels=1, num_classes=0))
    assert d.pool == "sum" and d.features_dim == 4 * 4          # the model as it was: global sum pooling

import inspect

import pytest
import torch
from omegaconf import OmegaConf

from ganlab.cli.build import model_pair
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganlab.models.layers import has_spectral_norm
from ganlab.registry import MODELS
from ganlab.track.runs import CONF_DIR


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

import pytest
import torch

from ganlab.models.layers import has_spectral_norm
from ganlab.registry import MODELS


@pytest.mark.parametrize("size", [32, 64, 128])
def test_biggan_deep_shapes_and_features(size):
    g, d = MODELS.build("biggan_deep", image_size=size, channels=3, num_classes=10, ch=4, depth=1, g_attn=16, d_attn=16)
    y = torch.tensor([1, 7])
    x = g(torch.randn(2, 128), y)
    out = d(x, y)
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    assert out.logits.shape == (2,) and out.features.shape == (2, d.features_dim)


def test_biggan_conditioning_and_spectral_norm():
    g, d = MODELS.build("biggan_deep", image_size=32, channels=1, num_classes=10, ch=4, depth=1)
    g.eval()
    z = torch.randn(2, 128)
    assert not torch.allclose(g(z, torch.tensor([0, 0])), g(z, torch.tensor([9, 9])))
    assert has_spectral_norm(d) and has_spectral_norm(g)
    convs = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.Embedding))]
    assert all(hasattr(m, "parametrizations") for m in convs)   # every D weight is spectrally normalised
    assert g.shared is not None and not hasattr(g.shared, "parametrizations")   # no SN on G's class embedding


def test_biggan_attention_is_placed_at_the_requested_resolution():
    from ganlab.models.layers import SelfAttention
    g, d = MODELS.build("biggan_deep", image_size=32, channels=3, ch=4, depth=1, g_attn=16, d_attn=0)
    assert sum(isinstance(m, SelfAttention) for m in g.modules()) == 1
    assert sum(isinstance(m, SelfAttention) for m in d.modules()) == 0


def test_biggan_rejects_unsupported_sizes():
    with pytest.raises(ValueError, match="biggan_deep cannot make image_size=48; supported: 16, 32, 64, 128"):
        MODELS.build("biggan_deep", image_size=48, channels=3)


def test_biggan_refuses_attention_at_a_resolution_it_never_reaches():
    with pytest.raises(ValueError, match="d_attn=16 is not a resolution"):
        MODELS.build("biggan_deep", image_size=16, channels=3, ch=4, depth=1, g_attn=8, d_attn=16)
    with pytest.raises(ValueError, match="g_attn=12 is not a resolution"):
        MODELS.build("biggan_deep", image_size=16, channels=3, ch=4, depth=1, g_attn=12, d_attn=8)

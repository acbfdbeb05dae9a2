"""The feature-diversity loss: pairwise cosines of frozen embeddings, centred on the reals, offline weights."""
import urllib.error
from types import SimpleNamespace

import pytest
import torch

from ganlab.models.base import DOut
from ganlab.regularizers.base import StepContext
from ganlab.regularizers.diversity import FeatureDiversity, diversity_loss
from ganlab.track.stats import Stats


def test_diversity_loss_is_the_mean_pairwise_cosine_above_tau():
    same = torch.ones(4, 3)
    assert torch.isclose(diversity_loss(same), torch.tensor(1.0))
    assert diversity_loss(torch.eye(4)) == 0
    assert diversity_loss(torch.tensor([[1.0, 0.0], [-1.0, 0.0]])) == 0           # dissimilar pairs cost nothing
    assert torch.isclose(diversity_loss(same, tau=0.25), torch.tensor(0.75))
    f = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert torch.isclose(diversity_loss(f), torch.tensor(4 / 12))                  # 4 of 12 ordered pairs alike
    assert torch.isclose(diversity_loss(f, labels=torch.tensor([0, 0, 1, 1])), torch.tensor(1.0))


def g_context(fake, features=None):
    out = DOut(logits=torch.zeros(len(fake)), features=features)
    return StepContext(step=0, phase="g", d=None, stats=Stats(), run_d=None, fake=fake, out_fake=out)


def test_resnet18_embedding_loads_local_weights_and_stays_frozen(tmp_path):
    from torchvision.models import resnet18
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18().state_dict(), path)
    reg = FeatureDiversity(weight=1.0, embedding="resnet18", weights=str(path), resolution=32)
    reg.setup(None, Stats(), [])
    assert list(reg.parameters()) == [] and not any(k.startswith("_net") for k in reg.state_dict())
    fake = torch.rand(4, 1, 16, 16, requires_grad=True)
    loss = reg.g_terms(g_context(fake * 2 - 1))["feature_diversity"]
    loss.backward()
    assert torch.isfinite(loss) and fake.grad.abs().sum() > 0


def test_missing_resnet_weights_offline_name_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(FileNotFoundError, match=r"resnet18-f37072fd\.pth(.|\n)*embedding=discriminator"):
        FeatureDiversity(embedding="resnet18")
    with pytest.raises(FileNotFoundError, match="no such file"):
        FeatureDiversity(embedding="resnet18", weights=str(tmp_path / "missing.pth"))


def test_discriminator_embedding_uses_the_critics_features():
    feats = torch.ones(4, 8, requires_grad=True)
    reg = FeatureDiversity(weight=0.5, embedding="discriminator", center="none")
    loss = reg.g_terms(g_context(torch.zeros(4, 1, 8, 8), feats))
    assert torch.isclose(loss["feature_diversity"], torch.tensor(0.5))


def test_centred_diversity_separates_a_collapsed_batch_from_a_diverse_one():
    """Post-ReLU features share a large common part: uncentred, a collapsed and a diverse batch look alike
    (cosines near 1); centred on the reals' mean they are ~1 apart. (Centring on the batch's own mean
    could not work: centred vectors sum to zero, whatever the batch.)"""
    gen = torch.Generator().manual_seed(0)
    common = torch.rand(64, generator=gen) * 4
    real = torch.relu(common + 0.3 * torch.randn(1000, 64, generator=gen))
    diverse = torch.relu(common + 0.3 * torch.randn(16, 64, generator=gen))
    collapsed = torch.relu(common + 0.3 * torch.randn(1, 64, generator=gen)) + 0.01 * torch.randn(16, 64, generator=gen)
    mu = real.mean(0)
    assert diversity_loss(collapsed) - diversity_loss(diverse) < 0.05             # uncentred: barely moves
    assert diversity_loss(collapsed, center=mu) > 0.95
    assert diversity_loss(diverse, center=mu) < 0.1


def test_the_diversity_centre_is_a_running_mean_of_the_reals_embeddings():
    reg = FeatureDiversity(weight=1.0, embedding="discriminator", center_decay=0.5)
    reg.setup(SimpleNamespace(features_dim=2), Stats(), [])
    for feats in ([[1.0, 0.0], [3.0, 0.0]], [[0.0, 4.0], [0.0, 4.0]]):
        ctx = StepContext(step=0, phase="d", d=None, stats=Stats(), run_d=None, real=torch.zeros(2, 1, 4, 4),
                          out_real=DOut(logits=torch.zeros(2), features=torch.tensor(feats)))
        assert reg.d_terms(ctx) == {}
    assert reg.mu.tolist() == [1.0, 2.0]          # first batch copied ([2, 0]), then halfway to [0, 4]

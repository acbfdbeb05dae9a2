"""Minibatch discrimination (Salimans et al. 2016): a D option of every model, through the projection head."""
import pytest
import torch

from conftest import run
from ganlab.models.layers import MinibatchDiscrimination, Projection
from ganlab.registry import MODELS


def test_a_sample_is_scored_against_the_rest_of_its_batch_and_never_itself():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(features=6, kernels=4).eval()
    h = torch.randn(5, 6)
    out = layer(h)
    assert out.shape == (5, 10) and torch.equal(out[:, :6], h)
    # the closeness of sample 0 moves when another sample moves, and one sample alone has no neighbours
    moved = h.clone()
    moved[3] += 1.0
    assert not torch.allclose(layer(moved)[0, 6:], out[0, 6:])
    assert torch.allclose(layer(h[:1])[0, 6:], layer.bias)


def test_a_collapsed_batch_looks_closer_than_a_diverse_one():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(features=6, kernels=4).eval()
    diverse = torch.randn(8, 6) * 3
    collapsed = diverse[:1].repeat(8, 1) + 0.01 * torch.randn(8, 6)
    assert (layer(collapsed)[:, 6:] > layer(diverse)[:, 6:]).all()


def test_the_first_training_batch_sets_the_scales_as_the_official_init():
    """improved-gan's data init: each kernel's mean distance to the nearest neighbour becomes 2, and the
    closeness has batch mean 0; later batches and eval use those scales."""
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(features=6, kernels=4)
    h = torch.randn(16, 6) * 50     # pooled features far from unit scale
    o = layer(h)[:, 6:]
    assert bool(layer.initialized)
    assert torch.allclose(o.mean(0), torch.zeros(4), atol=1e-5)
    w = layer.theta * ((layer.log_scale + layer.init_log_scale).exp() / layer.theta.norm(dim=0))
    m = torch.einsum("bf,fkc->bkc", h, w)
    dist = (m[:, None] - m[None]).abs().sum(-1) + torch.eye(16)[..., None] * 1e6
    assert torch.allclose(dist.min(1).values.mean(0), torch.full((4,), 2.0), rtol=1e-4)
    scales = layer.init_log_scale.clone()
    layer(torch.randn(16, 6))
    assert torch.equal(layer.init_log_scale, scales)     # once


def test_gradients_reach_the_features_and_the_tensor():
    torch.manual_seed(0)
    head = Projection(6, 3, use_sn=False, minibatch_kernels=4)
    h = torch.randn(8, 6, requires_grad=True)
    head(h, torch.randint(3, (8,))).sum().backward()
    assert h.grad.abs().sum() > 0 and head.minibatch.theta.grad.abs().sum() > 0


@pytest.mark.parametrize("model", MODELS.names())
def test_every_model_trains_with_it_and_resumes(tmp_path, model):
    kernels = "+model.d.minibatch_kernels=8" if model == "pair" else "model.minibatch_kernels=8"   # a pair's D half
    common = [f"model={model}", kernels, "train.ckpt_every=1"]
    summary, d = run(tmp_path, [*common, "train.steps=2"])
    assert summary["status"] == "finished"
    state = torch.load(d / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    assert bool(state["d"]["head.minibatch.initialized"])
    summary, _ = run(tmp_path, [*common, "train.steps=3", "resume=auto"])
    assert summary["status"] == "finished" and summary["step"] == 3

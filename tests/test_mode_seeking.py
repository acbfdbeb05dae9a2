"""Mode-seeking loss (MSGAN): weight / (mean|G(z2, y) - G(z1, y)| / mean|z2 - z1| + eps), the same labels for both."""
import pytest
import torch

from ganlab.regularizers.base import StepContext
from ganlab.regularizers.mode_seeking import ModeSeeking
from ganlab.track.stats import Stats


def g_context(g, z, y):
    ctx = StepContext(step=0, phase="g", d=None, stats=Stats(), run_d=None, run_g=g)
    ctx.fake, ctx.z_fake, ctx.y_fake = g(z, y), z, y
    return ctx


def test_the_term_is_weight_over_image_distance_per_latent_distance_and_sees_the_same_labels():
    seen = []
    scale = torch.tensor(0.5, requires_grad=True)

    def g(z, y):                                       # images = scale * z: the ratio is |scale|
        seen.append(y)
        return scale * z.view(-1, 1, 2, 2)
    y = torch.tensor([3, 1, 4, 1])
    ctx = g_context(g, torch.randn(4, 4), y)
    term = ModeSeeking(weight=2.0, eps=1e-5).g_terms(ctx)["mode_seeking"]
    assert term.item() == pytest.approx(2.0 / (0.5 + 1e-5))
    assert torch.equal(seen[1], y)                     # the second draw is of the same classes
    term.backward()
    assert scale.grad.item() < 0                       # descending the term spreads the images: |scale| grows


def test_a_collapsed_g_pays_far_more_than_a_diverse_one():
    reg, z, y = ModeSeeking(weight=1.0, eps=1e-5), torch.randn(8, 4), torch.zeros(8, dtype=torch.long)
    collapsed = reg.g_terms(g_context(lambda z, y: torch.ones(len(z), 1, 2, 2) + 1e-3 * z.view(-1, 1, 2, 2), z, y))
    diverse = reg.g_terms(g_context(lambda z, y: z.view(-1, 1, 2, 2), z, y))
    assert collapsed["mode_seeking"].item() > 100 * diverse["mode_seeking"].item()

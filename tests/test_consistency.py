"""Consistency regularization: CR, bCR and zCR (StudioGAN's BigGAN-CR / BigGAN-ICR), each a D or G term."""
import json

import pytest
import torch
import torch.nn.functional as F

from conftest import run
from ganlab.models.base import DOut
from ganlab.regularizers.base import StepContext
from ganlab.regularizers.consistency import Consistency, flip_translate
from ganlab.track.stats import Stats


def candidates(img: torch.Tensor, s: int) -> list[torch.Tensor]:
    """Every flip x shift of one image (C, H, W), shifts up to s pixels, reflection padding."""
    out = []
    for x in (img, img.flip(2)):
        p = F.pad(x[None], (s, s, s, s), mode="reflect")[0]
        h, w = x.shape[1:]
        out += [p[:, i:i + h, j:j + w] for i in range(2 * s + 1) for j in range(2 * s + 1)]
    return out


def test_the_transform_is_a_flip_and_a_reflected_shift_of_up_to_an_eighth():
    torch.manual_seed(0)
    x = torch.randn(64, 3, 16, 16)
    y = flip_translate(x)
    assert y.shape == x.shape
    for a, b in zip(x, y):
        assert any(torch.equal(b, c) for c in candidates(a, 2))      # 16 / 8 = 2 pixels
    assert not torch.equal(x, y) and (y.flatten(1) != x.flatten(1)).any(1).float().mean() > 0.5


class LeftHalfD(torch.nn.Module):
    """Scores the left half only: flips and shifts change its score."""
    def forward(self, x, y=None):
        return DOut(x[..., : x.shape[-1] // 2].mean((1, 2, 3)) * 10)


def test_cr_is_the_squared_score_change_under_the_transform():
    d, real = LeftHalfD(), torch.randn(8, 3, 16, 16)
    run_d = lambda x, y, side, ctx, augment=True: d(x, y)   # noqa: E731
    ctx = StepContext(step=0, phase="d", d=d, stats=Stats(), run_d=run_d, real=real, fake=torch.randn(8, 3, 16, 16))
    ctx.out_real, ctx.out_fake = d(real), d(ctx.fake)
    torch.manual_seed(1)
    terms = Consistency(real_weight=10.0).d_terms(ctx)
    torch.manual_seed(1)
    want = 10.0 * F.mse_loss(d(real).logits, d(flip_translate(real)).logits)
    assert set(terms) == {"cr_real"} and terms["cr_real"].item() == pytest.approx(want.item(), rel=1e-6) and want > 0
    assert set(Consistency(real_weight=10.0, fake_weight=10.0).d_terms(ctx)) == {"cr_real", "cr_fake"}   # bCR
    with pytest.raises(ValueError, match="one of them positive"):
        Consistency(real_weight=0.0)
    torch.manual_seed(1)
    by_name = Consistency(real_weight=10.0, transform="diffaugment").d_terms(ctx)["cr_real"]   # T: another augmenter
    assert by_name > 0 and by_name.item() != pytest.approx(want.item())


def test_icr_trains_with_every_term_on_d_and_g(tmp_path):
    run(tmp_path, ["regularizer=[consistency]", "regularizer.consistency.fake_weight=10",
                   "regularizer.consistency.z_d_weight=20", "regularizer.consistency.z_g_weight=0.5"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    row = next(r for r in rows if "loss/g/zcr_g" in r)
    assert all(row[f"loss/d/{k}"] >= 0 for k in ("cr_real", "cr_fake", "zcr_d"))
    assert row["loss/g/zcr_g"] < 0                                  # G is pushed to keep nearby z apart

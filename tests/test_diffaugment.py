"""DiffAugment (Zhao et al. 2020): differentiable ops, their parameters, translation and cutout by hand."""

import torch

from ganlab.regularizers.diffaugment import DiffAugment, cutout, translation


def test_diffaugment_is_differentiable_and_its_parameters_stay_in_range():
    aug = DiffAugment(policy=["color", "translation", "cutout"])
    x = torch.rand(64, 3, 16, 16, requires_grad=True)
    y, params = aug.augment(x * 2 - 1)
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert {k: v.shape for k, v in params.items()} == {"color": (64, 3), "translation": (64, 2), "cutout": (64, 2)}
    for v in params.values():
        assert v.min() >= 0 and v.max() <= 1


def test_translation_shifts_with_zero_fill():
    x = torch.arange(16.0).view(1, 1, 4, 4) + 1
    torch.manual_seed(0)
    out, p = translation(x.repeat(50, 1, 1, 1), ratio=0.25)   # shifts in {-1, 0, 1}
    t = ((p - 0.5) * 2).round().long()                        # back to integer shifts
    for img, (ty, tx) in zip(out, t):
        expect = torch.zeros(4, 4)
        for i in range(4):
            for j in range(4):
                if 0 <= i + ty < 4 and 0 <= j + tx < 4:     # output pixel i shows input pixel i + t
                    expect[i, j] = x[0, 0, i + ty, j + tx]
        assert torch.equal(img[0], expect)


def test_cutout_zeroes_a_square_of_the_right_size_inside_the_image():
    out, p = cutout(torch.ones(200, 1, 8, 8), ratio=0.5)
    zeros = (out == 0).sum((1, 2, 3))
    assert zeros.max() == 16 and zeros.min() >= 4           # clipped at the borders, never bigger
    assert p.min() >= 0 and p.max() <= 1

"""AugSelf (Hou et al. 2021): heads that regress the augmentation parameters."""
import pytest
import torch

from conftest import d_context, run
from ganlab.cli.build import model_pair
from ganlab.regularizers.augself import AugSelf
from ganlab.regularizers.base import setup_all
from ganlab.regularizers.diffaugment import DiffAugment
from ganlab.track.stats import Stats


def test_augself_heads_receive_gradients_and_join_d_optimizer(tmp_path):
    _, d = model_pair("biggan_deep", image_size=32, channels=1, ch=4, depth=1)
    aug = DiffAugment(policy=["color", "translation", "cutout"])
    reg = AugSelf()
    setup_all([aug, reg], d, Stats())
    real, fake = torch.rand(4, 1, 32, 32), torch.rand(4, 1, 32, 32)
    xr, pr = aug.augment(real)
    xf, pf = aug.augment(fake)
    ctx = d_context(d, real, fake, {"real": pr, "fake": pf})
    ctx.out_real, ctx.out_fake = d(xr), d(xf)
    reg.d_terms(ctx)["augself"].backward()
    assert all(h.parametrizations.weight.original.grad.abs().sum() > 0 for h in reg.heads.values())
    # inside the trainer, the heads are in D's optimizer
    run(tmp_path, ["model=biggan_deep", "model.ch=4", "model.depth=1", "dataset.image_size=32",
                   "regularizer=[diffaugment,augself]", "train.steps=1"], tiny_model=False)
    state = torch.load(tmp_path / "checkpoints/last.pt", weights_only=True)
    n_heads = sum(1 for k in state["regs"][1] if k.endswith("original") or k.endswith("bias"))
    n_d = sum(1 for k in state["d"] if k.endswith("original") or k.endswith("bias") or k.endswith("gamma"))
    assert len(state["opt_d"]["param_groups"][0]["params"]) == n_d + n_heads


def test_augself_regresses_what_the_augmenters_declare_and_fails_at_build_without_one():
    _, d = model_pair("biggan_deep", image_size=32, channels=1, ch=4, depth=1)
    reg = AugSelf()
    setup_all([DiffAugment(policy=["translation"]), reg], d, Stats())
    assert {k: h.out_features for k, h in reg.heads.items()} == {"translation": 2}
    with pytest.raises(ValueError, match=r"augself needs an augmenting regularizer in the list"):
        setup_all([AugSelf()], d, Stats())

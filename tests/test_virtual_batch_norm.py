"""Virtual batch norm (Salimans et al. 2016): DCGAN's G normalises each image with the statistics of a reference
batch fixed at the start (and checkpointed) joined by the image itself, so no image depends on its batch."""
import pytest
import torch

from conftest import run
from ganlab.models.dcgan import REFERENCE_BATCH, DCGANGenerator, VirtualBatchNorm2d


def test_an_image_is_normalised_by_the_reference_statistics_joined_by_itself():
    torch.manual_seed(0)
    vbn = VirtualBatchNorm2d(3)
    ref, x = torch.randn(8, 3, 4, 4) * 2 + 1, torch.randn(2, 3, 4, 4)
    out_ref = vbn(ref)
    assert torch.allclose(out_ref.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out_ref.var((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    mean = (8 * ref.mean((0, 2, 3)) + x[0].mean((1, 2))) / 9
    var = (8 * ref.pow(2).mean((0, 2, 3)) + x[0].pow(2).mean((1, 2))) / 9 - mean ** 2
    want = (x[0] - mean[:, None, None]) / torch.sqrt(var[:, None, None] + vbn.eps)
    assert torch.allclose(vbn(x)[0], want, atol=1e-5)        # the reference batch's statistics joined by image 0


def test_no_image_depends_on_the_rest_of_its_batch_and_the_reference_is_checkpointed():
    torch.manual_seed(0)
    g = DCGANGenerator(z_dim=8, image_size=16, channels=1, width=4, num_classes=3, norm="virtual").train()
    z, y = torch.randn(5, 8), torch.tensor([0, 1, 2, 0, 1])
    assert torch.allclose(g(z, y)[:1], g(z[:1], y[:1]), atol=1e-6)
    batch_norm = DCGANGenerator(z_dim=8, image_size=16, channels=1, width=4, num_classes=3).train()
    assert not torch.allclose(batch_norm(z, y)[:1], batch_norm(z[:1], y[:1]), atol=1e-6)
    state = g.state_dict()
    assert state["ref_z"].shape == (REFERENCE_BATCH, 8)
    other = DCGANGenerator(z_dim=8, image_size=16, channels=1, width=4, num_classes=3, norm="virtual")
    other.ref_z.normal_()                                     # a different reference batch ...
    other.load_state_dict(state)                              # ... until the checkpoint's is loaded
    assert torch.equal(other(z, y), g(z, y))
    with pytest.raises(ValueError, match="unknown g_norm 'layer'; available: batch, virtual, class"):
        DCGANGenerator(norm="layer")


def test_it_trains_and_resumes(tmp_path):
    common = ["model.g_norm=virtual", "train.ckpt_every=1"]
    summary, d = run(tmp_path, [*common, "train.steps=2"])
    assert summary["status"] == "finished"
    summary, _ = run(tmp_path, [*common, "train.steps=3", "resume=auto"])
    assert summary["status"] == "finished" and summary["step"] == 3

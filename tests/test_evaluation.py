"""Evaluation that can be trusted: G's sampling mode, noise intervals, density/coverage, memorization,
the protocol fingerprint, and one FID per checkpoint (in training == ganlab-evaluate)."""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from conftest import TINY, TINY_DCGAN, compose_cfg, run, scoring
from ganlab.cli import evaluate as evaluate_cli
from ganlab.cli import sample as sample_cli
from ganlab.cli.build import resolve_extractors
from ganlab.config import EvalSchema, validated
from ganlab.data.digits import digits
from ganlab.data.subsets import take_fraction
from ganlab.metrics import neighbours
from ganlab.metrics.domain import digits_extractor
from ganlab.metrics.evaluator import Evaluator
from ganlab.metrics.protocol import fingerprint
from ganlab.metrics.sampling import STANDING_SEED, GSampler, truncated_normal
from ganlab.models.dcgan import DCGANGenerator


# ---- density / coverage, memorization, bootstrap: against direct computations ---------------------
def direct_prdc(real, fake, k):
    """prdc.compute_prdc's density and coverage, written out with numpy (Naeem et al. 2020)."""
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    radii = np.sort(d_rr, axis=1)[:, k]                        # k-th neighbour, self at 0
    d_rf = np.linalg.norm(real[:, None] - fake[None], axis=-1)  # (N, M)
    density = (d_rf < radii[:, None]).sum(0).mean() / k
    coverage = (d_rf.min(1) < radii).mean()
    return density, coverage


@pytest.mark.parametrize("block", [neighbours.MAX_BLOCK, 37])   # 37 floats: many tiny blocks
def test_density_coverage_match_a_direct_computation(monkeypatch, block):
    monkeypatch.setattr(neighbours, "MAX_BLOCK", block)
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(120, 6, generator=gen)
    fake = torch.randn(90, 6, generator=gen) * 1.2 + 0.3
    got = neighbours.density_coverage(real, fake, k=5)
    density, coverage = direct_prdc(real.numpy(), fake.numpy(), 5)
    assert got["density"] == pytest.approx(density, rel=1e-6)
    assert got["coverage"] == pytest.approx(coverage, rel=1e-6)
    assert 0.2 < got["coverage"] < 1.0      # a shifted fake set: some reals uncovered


def test_memorization_matches_a_direct_computation_in_small_blocks(monkeypatch):
    monkeypatch.setattr(neighbours, "MAX_BLOCK", 50)
    gen = torch.Generator().manual_seed(1)
    train, fake = torch.randn(80, 5, generator=gen), torch.randn(40, 5, generator=gen)
    fake[:10] = train[:10] + 1e-3                               # ten near-copies
    got = neighbours.memorization(train, fake, percentile=5)
    d = torch.cdist(fake.double(), train.double())
    d_rr = torch.cdist(train.double(), train.double()) + torch.eye(80, dtype=torch.float64) * 1e9
    nn_rr = d_rr.min(1).values
    thr = np.percentile(nn_rr.numpy(), 5)
    assert got["mem_threshold"] == pytest.approx(thr, rel=1e-5)
    assert got["mem_fraction"] == pytest.approx(float((d.min(1).values < thr).double().mean()), abs=1e-6)
    ratio = d.min(1).values / nn_rr[d.argmin(1)]
    assert got["mem_median_ratio"] == pytest.approx(float(ratio.median()), rel=1e-4)
    assert 0.25 <= got["mem_fraction"] <= 0.35                  # the 10 copies of 40, and little else


def test_fid_bootstrap_matches_resampling_by_hand():
    gen = torch.Generator().manual_seed(2)
    real = torch.randn(300, 4, generator=gen, dtype=torch.float64)
    fake = torch.randn(200, 4, generator=gen, dtype=torch.float64) * 1.1 + 0.2
    ref = fid_features_to_statistics(real)
    lo, hi = neighbours.fid_bootstrap(fake, ref["mu"], ref["sigma"], resamples=30, level=0.9, seed=5)
    draw = torch.Generator().manual_seed(5)
    fids = [fid_statistics_to_metric(fid_features_to_statistics(fake[torch.randint(200, (200,), generator=draw)]), ref, False)
            ["frechet_inception_distance"] for _ in range(30)]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(fids, [5, 95])), rel=1e-6)


class Copier(nn.Module):
    """A 'generator' that returns images of a fixed set: training images (a copier) or held-out ones."""

    def __init__(self, images):
        super().__init__()
        self.images, self.z_dim, self.num_classes = images, 4, 0

    def forward(self, z, y=None):
        idx = (z[:, 0].abs() * 1e4).long() % len(self.images)
        return self.images[idx].float() / 127.5 - 1


def test_memorization_flags_a_generator_that_copies_its_training_images(tmp_path):
    train, held_out = digits(16, "train"), digits(16, "test")
    ev = Evaluator(digits_extractor(), train, scoring(metrics=["memorization"], num_samples=300), cache_key="mem-train",
                   out_dir=tmp_path / "eval", sampler=GSampler("running", 100))
    copy = ev.evaluate(Copier(train.images), step=7)
    fresh = ev.evaluate(Copier(held_out.images))
    assert copy["mem_fraction"] > 0.95 and copy["mem_median_ratio"] < 0.01
    assert fresh["mem_fraction"] < 0.3 and fresh["mem_median_ratio"] > 0.5
    assert (tmp_path / "eval/memorization_step_0000007.png").is_file()


# ---- how G is sampled -------------------------------------------------------------------------------
def tiny_g():
    torch.manual_seed(0)
    g = DCGANGenerator(z_dim=8, image_size=16, channels=1, width=4, num_classes=0)
    with torch.no_grad():   # running stats that differ from any batch's
        for m in g.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.fill_(0.3)
                m.running_var.fill_(2.0)
    return g


def test_g_modes_sample_as_named_and_leave_g_untouched():
    g, z = tiny_g(), torch.randn(20, 8)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    rng = torch.get_rng_state()
    outs = {}
    for mode in ("batch", "running", "standing"):
        s = GSampler(mode, 10, standing_passes=3)
        with s.prepared(g):
            outs[mode] = s.images(g, z)
    assert torch.equal(torch.get_rng_state(), rng)                      # no draw from the global RNG
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items()) and g.training
    with torch.no_grad():
        assert torch.allclose(outs["running"], g.eval()(z), atol=1e-6)
        g.train()
        assert torch.allclose(outs["batch"], torch.cat([g(z[:10]), g(z[10:])]), atol=1e-6)
        # standing by hand: cumulative BN averages over 3 train-mode passes of 10, then eval mode
        for m in g.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        gen = torch.Generator().manual_seed(STANDING_SEED)
        for _ in range(3):
            g(torch.randn(10, 8, generator=gen))
        assert torch.allclose(outs["standing"], g.eval()(z), atol=1e-5)
    assert not torch.allclose(outs["standing"], outs["running"], atol=1e-3)


def test_truncation_resamples_every_large_entry():
    z = truncated_normal(500, 16, 0.5, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.5 and z.std() == pytest.approx(0.28, abs=0.03)   # N(0,1) truncated at 0.5: sd 0.28
    with pytest.raises(ValueError, match="truncation"):
        GSampler("batch", 10, truncation=-1.0)
    with pytest.raises(ValueError, match="unknown eval.g_mode 'bn'; available: batch, running, standing"):
        GSampler("bn")


def test_protocol_hash_changes_with_the_sampling_mode_only():
    base = {"extractor": "inception", "num_samples": 10000, "g_mode": "batch", "g_batch_size": 50}
    assert fingerprint(dict(base)) == fingerprint(dict(reversed(list(base.items()))))
    assert fingerprint({**base, "g_mode": "running"}) != fingerprint(base)


def test_fid_extractor_comes_from_the_dataset_declaration():
    ev = validated(EvalSchema, compose_cfg([]).eval, "eval")     # eval/default.yaml: extractor auto
    assert resolve_extractors(ev, "digits") == ("digits", "digits")
    assert resolve_extractors(ev, "cifar10") == ("inception", "vgg16")
    ev.extractor = "dinov2"
    assert resolve_extractors(ev, "cifar10") == ("dinov2", "dinov2")


# ---- one checkpoint, one FID --------------------------------------------------------------------------
def save_config(d, overrides):
    from omegaconf import OmegaConf
    (d / ".hydra").mkdir(exist_ok=True)
    OmegaConf.save(compose_cfg(TINY + TINY_DCGAN + ["regularizer=[]"] + overrides), d / ".hydra/config.yaml")


@pytest.mark.parametrize("mode", ["batch", "standing"])
def test_in_training_fid_equals_ganlab_evaluate_on_last_pt(tmp_path, capsys, mode):
    over = ["eval=default", "eval.every=2", "eval.num_samples=60", "eval.kid_subset_size=50", "train.steps=2",
            f"eval.g_mode={mode}", "eval.g_batch_size=16", "eval.g_standing_passes=3", "eval.fid_ci_resamples=20"]
    _, d = run(tmp_path, over)
    save_config(d, over)
    trained = json.loads((d / "eval.jsonl").read_text().splitlines()[-1])
    capsys.readouterr()
    evaluate_cli.main([str(d), "--checkpoint", "last.pt", "--device", "cpu", "--no-append"])
    again = json.loads(capsys.readouterr().out)
    assert trained["protocol"]["g_mode"] == mode and again["protocol_hash"] == trained["protocol_hash"]
    for key in ("fid", "fid_ci", "is_mean", "kid", "precision", "recall", "density", "coverage"):
        assert again[key] == pytest.approx(trained[key], rel=1e-9, abs=1e-12), key


def test_a_run_on_a_fraction_is_told_what_copying_its_training_images_scores(tmp_path):
    """fid_train is the FID of the training subset itself: a G that copies those images scores about that, a little
    more with fewer samples (its samples' statistics are theirs, weighted by the draws: 72 images drawn 2,000 times
    scored 137 against their own 108, 20,000 times 111), so a low-data run can be read against it. A run on all
    the data has none."""
    whole = digits(16, "train")
    part = take_fraction(whole, fraction=0.05)
    ev = Evaluator(digits_extractor(), whole, scoring(metrics=["fid"], num_samples=10000, fid_ci=0), cache_key="fr-whole",
                   train_set=part, train_cache_key="fr-part", score_train_set=True, sampler=GSampler("running", 100))
    copier = ev.evaluate(Copier(part.images))
    ref = ev.reference_features()["stats"]
    direct = fid_statistics_to_metric(fid_features_to_statistics(digits_extractor()(part.images, 100)["features"].double()),
                                      ref, False)["frechet_inception_distance"]
    assert copier["fid_train_n"] == len(part) < len(whole) // 10
    assert copier["fid_train"] == pytest.approx(direct, rel=1e-6)
    assert copier["fid_train"] > 2 * copier["fid_floor"]                       # 5% of the images is far from the set
    assert copier["fid"] == pytest.approx(copier["fid_train"], rel=0.1)      # the copier scores what its images do
    plain = Evaluator(digits_extractor(), whole, scoring(metrics=["fid"], num_samples=200, fid_ci=0), cache_key="fr-whole",
                      sampler=GSampler("running", 100)).evaluate(Copier(part.images))
    assert "fid_train" not in plain


def test_training_on_a_fraction_records_fid_train_and_on_the_whole_set_does_not(tmp_path):
    over = ["eval=default", "eval.every=2", "eval.num_samples=40", "eval.fid_ci=0", "eval.metrics=[fid]", "train.steps=2"]
    rows = {}
    for name, extra in (("part", ["dataset.fraction=0.1"]), ("whole", [])):
        _, d = run(tmp_path / name, over + extra)
        rows[name] = json.loads((d / "eval.jsonl").read_text().splitlines()[-1])
    assert rows["part"]["fid_train"] > rows["part"]["fid_floor"] and rows["part"]["fid_train_n"] > 0
    assert "fid_train" not in rows["whole"]


def test_rescoring_under_a_new_protocol_appends_its_own_fingerprint(tmp_path, capsys):
    over = ["eval=default", "eval.every=2", "eval.num_samples=40", "eval.kid_subset_size=30", "train.steps=2",
            "eval.fid_ci_resamples=10"]
    _, d = run(tmp_path, over)
    save_config(d, over)
    evaluate_cli.main([str(d), "--device", "cpu", "--set", "eval.g_mode=running", "--set", "eval.metrics=[fid,memorization]"])
    lines = [json.loads(x) for x in (d / "eval.jsonl").read_text().splitlines()]
    assert lines[-1]["protocol"]["g_mode"] == "running" and lines[-1]["protocol_hash"] != lines[0]["protocol_hash"]
    assert 0 <= lines[-1]["mem_fraction"] <= 1 and (d / "eval").is_dir()


def test_evaluate_scores_an_npz_and_a_folder_of_someone_elses_images(tmp_path, capsys):
    from PIL import Image
    test = digits(16, "test").images[:200]
    np.savez(tmp_path / "x.npz", images=test.permute(0, 2, 3, 1).numpy())
    (tmp_path / "png").mkdir()
    for i, img in enumerate(test[:, 0].numpy()):
        Image.fromarray(img).save(tmp_path / "png" / f"{i:04d}.png")
    noise = torch.randint(0, 256, (200, 16, 16, 1), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    np.savez(tmp_path / "noise.npz", images=noise.numpy())
    results = {}
    for name in ("x.npz", "png", "noise.npz"):
        evaluate_cli.main(["--images", str(tmp_path / name), "--dataset", "digits", "--device", "cpu",
                           "--set", "dataset.image_size=16", "--set", "eval.metrics=[fid,pr]", "--set", "eval.fid_ci=0",
                           "--out", str(tmp_path / "scores.jsonl")])
        results[name] = json.loads(capsys.readouterr().out)
    assert results["x.npz"]["protocol"]["source"] == "images" and results["x.npz"]["protocol"]["num_samples"] == 200
    assert results["png"]["fid"] == pytest.approx(results["x.npz"]["fid"], rel=1e-6)      # same pixels, same FID
    assert results["noise.npz"]["fid"] > 5 * results["x.npz"]["fid"]
    assert len((tmp_path / "scores.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("conditional", [True, False])
def test_every_sample_mode_works_on_conditional_and_unconditional_runs(tmp_path, capsys, conditional):
    over = ["train.steps=1", f"model.conditional={str(conditional).lower()}"]
    _, d = run(tmp_path / "run", over)
    save_config(d, over)
    out = tmp_path / "png"
    for mode in ([], ["--grid"], ["--truncation", "0.7"], ["--interpolate", "8"]):   # 8 steps x 8 rows > 50 a batch
        sample_cli.main([str(d), "--n", "20", *mode, "--out", str(out), "--device", "cpu"])
    if conditional:
        sample_cli.main([str(d), "--classes", "3", "--out", str(out), "--device", "cpu"])
    printed = capsys.readouterr().out
    expected = ["grid.png", "interpolate_latent.png"] + (["interpolate_class.png", "class_003.png"] if conditional else [])
    assert all((out / name).is_file() and str(out / name) in printed for name in expected)
    assert len(np.load(out / "samples.npz")["images"]) == 20 and "wrote 20 images" in printed


def test_sample_truncation_interpolation_and_class_grids(tmp_path, capsys):
    _, d = run(tmp_path / "run", ["train.steps=1"])
    save_config(d, ["train.steps=1"])
    out = tmp_path / "png"
    sample_cli.main([str(d), "--interpolate", "5", "--truncation", "0.7", "--out", str(out), "--device", "cpu"])
    sample_cli.main([str(d), "--classes", "3,5", "--out", str(out), "--device", "cpu"])
    printed = capsys.readouterr().out
    for name in ("interpolate_latent.png", "interpolate_class.png", "class_003.png", "class_005.png"):
        assert (out / name).is_file() and str(out / name) in printed
    from PIL import Image
    assert Image.open(out / "interpolate_latent.png").size == (5 * 17 + 1, 8 * 17 + 1)   # 5 steps x 8 rows of 16 px
    with pytest.raises(SystemExit, match="--classes \\[12\\] out of range"):
        sample_cli.main([str(d), "--classes", "12", "--out", str(out), "--device", "cpu"])


# ---- class metrics: the right class in every row, and more than one image per class -------------
class ClassCopier(nn.Module):
    """A conditional 'generator' that returns held-out images of class (y + shift) % 10: one per class
    (the first of it) when `one`, else the one the noise picks."""

    def __init__(self, images, labels, shift=0, one=False):
        super().__init__()
        self.z_dim, self.num_classes, self.shift, self.one = 4, 10, shift, one
        self.by_class = [images[labels == c] for c in range(10)]

    def forward(self, z, y=None):
        pick = (z[:, 0].abs() * 1e4).long()
        out = [self.by_class[c][0 if self.one else int(i) % len(self.by_class[c])]
               for c, i in zip(((y + self.shift) % 10).tolist(), pick)]
        return torch.stack(out).float() / 127.5 - 1


def test_class_acc_and_class_recall_tell_wrong_classes_and_one_image_per_class_apart():
    train, held_out = digits(16, "train"), digits(16, "test")
    ev = Evaluator(digits_extractor(), train, scoring(metrics=["class_acc", "class_recall", "pr"], num_samples=500),
                   cache_key="class-train", sampler=GSampler("running", 100))
    good = ev.evaluate(ClassCopier(held_out.images, held_out.labels))
    wrong = ev.evaluate(ClassCopier(held_out.images, held_out.labels, shift=1))
    one = ev.evaluate(ClassCopier(held_out.images, held_out.labels, one=True))
    assert good["class_acc"] > 0.9 and wrong["class_acc"] < 0.1 and one["class_acc"] >= 0.9
    assert good["class_recall"] > 0.5 and one["class_recall"] < 0.05
    assert wrong["class_recall"] < 0.1          # each class's samples are compared with that class's reals


def test_class_metrics_are_skipped_for_an_unconditional_g_and_refused_without_a_classifier():
    train = digits(16, "train")
    ev = Evaluator(digits_extractor(), train, scoring(metrics=["fid", "class_acc", "class_recall"], num_samples=100),
                   cache_key="class-train", sampler=GSampler("running", 100))
    assert not {"class_acc", "class_recall"} & set(ev.evaluate(Copier(train.images)))
    ext = digits_extractor()
    ext.classes = 0
    with pytest.warns(UserWarning, match="not a classifier of this data set's classes; class_acc skipped"):
        assert "class_acc" not in Evaluator(ext, train, scoring(metrics=["fid", "class_acc"], num_samples=10)).metrics

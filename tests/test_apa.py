"""APA (Jiang et al. 2021): pseudo-reals from G, the p controller, its log and its resume."""
import json

import torch

from conftest import TINY, TINY_DCGAN, compose_cfg, run
from ganlab.cli.build import build
from ganlab.regularizers.apa import APA
from ganlab.regularizers.base import StepContext
from ganlab.track.stats import Stats


def test_apa_pseudo_reals_are_the_previous_g_output_with_the_reals_labels():
    """EndlessSora/DeceiveD training/loss.py: pseudo_data is the Gmain phase's output, detached; each real is
    replaced with probability p and keeps real_c. Not the D step's own fakes."""
    apa = APA(p_init=1.0)
    g_out, d_fakes, real = torch.full((6, 1, 2, 2), 0.5), -torch.ones(6, 1, 2, 2), torch.ones(6, 1, 2, 2)
    apa.update(StepContext(step=0, phase="g", d=None, stats=Stats(), run_d=None, fake=g_out.requires_grad_()))
    labels = torch.arange(6)
    ctx = StepContext(step=1, phase="d", d=None, stats=Stats(), run_d=None, real=real, y_real=labels,
                      fake=d_fakes, y_fake=torch.zeros(6, dtype=torch.long))
    mixed = apa.mix_real(real, ctx)
    assert torch.equal(mixed, g_out.detach()) and not mixed.requires_grad
    assert torch.equal(ctx.y_real, labels)


def test_apa_draws_fresh_noise_only_when_there_is_no_previous_output_and_p_is_positive():
    real = torch.ones(4, 1, 2, 2)
    calls = []

    def generate(n):
        calls.append(n)
        return torch.zeros(n, 1, 2, 2), None, None
    ctx = StepContext(step=0, phase="d", d=None, stats=Stats(), run_d=None, real=real, generate=generate)
    assert torch.equal(APA(p_init=0.0).mix_real(real, ctx), real) and calls == []
    assert torch.equal(APA(p_init=1.0).mix_real(real, ctx), torch.zeros(4, 1, 2, 2)) and calls == [4]


def test_in_training_no_pseudo_real_is_also_scored_as_fake_in_its_d_step(tmp_path):
    cfg = compose_cfg(TINY + TINY_DCGAN + ["regularizer=[apa]", "regularizer.apa.p_init=0.5", "train.steps=4"])
    trainer = build(cfg, tmp_path)
    apa, checked = trainer.regs[0], []
    mix_real = apa.mix_real

    def checking_mix_real(real, ctx):
        labels, previous = ctx.y_real.clone(), apa.pseudo
        mixed = mix_real(real, ctx)
        replaced = (mixed != real).flatten(1).any(1)
        same_as_d_fake = (mixed[:, None] == ctx.fake[None]).flatten(2).all(2).any(1)   # (B,)
        assert not same_as_d_fake.any() and torch.equal(ctx.y_real, labels)
        if previous is not None:
            assert torch.equal(mixed[replaced], previous[replaced])
        checked.append(int(replaced.sum()))
        return mixed
    apa.mix_real = checking_mix_real
    trainer.fit()
    assert len(checked) == 4 and sum(checked) > 0


def test_apa_p_rises_when_d_overfits_a_tiny_subset(tmp_path):
    summary, run_dir = run(tmp_path, ["loss=bce", "dataset.fraction=0.02", "regularizer=[apa]",
                                      "regularizer.apa.kimg=2", "train.steps=240", "train.log_every=40",
                                      "train.sample_every=1000", "train.ckpt_every=1000"])
    p = [json.loads(x).get("reg/apa/p") for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert p[0] >= 0 and p[-1] > 0.1 and summary["final"]["reg/apa/sign_real"] > 0.6


def test_apa_p_is_logged_and_survives_resume(tmp_path):
    over = ["regularizer=[apa]", "regularizer.apa.kimg=0.05", "regularizer.apa.interval=1",
            "train.log_every=2", "train.ckpt_every=2"]
    run(tmp_path / "a", ["train.steps=6", *over])
    run(tmp_path / "b", ["train.steps=4", *over])
    run(tmp_path / "b", ["train.steps=6", "resume=auto", *over])
    sa, sb = (torch.load(tmp_path / x / "checkpoints/last.pt", weights_only=True) for x in "ab")
    pa, pb = sa["regs"][0]["p"], sb["regs"][0]["p"]
    assert float(pa) > 0 and torch.equal(pa, pb)
    # the pseudo-reals (the previous G output) are checkpointed too, so the resumed run mixes the same images
    assert all(torch.equal(sa["g"][k], sb["g"][k]) for k in sa["g"])
    rows = [json.loads(x) for x in (tmp_path / "a/metrics.jsonl").read_text().splitlines()]
    assert all("reg/apa/p" in r for r in rows)

"""The regularizer contract inside the real trainer: every D pass goes through run_d (the hook augmenters use).
Each regularizer has its own file: test_diffaugment.py, test_augself.py, test_apa.py, test_lecam.py, ..."""
from conftest import TINY, TINY_DCGAN, compose_cfg
from ganlab.cli.build import build


def test_every_d_pass_goes_through_run_d(tmp_path):
    """AugSelf's clean pass and the input-gradient penalties used to call D directly, outside autocast."""
    cfg = compose_cfg(TINY + TINY_DCGAN + ["regularizer=[diffaugment,augself,r1]", "regularizer.r1.every=1",
                                           "train.steps=2"])
    trainer = build(cfg, tmp_path)
    inside, seen = [False], []
    run_d = trainer.run_d

    def counting_run_d(*args, **kwargs):
        inside[0] = True
        try:
            return run_d(*args, **kwargs)
        finally:
            inside[0] = False
    trainer.run_d = counting_run_d
    trainer.d.register_forward_pre_hook(lambda module, args: seen.append(inside[0]))
    trainer.fit()
    assert len(seen) >= 2 * (2 + 2 + 1) and all(seen)   # per step: real, fake, 2 clean passes, r1; then the G step

"""The learning-rate schedules: linear decay and ReduceLROnPlateau on its own window."""
import pytest
import torch
import torch.nn as nn

from ganlab.registry import SCHEDULERS
from ganlab.track.stats import Stats


def lrs(name, steps, stats=None, **kw):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = SCHEDULERS.build(name, optimizer=opt, total_steps=steps, **kw)
    if stats is not None:
        sched.attach(stats, "loss/g/total")
    out = []
    for step in range(1, steps + 1):
        if stats is not None:
            stats.report("loss/g/total", float(step))         # a rising loss: never an improvement
        sched.on_step(step)
        out.append(opt.param_groups[0]["lr"])
    return out


def test_linear_schedule_is_constant_then_decays_to_the_final_factor():
    assert lrs("linear", 10, start=4, final_factor=0.1) == pytest.approx(
        [1, 1, 1, 1 - 0.9 * 0 / 6, 1 - 0.9 / 6, 1 - 0.9 * 2 / 6, 1 - 0.9 * 3 / 6, 1 - 0.9 * 4 / 6, 1 - 0.9 * 5 / 6, 0.1])
    assert lrs("none", 3) == [1.0, 1.0, 1.0]


def test_plateau_steps_on_its_own_window():
    # windows of 3 steps; the first sets the best, patience 1: the third window without improvement halves
    assert lrs("plateau", 9, stats=Stats(), window=3, patience=1, factor=0.5) == pytest.approx([1] * 6 + [1, 1, 0.5])
    with pytest.raises(ValueError, match="scheduler.window must be at least 1, got 0"):
        lrs("plateau", 3, window=0)

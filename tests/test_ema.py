"""The EMA of G's weights: a copy before its start, an exponential average after."""
import pytest
import torch
import torch.nn as nn

from ganlab.train.ema import EMA


def test_ema_is_a_copy_before_start_then_an_exponential_average():
    model = nn.BatchNorm1d(1)
    ema = EMA(model, decay=0.9, start=2)
    with torch.no_grad():
        model.weight.fill_(5.0)
        model.num_batches_tracked.fill_(3)
    ema.update(model, step=1)                                   # before start: a plain copy
    assert ema.model.weight.item() == 5.0 and ema.model.num_batches_tracked.item() == 3
    with torch.no_grad():
        model.weight.fill_(7.0)
        model.num_batches_tracked.fill_(4)
    ema.update(model, step=2)                                   # 0.9 * 5 + 0.1 * 7
    assert ema.model.weight.item() == pytest.approx(5.2, abs=1e-6)
    assert ema.model.num_batches_tracked.item() == 4           # integer buffers are copied
    ema.update(model, step=3)                                   # 0.9 * 5.2 + 0.1 * 7
    assert ema.model.weight.item() == pytest.approx(5.38, abs=1e-6)

"""The stats channel: several readers, each with its own window, and partial sums across a checkpoint."""
import pytest
import torch

from ganlab.track.stats import Stats


def test_stats_readers_each_see_their_own_window():
    s = Stats()
    s.report("x", 100.0)                                        # no reader open: dropped
    s.open("log")
    s.open("apa", names=("d/sign_real",))
    s.report("x", torch.tensor([1.0, 3.0]))
    s.report("d/sign_real", torch.tensor([1.0, -1.0, 1.0, 1.0]))
    assert s.read("apa") == {"d/sign_real": pytest.approx(0.5)}
    s.report("d/sign_real", torch.tensor([-1.0, -1.0]))
    assert s.read("apa") == {"d/sign_real": pytest.approx(-1.0)}
    assert s.read_counts("log") == {"x": (pytest.approx(2.0), 2), "d/sign_real": (pytest.approx(0.0, abs=1e-9), 6)}
    assert s.read("log") == {}
    with pytest.raises(KeyError, match="stats reader 'nope' was never opened"):
        s.read("nope")


def test_stats_partial_sums_survive_a_checkpoint():
    s = Stats()
    s.open("log")
    s.report("x", torch.tensor([1.0, 2.0]))
    t = Stats()
    t.open("log")
    t.load_state_dict(s.state_dict())
    t.report("x", 6.0)
    assert t.read("log") == {"x": pytest.approx(3.0)}

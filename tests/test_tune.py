"""hardware.tune: channels_last and compile chosen by timing the run's own step, without changing what the run
computes; the choice and every timing in tune.json; a resumed run reuses it; a compile that cannot pay back
within the run is not chosen; precision is never tuned."""
import copy
import json

import pytest
import torch

from conftest import compose_cfg, preset_on_digits, run, tiny_model_settings
from ganlab.cli.build import build
from ganlab.train import state, tune
from ganlab.train.hardware import Hardware
from ganlab.train.trainer import Parts


@pytest.fixture
def quick(monkeypatch):
    """Tuning in 5 iterations per candidate, and on runs of any length (MAX_SHARE is what keeps short runs
    untuned; these runs are a few steps)."""
    for name, value in (("WARMUP", 1), ("BLOCK", 2), ("REPEATS", 2), ("MAX_SHARE", 10.0)):
        monkeypatch.setattr(tune, name, value)


def winner(monkeypatch, channels_last: bool):
    """Every timed block really trains, but the candidate with this memory format reads as the fastest."""
    def block(self):
        self.run(tune.BLOCK)
        self.blocks.append(0.1 if self.cand.channels_last == channels_last else 0.2)
    monkeypatch.setattr(tune.Trial, "block", block)


def built(tmp_path, overrides):
    """A trainer built untuned (hardware.tune=off), and its parts."""
    cfg = compose_cfg(["progress=false", "train.batch_size=8", "dataset.image_size=16", "hardware=cpu", "eval=none",
                       "hardware.tune=off", "train.steps=20", *overrides])
    cfg.model.update(tiny_model_settings(cfg.model.name, overrides))
    t = build(cfg, tmp_path)
    return t, Parts(t.g, t.d, t.loss, t.regs, t.opt_g, t.opt_d, t.sched_g, t.sched_d, t.data)


def assert_equal(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_timing_the_candidates_leaves_every_piece_of_the_run_state_as_it_was(tmp_path, quick):
    """Networks, EMA, optimizers, schedules, scalers, the regularizers' heads and state (AugSelf's heads, APA's p
    and pseudo-reals, mode seeking's second G pass), the data position, the statistics channel and the RNG."""
    t, parts = built(tmp_path, preset_on_digits("biggan_augself_apa_digits", steps=20))
    t.stats.report("loss/d/total", torch.tensor(0.5))   # a reader that holds something
    before = copy.deepcopy(state.state_dict(t))
    record = tune.measure(parts, t.stats, t.s, t.hw, steps_left=20)
    assert len(record["candidates"]) == 2 and all(len(c["blocks_s"]) == 2 for c in record["candidates"])
    assert_equal(before, state.state_dict(t), "state")
    assert all(p.is_contiguous() for p in t.d.parameters())   # the run's own modules were not re-placed


@pytest.mark.parametrize("chosen", [False, True], ids=["plain_chosen", "channels_last_chosen"])
def test_a_tuned_run_trains_as_the_run_with_the_chosen_settings_set_by_hand(tmp_path, quick, monkeypatch, chosen):
    """The tuner re-places the modules after their optimizers were built (configured the other way here)."""
    common = ["train.steps=4", "regularizer=[diffaugment,apa]", "regularizer.apa.interval=1", "regularizer.apa.p_init=0.5", "train.log_every=1"]
    winner(monkeypatch, chosen)
    _, tuned = run(tmp_path / "tuned", [*common, "hardware.tune=auto", f"hardware.channels_last={not chosen}"])
    record = json.loads((tuned / "tune.json").read_text())
    assert record["tuned"] and record["chosen"] == {"channels_last": chosen, "compile": False}
    _, by_hand = run(tmp_path / "by_hand", [*common, "hardware.tune=off", f"hardware.channels_last={chosen}"])
    rows = [[json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()] for d in (tuned, by_hand)]
    keys = [k for k in rows[0][0] if k.startswith(("loss/", "D(", "reg/"))]
    assert len(keys) > 5
    assert [[r[k] for k in keys] for r in rows[0]] == [[r[k] for k in keys] for r in rows[1]]


def test_a_resumed_run_reuses_the_recorded_choice_without_timing(tmp_path, quick, monkeypatch, capsys):
    winner(monkeypatch, True)
    run(tmp_path, ["train.steps=3", "hardware.tune=auto"])
    monkeypatch.setattr(tune, "measure", lambda *a, **k: pytest.fail("a resumed run timed the candidates again"))
    summary, _ = run(tmp_path, ["train.steps=5", "hardware.tune=auto", "resume=auto"])
    assert summary["step"] == 5
    assert "hardware.tune=auto: channels_last=true compile=false (the choice recorded" in capsys.readouterr().out


def test_a_run_too_short_to_pay_for_the_tuning_keeps_the_configured_settings(tmp_path, capsys):
    _, d = run(tmp_path, ["train.steps=2", "hardware.tune=auto", "hardware.channels_last=true"])
    record = json.loads((d / "tune.json").read_text())
    assert not record["tuned"] and record["chosen"] == {"channels_last": True, "compile": False}
    assert "not tuned: 2 steps is too short" in capsys.readouterr().out


def test_tune_off_writes_nothing(tmp_path):
    _, d = run(tmp_path, ["train.steps=2", "hardware.tune=off"])
    assert not (d / "tune.json").exists()


def test_a_compile_that_cannot_pay_back_within_the_run_is_not_chosen(tmp_path, quick, monkeypatch):
    """Compile is tried here (COMPILE_MIN_S 0, aot_eager: seconds), but one step left cannot win back its
    compile time. Precision stays what the user set."""
    monkeypatch.setattr(tune, "COMPILE_MIN_S", 0.0)
    t, parts = built(tmp_path, ["regularizer=[diffaugment]", "hardware.compile_backend=aot_eager",
                                "hardware.precision=bf16"])
    record = tune.measure(parts, t.stats, t.s, t.hw, steps_left=1)
    assert [c["compile"] for c in record["candidates"]] == [False, False, True]
    assert record["compile"].startswith("tried: compile took") and record["chosen"]["compile"] is False
    assert record["precision"] == "bf16"


def test_a_compile_that_fails_leaves_the_eager_choice_and_says_why(tmp_path, quick, monkeypatch):
    monkeypatch.setattr(tune, "COMPILE_MIN_S", 0.0)
    t, parts = built(tmp_path, ["regularizer=[]"])

    def broken(self, module):
        if self.compile:
            raise RuntimeError("no C++ compiler found\nmore lines")
        return module
    monkeypatch.setattr(Hardware, "compiled", broken)
    record = tune.measure(parts, t.stats, t.s, t.hw, steps_left=10 ** 6)
    assert record["compile"] == "tried and failed (RuntimeError: no C++ compiler found)"
    assert record["chosen"]["compile"] is False and len(record["candidates"]) == 2


def test_an_unknown_tune_mode_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown hardware.tune 'fast'; available: auto, off"):
        Hardware.resolve("cpu", tune="fast")

"""ganlab-compare over runs made by the real trainer, and wandb offline tracking."""
import csv
import json
import math
from html.parser import HTMLParser

import pytest

from conftest import ganlab_train_here
from ganlab.cli import compare
from ganlab.track.runs import find_runs, load_run

TINY = ["progress=false", "train.batch_size=8", "dataset.image_size=16", "model.g_width=8", "model.d_width=8",
        "train.log_every=1", "hardware=cpu", "eval.every=2", "eval.num_samples=40", "eval.kid_subset_size=20"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """`ganlab-train -m ...` in this process (conftest.ganlab_train_here: the jobs run one after another in it, as
    Hydra's basic launcher runs them in a process of its own)."""
    root = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert ganlab_train_here(monkeypatch, "-m", "seed=0,1", "loss=hinge,bce", "train.steps=2", *TINY,
                                 f"hydra.sweep.dir={root}/multirun") == 0
    return root / "multirun"


def fids(run_dirs):
    return [json.loads((d / "eval.jsonl").read_text().splitlines()[-1])["fid"] for d in run_dirs]


def test_multirun_sweeps_every_combination(sweep):
    """`ganlab-train -m seed=0,1 loss=hinge,bce`: four jobs, each a finished run of its own combination."""
    chosen = set()
    for job in sorted(sweep.glob("*/summary.json")):
        assert json.loads(job.read_text())["status"] == "finished"
        overrides = (job.parent / ".hydra/overrides.yaml").read_text()
        chosen.add((next(s for s in ("seed=0", "seed=1") if s in overrides), next(s for s in ("loss=hinge", "loss=bce") if s in overrides)))
    assert len(chosen) == 4


def test_compare_finds_runs_through_a_multirun_directory_and_a_glob(sweep):
    assert len(find_runs([str(sweep)])) == 4
    assert len(find_runs([str(sweep / "*")])) == 4
    assert len(find_runs([str(sweep / "0"), str(sweep / "0")])) == 1


def test_table_labels_runs_by_their_choices_and_fits_120_columns(sweep, capsys):
    compare.main([str(sweep)])
    out = capsys.readouterr().out
    header = [h.strip() for h in next(line for line in out.splitlines() if "status" in line).split("┃")]
    assert {"loss", "seed", "fid", "fid_best", "is", "precision", "recall", "kimg", "wall"} <= set(header)
    assert "loss.name" not in out and "model.g_width" not in out and "train.steps" not in out
    assert "hinge" in out and "bce" in out
    assert max(len(line) for line in out.splitlines()) <= 120



def test_the_comparison_plot_shows_what_d_did_beside_the_metrics(sweep):
    """--plot's grid over images seen: FID, class accuracy and recall, and E[sign D(real)] from metrics.jsonl, one
    line per run and key; no panel for an adaptive p that no run logged."""
    from ganlab.track.plots import comparison_figure
    runs = [load_run(d) for d in find_runs([str(sweep)])]
    fig = comparison_figure(runs, ["loss"])
    panels = {ax.get_title(): ax for ax in fig.axes if ax.lines}
    assert "E[sign D(real)] (training)" in panels and any(t.startswith("FID") for t in panels)
    assert len(panels["E[sign D(real)] (training)"].lines) == 4
    assert not any(t.startswith("adaptive") for t in panels)
    classes = next(ax for t, ax in panels.items() if t.startswith("class accuracy"))   # the default measures both
    assert len(classes.lines) == 8


def test_a_conditional_runs_class_accuracy_is_drawn_against_kimg():
    """eval.metrics with class_acc and class_recall: one panel holds both, a solid and a dashed line per run."""
    from ganlab.track.plots import PANELS, metric_grid
    evals = [{"kimg": k, "fid": 300 / k, "class_acc": 0.1 * k, "class_recall": 0.05 * k} for k in (1, 2, 4)]
    fig = metric_grid([(evals, "a", "C0"), ([dict(e, class_acc=e["class_acc"] / 2) for e in evals], "b", "C1")],
                      x="kimg", panels=PANELS)
    panel = next(ax for ax in fig.axes if ax.get_title().startswith("class accuracy"))
    assert [list(line.get_ydata()) for line in panel.lines[:2]] == [[0.1, 0.2, 0.4], [0.05, 0.1, 0.2]]
    assert len(panel.lines) == 4


def test_group_by_aggregates_seeds_with_mean_std_and_n(sweep, tmp_path):
    compare.main([str(sweep), "--group-by", "--csv", str(tmp_path / "t.csv"), "--markdown", str(tmp_path / "t.md"),
                  "--plot", str(tmp_path / "t.png"), "--sort", "fid"])
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert len(rows) == 2 and {r["loss"] for r in rows} == {"hinge", "bce"}
    for r in rows:
        members = [d for d in find_runs([str(sweep)]) if load_run(d).choices["loss"] == r["loss"]]
        values = fids(members)
        mu = sum(values) / 2
        sd = math.sqrt(sum((v - mu) ** 2 for v in values))   # n - 1 = 1
        assert r["fid"] == f"{mu:.4g} ±{sd:.2g} (n=2)" and r["fid seed sd"] == f"{sd:.2g}"
        cis = [json.loads((d / "eval.jsonl").read_text().splitlines()[-1])["fid_ci"] for d in members]
        samp = sum((hi - lo) / (2 * 1.959964) for lo, hi in cis) / 2
        assert r["fid sampling sd"] == f"{samp:.2g}"   # shown to 2 significant digits
    assert float(rows[0]["fid"].split()[0]) <= float(rows[1]["fid"].split()[0])
    assert (tmp_path / "t.md").read_text().startswith("| run | status | doctor | loss |")
    assert (tmp_path / "t.png").stat().st_size > 1000


def test_baseline_gap_is_tested_with_welch(sweep, tmp_path):
    from scipy.stats import ttest_ind
    compare.main([str(sweep), "--group-by", "loss", "--baseline", "loss=hinge", "--csv", str(tmp_path / "b.csv")])
    rows = {r["loss"]: r for r in csv.DictReader(open(tmp_path / "b.csv"))}
    runs = [load_run(d) for d in find_runs([str(sweep)])]
    by = {k: [r.values["fid_final"] for r in runs if r.choices["loss"] == k] for k in ("hinge", "bce")}
    p = ttest_ind(by["bce"], by["hinge"], equal_var=False).pvalue
    assert rows["bce"]["p (Welch)"] == f"{p:.2g}"
    assert rows["bce"]["Holm p"] == f"{p:.2g}" and rows["hinge"]["Holm p"] == "-"   # one test: Holm's p is its own
    assert rows["bce"]["beyond noise"] == ("yes" if p < 0.05 else "no")
    gap = sum(by["bce"]) / 2 - sum(by["hinge"]) / 2
    assert rows["bce"]["Δfid_final"] == f"{gap:+.3g}" and rows["hinge"]["Δfid_final"] == "+0"
    with pytest.raises(SystemExit, match="no group has it"):
        compare.main([str(sweep), "--group-by", "loss", "--baseline", "loss=wasserstein"])


def test_holm_multiplies_the_kth_smallest_p_by_the_tests_left_and_keeps_the_order():
    from ganlab.track.compare import holm
    assert holm([0.01, 0.04, 0.03, math.nan]) == pytest.approx([0.03, 0.06, 0.06, math.nan], nan_ok=True)
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_mixed_protocols_are_refused_unless_allowed_and_then_marked(sweep, tmp_path, capsys):
    import shutil
    other = tmp_path / "other"
    shutil.copytree(sweep / "0", other)
    lines = [json.loads(x) for x in (other / "eval.jsonl").read_text().splitlines()]
    for e in lines:
        e["protocol"]["num_samples"] = 5000
        e.pop("protocol_hash")
    (other / "eval.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    with pytest.raises(SystemExit) as exit_info:
        compare.main([str(sweep / "1"), str(other)])
    assert exit_info.value.code == 2
    assert "num_samples: 40 vs 5000" in capsys.readouterr().err
    compare.main([str(sweep / "1"), str(other), "--allow-mixed", "protocol"])
    out = capsys.readouterr().out
    assert "protocol" in out and "*" in out and "num_samples: 40 vs 5000" in out


def test_commit_is_shown_when_runs_differ_in_it(sweep, tmp_path, capsys):
    import shutil
    for name, commit in (("a", "1234567890abcdef"), ("b", "fedcba0987654321")):
        shutil.copytree(sweep / "0", tmp_path / name)
        (tmp_path / name / "provenance.json").write_text(json.dumps({"git": {"commit": commit, "dirty": name == "b",
                                                                              "diff": None}}))
    compare.main([str(tmp_path / "a"), str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert "commit" in out and "12345678" in out and "fedcba09+dirty" in out
    compare.main([str(tmp_path / "a"), str(sweep / "0")])       # provenance.json may be absent
    assert "commit" in capsys.readouterr().out


def test_partial_runs_are_listed_with_what_they_have(sweep, tmp_path):
    import shutil
    broken = tmp_path / "broken"
    shutil.copytree(sweep / "0", broken)
    (broken / "summary.json").unlink()
    with open(broken / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "loss/d/tot')          # a line cut mid-write
    run = load_run(broken)
    assert run.status == "running" and run.skipped_lines == 1 and run.values["step"] == 2
    compare.main([str(broken), str(sweep / "1")])


def test_a_run_resumed_past_its_summary_is_running_not_finished(sweep, tmp_path):
    """A longer run resumed in the same directory keeps the first segment's summary.json until it ends."""
    import shutil
    resumed = tmp_path / "resumed"
    shutil.copytree(sweep / "0", resumed)
    assert load_run(resumed).status == "finished"
    with open(resumed / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 3, "kimg": 0.024, "time": 2.0}) + "\n")
    run = load_run(resumed)
    assert run.status == "running" and run.values["step"] == 3


def test_wandb_offline_run_lives_in_the_run_directory_and_holds_the_logged_keys(tmp_path):
    from conftest import run
    run(tmp_path, ["logger=wandb", "logger.wandb.mode=offline", "train.steps=2"])
    import wandb
    wandb.teardown()   # as at process exit: W&B's service may still be writing the file after run.finish()
    files = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    blob = files[0].read_bytes()
    for key in (b"loss/d/bce", b"D(x)", b"lr_g", b"img_s", b"samples", str(tmp_path).encode()):
        assert key in blob, key


def fake_run(d, regs, seed, choices=None):
    """A run directory as Hydra writes it, without training: config, hydra.yaml choices, overrides."""
    import yaml
    (d / ".hydra").mkdir(parents=True)
    reg = {"diffaugment": {"policy": ["color"], "color_strength": 1.0}} if regs else {}
    cfg = {"seed": seed, "model": {"name": "dcgan", "g_width": 8}, "loss": {"name": "bce"}, "regularizer": reg,
           "train": {"steps": 2}}
    (d / ".hydra/config.yaml").write_text(yaml.safe_dump(cfg))
    choices = choices or {"model": "dcgan", "loss": "bce", "hydra/launcher": "basic"}
    (d / ".hydra/hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": choices}}}))
    (d / ".hydra/overrides.yaml").write_text(yaml.safe_dump([f"regularizer=[{','.join(regs)}]", f"seed={seed}"]))
    (d / "eval.jsonl").write_text(json.dumps({"step": 2, "fid": 10.0 + seed, "protocol": {"num_samples": 40}}) + "\n")
    (d / "metrics.jsonl").write_text(json.dumps({"step": 2, "kimg": 0.016, "time": 1.0}) + "\n")


def test_runs_are_labelled_by_the_list_group_chosen_not_its_leaf_settings(tmp_path, capsys):
    from ganlab.track.compare import label_columns
    for i, (regs, seed) in enumerate([([], 0), ([], 1), (["diffaugment"], 0), (["diffaugment"], 1)]):
        fake_run(tmp_path / str(i), regs, seed)
    runs = [load_run(d) for d in find_runs([str(tmp_path)])]
    assert label_columns(runs) == ["regularizer", "seed"]
    assert [r.label("regularizer") for r in runs] == ["[]", "[]", "[diffaugment]", "[diffaugment]"]
    assert "regularizer.diffaugment.color_strength" in label_columns(runs, show_all=True)
    compare.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "[diffaugment]" in out and "color_strength" not in out and "hydra/launcher" not in out


def test_training_signals_apa_p_and_late_sign_real_are_columns(tmp_path):
    """--columns sign_real,apa_p,apa_p_max: E[sign D(real)] over the last quarter of the log, APA's final and
    highest p; a run without APA shows '-' for p."""
    for i, regs in enumerate([["apa"], []]):
        d = tmp_path / str(i)
        fake_run(d, regs, 0)
        rows = [{"step": s, "kimg": s / 1000, "time": float(s), "d/sign_real": 1.0 if s < 6 else 0.2,
                 **({"reg/apa/p": min(s, 5) / 10 - (0.3 if s == 8 else 0.0)} if regs else {})} for s in range(1, 9)]
        (d / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    apa, plain = (load_run(tmp_path / str(i)) for i in range(2))
    assert apa.values["sign_real_late"] == pytest.approx(0.2) and apa.values["apa_p_max"] == pytest.approx(0.5)
    assert apa.values["apa_p_final"] == pytest.approx(0.2) and "apa_p_max" not in plain.values
    out = tmp_path / "t.md"
    compare.main([str(tmp_path), "--columns", "sign_real,apa_p_max", "--markdown", str(out)])
    header, _, first, second = out.read_text().splitlines()
    assert "sign_real" in header and "apa_p_max" in header
    assert first.split(" | ")[-1].rstrip(" |") == "0.5" and second.split(" | ")[-1].rstrip(" |") == "-"
    with pytest.raises(SystemExit, match="unknown --columns"):
        compare.main([str(tmp_path), "--columns", "apa_q"])


def test_adas_p_and_where_the_fid_curve_turned_are_columns(tmp_path):
    """ada_p, ada_p_max from reg/ada/p; fid_best_kimg: the kimg of the best evaluation, not the last."""
    fake_run(tmp_path, ["ada"], 0)
    rows = [{"step": s, "kimg": s / 10, "reg/ada/p": [0.1, 0.7, 0.4][s - 1]} for s in (1, 2, 3)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    (tmp_path / "eval.jsonl").write_text("\n".join(json.dumps({"step": s, "kimg": s / 10, "fid": f})
                                                   for s, f in ((1, 90.0), (2, 60.0), (3, 75.0))) + "\n")
    run = load_run(tmp_path)
    assert run.values["ada_p_max"] == pytest.approx(0.7) and run.values["ada_p_final"] == pytest.approx(0.4)
    assert run.values["fid_best"] == 60.0 and run.values["fid_best_kimg"] == pytest.approx(0.2)


def test_what_copying_the_training_images_scores_is_a_column(tmp_path):
    """fid_train: a run on a fraction carries the FID of its own training images beside its FID."""
    fake_run(tmp_path, [], 0)
    (tmp_path / "eval.jsonl").write_text(json.dumps({"step": 1, "kimg": 0.1, "fid": 118.5, "fid_floor": 37.9,
                                                     "fid_train": 146.6, "fid_train_n": 90}) + "\n")
    out = tmp_path / "t.md"
    compare.main([str(tmp_path), "--columns", "fid_train", "--markdown", str(out)])
    header, _, row = out.read_text().splitlines()
    assert header.rstrip(" |").endswith("fid_train") and row.rstrip(" |").endswith("146.6")


def test_any_logged_key_is_a_column_by_its_own_name(tmp_path):
    """--columns reg/apa/p,loss/g/total: the last logged value of any metrics.jsonl key, with no list to extend."""
    for i, last in enumerate([0.25, 0.75]):
        d = tmp_path / str(i)
        fake_run(d, [], i)
        rows = [{"step": s, "kimg": s / 1000, "time": float(s), "reg/toy/x": last if s == 3 else 9.0} for s in (1, 2, 3)]
        (d / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    out = tmp_path / "t.md"
    compare.main([str(tmp_path), "--columns", "reg/toy/x", "--markdown", str(out)])
    header, _, *rows = out.read_text().splitlines()
    assert header.rstrip(" |").endswith("reg/toy/x")
    assert sorted(r.split(" | ")[-1].rstrip(" |") for r in rows) == ["0.25", "0.75"]
    with pytest.raises(SystemExit, match="or any key these runs logged"):
        compare.main([str(tmp_path), "--columns", "reg/toy/y"])


class Page(HTMLParser):
    """Counts what a person would look for on the report page."""

    def __init__(self):
        super().__init__()
        self.body_rows, self.alts, self.sources, self.in_body = 0, [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.in_body |= tag == "tbody"
        self.body_rows += tag == "tr" and self.in_body
        if tag == "img":
            self.alts.append(a.get("alt"))
            self.sources.append(a.get("src", ""))
        if tag in ("script", "link") and (a.get("src") or a.get("href")):
            self.sources.append(a.get("src") or a.get("href"))


def test_the_html_report_holds_the_table_one_grid_per_run_and_the_fingerprints(sweep, tmp_path):
    compare.report([str(sweep), "--out", str(tmp_path / "report.html")])
    text = (tmp_path / "report.html").read_text()
    page = Page()
    page.feed(text)
    runs = [load_run(d) for d in find_runs([str(sweep)])]
    assert page.body_rows == 4 and "<th>loss</th>" in text and "<th>fid</th>" in text
    assert page.alts.count("real images") == 4 and sum(a.startswith("samples") for a in page.alts) == 4
    assert "metrics against kimg" in page.alts and page.alts.count("losses, D(x) / D(G(z)), regularizer state") == 4
    assert all(r.protocol_hash and r.protocol_hash in text for r in runs)
    assert all(s.startswith("data:image/png;base64,") for s in page.sources)   # self-contained: nothing fetched
    compare.main([str(sweep), "--html", str(tmp_path / "same.html")])   # ganlab-compare --html: the same page
    again = Page()
    again.feed((tmp_path / "same.html").read_text())
    assert again.body_rows == 4 and again.alts == page.alts


def test_a_metric_is_plotted_against_a_numeric_key_one_line_per_arm_with_seed_error_bars(tmp_path, capsys):
    """--plot-against dataset.fraction PATH: FID against the fraction for each regularizer list; a run whose
    config has no regularizer at all (regularizer=[] on the command line) is the arm []."""
    import yaml

    from ganlab.track.compare import series_against
    for i, (regs, fraction, seed) in enumerate([(r, f, s) for r in ([], ["diffaugment"]) for f in (0.1, 1.0) for s in (0, 1)]):
        d = tmp_path / str(i)
        fake_run(d, regs, seed)
        cfg = yaml.safe_load((d / ".hydra/config.yaml").read_text())
        cfg["dataset"] = {"name": "digits", "fraction": fraction}
        if not regs:
            del cfg["regularizer"]
        (d / ".hydra/config.yaml").write_text(yaml.safe_dump(cfg))
        (d / ".hydra/overrides.yaml").write_text(yaml.safe_dump([f"regularizer=[{','.join(regs)}]", f"seed={seed}",
                                                                 f"dataset.fraction={fraction}"]))
        fid = (100 if regs else 200) / fraction + seed
        (d / "eval.jsonl").write_text(json.dumps({"step": 2, "fid": fid, "protocol": {"num_samples": 40}}) + "\n")
    runs = [load_run(d) for d in find_runs([str(tmp_path)])]
    lines = series_against(runs, ["regularizer", "dataset.fraction"], "dataset.fraction", "fid_final")
    assert lines == {"regularizer=[]": {0.1: [2000.0, 2001.0], 1.0: [200.0, 201.0]},
                     "regularizer=[diffaugment]": {0.1: [1000.0, 1001.0], 1.0: [100.0, 101.0]}}
    compare.main([str(tmp_path), "--group-by", "regularizer", "dataset.fraction",
                  "--plot-against", "dataset.fraction", str(tmp_path / "against.png")])
    assert (tmp_path / "against.png").stat().st_size > 10_000
    with pytest.raises(SystemExit, match="not a number"):
        compare.main([str(tmp_path), "--group-by", "dataset.fraction", "--plot-against", "regularizer", str(tmp_path / "x.png")])


@pytest.mark.parametrize("command", [compare.main, compare.report])
def test_a_directory_without_runs_is_one_line_and_exit_2(command, tmp_path, capsys):
    """As the README promises for every ganlab-* command: a user error is one line on stderr, exit status 2."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        command([str(tmp_path / "empty"), *(["--out", str(tmp_path / "r.html")] if command is compare.report else [])])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error: no run directory under" in err and str(tmp_path / "empty") in err


def cut_eval_run(d, summary: bool):
    """A run whose eval.jsonl ends in a line cut mid-write (step 6, FID 5.0); summary.json, if written, holds it whole."""
    fake_run(d, [], 0)
    lines = [{"step": 2, "fid": 30.0, "protocol": {"num_samples": 40}}, {"step": 4, "fid": 20.0, "protocol": {"num_samples": 40}}]
    final = {"step": 6, "fid": 5.0, "protocol": {"num_samples": 40}}
    (d / "eval.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines) + json.dumps(final)[:25])
    if summary:
        (d / "summary.json").write_text(json.dumps({"status": "finished", "final_eval": final}))


def test_a_cut_last_eval_line_is_said_in_the_table_or_read_from_summary(tmp_path, capsys):
    """The final FID is never silently the evaluation before: without summary.json the cell and a note say so; with
    it the final evaluation is summary.json's."""
    cut_eval_run(tmp_path / "bare", summary=False)
    cut_eval_run(tmp_path / "summed", summary=True)
    bare, summed = load_run(tmp_path / "bare"), load_run(tmp_path / "summed")
    assert bare.values["fid_final"] == 20.0 and "step 4's" in bare.eval_cut
    assert summed.values["fid_final"] == 5.0 and summed.values["fid_best"] == 5.0 and summed.final_from_summary
    compare.main([str(tmp_path / "bare"), "--markdown", str(tmp_path / "t.md")])
    out = capsys.readouterr().out
    row = (tmp_path / "t.md").read_text().splitlines()[2]
    assert "20 (step 4: last eval line cut)" in row
    assert "bare: the last line of eval.jsonl is cut; the final values shown are step 4's" in out
    compare.main([str(tmp_path / "summed"), "--markdown", str(tmp_path / "s.md")])
    assert "| 5 |" in (tmp_path / "s.md").read_text() and "summary.json's" in capsys.readouterr().out


def test_the_report_says_which_lines_it_skipped(tmp_path):
    fake_run(tmp_path / "run", [], 0)
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "loss/d/tot')          # a line cut mid-write
    cut_eval_run(tmp_path / "cut", summary=False)
    compare.report([str(tmp_path), "--out", str(tmp_path / "r.html")])
    text = (tmp_path / "r.html").read_text()
    assert "skipped 2 unreadable line(s) of metrics.jsonl / eval.jsonl in cut, run" in text
    assert "cut: the last line of eval.jsonl is cut" in text

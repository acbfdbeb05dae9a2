"""Datasets: image folders (decode once, cache, bad input), torchvision sets offline, subsets."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run
from ganlab.data import folder
from ganlab.data.base import DeviceBatches
from ganlab.data.digits import digits
from ganlab.data.stream import LoaderBatches, batches_for
from ganlab.data.subsets import subset_indices
from ganlab.registry import DATASETS


def png(path, size=(20, 16), mode="RGB", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode in ("L",) else (value,) * len(mode)).save(path)
    return path


@pytest.fixture
def faces(tmp_path):
    root = tmp_path / "faces"
    for i in range(6):
        png(root / f"{i}.png", value=20 * i)
    png(root / "rgba.png", mode="RGBA")
    png(root / "grey.png", mode="L")
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "notes.txt").write_text("not an image")
    return root


def test_folder_decodes_converts_and_skips_corrupt_files(faces, capsys):
    data = DATASETS.build("imagefolder", root=str(faces), image_size=8)
    assert data.images.shape == (8, 3, 8, 8) and data.images.dtype == torch.uint8
    assert data.labels is None and data.num_classes == 0
    out = capsys.readouterr().out
    assert f"skipped 1 image(s) in {faces} (1 corrupt): broken.png" in out


def test_corrupt_files_stop_with_on_corrupt_error(faces):
    with pytest.raises(ValueError, match=r"unusable image .*broken\.png: corrupt"):
        DATASETS.build("imagefolder", root=str(faces), image_size=8, on_corrupt="error")


def test_empty_and_missing_folders_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("x")
    with pytest.raises(ValueError, match=r"dataset.root=.*empty has no images of a known type"):
        DATASETS.build("imagefolder", root=str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match=r"dataset.root=.*nowhere: no such folder"):
        DATASETS.build("imagefolder", root=str(tmp_path / "nowhere"))


def test_class_subfolders_become_labels_and_greyscale_works(tmp_path):
    for c, n in (("cat", 3), ("dog", 2)):
        for i in range(n):
            png(tmp_path / "pets" / c / f"{i}.jpg")
    data = DATASETS.build("imagefolder", root=str(tmp_path / "pets"), image_size=4, labels="folders", channels=1)
    assert data.num_classes == 2 and data.labels.tolist() == [0, 0, 0, 1, 1]
    assert data.images.shape == (5, 1, 4, 4)


def test_subset_newest_keeps_the_most_recent_files(tmp_path):
    root = tmp_path / "many"
    for i in range(5):
        p = png(root / f"{i}.png", value=i * 40)
        os.utime(p, (1000 + i, 1000 + i))
    data = DATASETS.build("imagefolder", root=str(root), image_size=4, subset=2, subset_order="newest")
    assert sorted(data.images[:, 0, 0, 0].tolist()) == [120, 160]


def test_the_cache_is_hit_and_a_changed_folder_invalidates_it(faces, monkeypatch):
    first = DATASETS.build("imagefolder", root=str(faces), image_size=8)
    monkeypatch.setattr(folder, "_decode_all", lambda *a, **k: pytest.fail("decoded again despite the cache"))
    again = DATASETS.build("imagefolder", root=str(faces), image_size=8)
    assert torch.equal(first.images, again.images)
    monkeypatch.undo()
    png(faces / "new.png", value=250)
    changed = DATASETS.build("imagefolder", root=str(faces), image_size=8)
    assert len(changed) == len(first) + 1


def test_training_on_an_image_folder(faces, tmp_path):
    summary, _ = run(tmp_path / "run", ["dataset=imagefolder", f"dataset.root={faces}", "train.batch_size=4"])
    assert summary["status"] == "finished"


def test_missing_cifar10_offline_names_the_files_and_where_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py(.|\n)*cifar-10-python\.tar\.gz"):
        DATASETS.build("cifar10", root=str(tmp_path), download=False, image_size=32, split="train")


def test_fraction_is_seeded_and_stratified_is_balanced():
    labels = torch.arange(1000) % 10
    a = subset_indices(labels, 1000, 0.1, "random", seed=0)
    assert torch.equal(a, subset_indices(labels, 1000, 0.1, "random", seed=0)) and len(a) == 100
    assert not torch.equal(a, subset_indices(labels, 1000, 0.1, "random", seed=1))
    s = subset_indices(labels, 1000, 0.2, "stratified", seed=0)
    assert torch.bincount(labels[s]).tolist() == [20] * 10
    with pytest.raises(ValueError, match=r"dataset.fraction must be in \(0, 1\], got 1.5"):
        subset_indices(labels, 1000, 1.5)


def test_random_fraction_is_exactly_augselfs_subset():
    """liang-hou/augself-gan augself-biggan/datasets.py: np.random.seed(0); np.random.choice(N, n, replace=False),
    so 10% of CIFAR-10's 50,000 images is the papers' 5,000, in that order."""
    np.random.seed(0)
    expected = np.random.choice(50000, 5000, replace=False)
    got = subset_indices(None, 50000, 0.1, "random", seed=0)
    assert np.array_equal(got.numpy(), expected)


@pytest.mark.parametrize("storage", ["memory", "stream"])
def test_every_dataset_takes_a_fraction_with_one_implementation(tmp_path, classes, storage):
    from conftest import compose_cfg
    from ganlab.cli.build import build_data, build_evaluator
    from ganlab.config import eval_settings
    cfg = compose_cfg(["dataset.fraction=0.1", "dataset.image_size=16"])
    data, _ = build_data(cfg)
    np.random.seed(0)
    keep = np.random.choice(1797, 180, replace=False)
    assert len(data) == 180 and torch.equal(data.images, digits(16).images[keep])
    cfg = compose_cfg(["dataset.fraction=0.1", "dataset.image_size=16", "eval.num_samples=10"])
    evaluator, _ = build_evaluator(cfg, eval_settings(cfg), data, "cpu", ema=False, force=True)
    assert len(evaluator.reference) == 1797          # FID against the whole training split
    cfg = compose_cfg(["dataset=imagefolder", f"dataset.root={classes}", "dataset.image_size=16",
                       "dataset.labels=folders", "dataset.fraction=0.5", "dataset.fraction_mode=stratified",
                       f"dataset.storage={storage}"])
    folder_part, _ = build_data(cfg)
    whole, _ = build_data(cfg, whole=True)
    assert torch.bincount(whole.labels).tolist() == [5, 5, 5]
    assert torch.bincount(folder_part.labels).tolist() == [2, 2, 2]      # round(0.5 * 5) of each class


def test_digits_is_real_and_split_is_stratified():
    full, train, test = digits(32), digits(32, "train"), digits(32, "test")
    assert len(full) == 1797 and len(train) + len(test) == 1797 and full.num_classes == 10
    assert full.images.shape[1:] == (1, 32, 32)
    assert torch.bincount(test.labels).min() >= 35


def test_digits_are_scikit_learns_load_digits_read_without_importing_it():
    from sklearn.datasets import load_digits

    from ganlab.data.digits import digits_file
    pixels, target = digits_file()
    raw = load_digits()
    assert np.array_equal(pixels, raw.images) and np.array_equal(target, raw.target)


def test_device_batches_cover_an_epoch_and_resume_the_same_order():
    data = digits(8)
    a = DeviceBatches(data, 100, seed=3)
    seen = torch.cat([a.next()[1] for _ in range(17)])
    assert len(seen) == 1700
    state = a.state_dict()
    nxt = a.next()[0]
    b = DeviceBatches(data, 100, seed=99)
    b.load_state_dict(state)
    assert torch.equal(b.next()[0], nxt)


@pytest.fixture
def classes(tmp_path):
    root = tmp_path / "classes"
    for c in range(3):
        for i in range(5):
            png(root / f"class{c}" / f"{i}.png", size=(16 + i, 16), value=40 * c + 10 * i)
    return root


def test_stream_storage_reads_the_same_images_as_memory(classes):
    memory = DATASETS.build("imagefolder", root=str(classes), image_size=8, labels="folders", storage="memory")
    stream = DATASETS.build("imagefolder", root=str(classes), image_size=8, labels="folders", storage="stream")
    assert isinstance(stream, folder.FolderFiles) and (len(stream), stream.num_classes) == (15, 3)
    idx = torch.tensor([14, 0, 7])
    assert all(torch.equal(a, b) for a, b in zip(memory.take(idx), stream.take(idx)))
    assert torch.equal(torch.cat(list(stream.chunks(4))), memory.images)


def test_auto_storage_streams_only_what_exceeds_the_memory_limit(classes, capsys):
    small = DATASETS.build("imagefolder", root=str(classes), image_size=8, memory_limit_gb=1)
    assert not isinstance(small, folder.FolderFiles)
    big = DATASETS.build("imagefolder", root=str(classes), image_size=8, memory_limit_gb=1e-6)
    assert isinstance(big, folder.FolderFiles)
    assert "over the 1e-06 GiB limit (dataset.memory_limit_gb): streaming" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown dataset.storage 'disk'"):
        DATASETS.build("imagefolder", root=str(classes), storage="disk")


@pytest.mark.parametrize("workers", [0, 2])
def test_loader_batches_cover_epochs_and_resume_the_same_order(classes, workers):
    data = DATASETS.build("imagefolder", root=str(classes), image_size=8, labels="folders",
                          storage="stream", workers=workers)
    a = batches_for(data, 4, "cpu", seed=3, mirror=True)
    assert isinstance(a, LoaderBatches)
    first = [a.next() for _ in range(3)]          # one epoch = 15 // 4 = 3 batches
    assert set(torch.cat([y for _, y in first]).tolist()) <= {0, 1, 2}   # class labels, not file indices
    assert first[0][0].shape == (4, 3, 8, 8) and first[0][0].min() >= -1 and first[0][0].max() <= 1
    a.next()                                      # into the second epoch
    state = a.state_dict()
    expected = [a.next()[0] for _ in range(3)]
    b = batches_for(data, 4, "cpu", seed=99, mirror=True)
    b.load_state_dict(state)
    assert all(torch.equal(b.next()[0], x) for x in expected)
    with pytest.raises(ValueError, match="dataset.storage=stream"):
        DeviceBatches(digits(8), 4).load_state_dict(state)


def test_stream_skips_or_stops_on_a_corrupt_file(faces, capsys):
    data = DATASETS.build("imagefolder", root=str(faces), image_size=8, storage="stream")
    broken = data.files.index(str(faces / "broken.png"))
    x, _ = data.take(torch.tensor([broken]))
    assert x.shape == (1, 3, 8, 8) and "skipped image" in capsys.readouterr().out
    strict = DATASETS.build("imagefolder", root=str(faces), image_size=8, storage="stream", on_corrupt="error")
    with pytest.raises(ValueError, match="unusable image .*broken.png: corrupt"):
        strict.take(torch.tensor([broken]))


def test_training_and_evaluation_on_a_streamed_folder(classes, tmp_path):
    summary, run_dir = run(tmp_path / "run", [
        "dataset=imagefolder", f"dataset.root={classes}", "dataset.labels=folders", "dataset.storage=stream",
        "dataset.workers=1", "train.batch_size=4", "train.steps=3", "train.ckpt_every=2",
        "eval=default", "eval.every=3", "eval.num_samples=20", "eval.extractor=digits", "eval.metrics=[fid,d_acc]"])
    assert summary["status"] == "finished" and np.isfinite(summary["best_eval"]["fid"])
    assert (run_dir / "samples" / "real.png").is_file()


def header_only_png(path, width, height):
    """A PNG whose header claims width x height (RGB) and whose pixels are missing: what a decompression bomb
    looks like before it is decoded."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("storage", ["memory", "stream"])
def test_bombs_and_tiny_images_are_skipped_before_decoding_and_reported_on_every_run(faces, storage, capsys):
    header_only_png(faces / "bomb.png", 20000, 20000)     # PIL itself refuses this one
    header_only_png(faces / "big.png", 12000, 12000)      # PIL would decode this one (2 GB as RGB)
    png(faces / "dot.png", size=(1, 1))
    data = DATASETS.build("imagefolder", root=str(faces), image_size=8, storage=storage)
    if storage == "stream":
        reasons = {name: folder.decode(str(faces / name), 8, 3, True) for name in ("bomb.png", "big.png", "dot.png")}
        assert all(r.startswith("too large") for r in (reasons["bomb.png"], reasons["big.png"]))
        assert reasons["dot.png"] == "too small (1x1, under dataset.image_size=8)"
        return
    assert len(data) == 8
    for _ in range(2):   # the second run reads the cache, and still says what was left out
        out = capsys.readouterr().out
        assert "skipped 4 image(s)" in out and "(1 corrupt, 2 too large, 1 too small)" in out
        DATASETS.build("imagefolder", root=str(faces), image_size=8, storage=storage)


def test_a_bomb_stops_the_run_in_one_line_with_on_corrupt_error(faces):
    (faces / "broken.png").unlink()
    header_only_png(faces / "bomb.png", 20000, 20000)
    with pytest.raises(ValueError, match=r"^unusable image .*bomb\.png: too large \([^\n]*\)$"):
        DATASETS.build("imagefolder", root=str(faces), image_size=8, on_corrupt="error")


def test_a_streamed_unusable_file_is_one_line_from_a_worker(faces):
    from ganlab.errors import BadFile
    data = DATASETS.build("imagefolder", root=str(faces), image_size=8, storage="stream", on_corrupt="error",
                          workers=1)
    batches = batches_for(data, len(data), "cpu")
    with pytest.raises(BadFile) as e:
        batches.next()
    assert "\n" not in str(e.value) and str(e.value).startswith(f"unusable image {faces / 'broken.png'}: corrupt")

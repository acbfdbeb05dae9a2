"""The domain extractor: FID, IS and class_acc offline on any labelled folder, from a classifier that
ganlab trains once on the folder's classes and caches by a fingerprint of the data."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run
from ganlab.data.base import ImageSet
from ganlab.errors import ConfigError
from ganlab.metrics import domain


@pytest.fixture
def sprites(tmp_path):
    """3 classes of 16x16 RGB images that a classifier tells apart by colour and texture."""
    root, rng = tmp_path / "sprites", np.random.default_rng(0)
    for c, colour in enumerate([(220, 40, 40), (40, 200, 60), (50, 60, 230)]):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(40):
            a = np.full((16, 16, 3), 255, dtype=np.int64)
            x, y = rng.integers(0, 8, 2)
            a[y:y + 8, x:x + 8] = np.array(colour) + rng.integers(-30, 30, (8, 8, 3))
            Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(root / f"class{c}" / f"{i}.png")
    return root


def test_domain_fid_is_and_class_acc_on_a_labelled_folder_offline(sprites, tmp_path):
    run(tmp_path, ["dataset=imagefolder", f"dataset.root={sprites}", "dataset.labels=folders", "eval.every=2",
                   "eval.extractor=domain", "eval.num_samples=60", "eval.fid_ci=0", "eval.g_batch_size=20",
                   "eval.kid_subset_size=30", "eval.isc_splits=2"])
    line = json.loads((tmp_path / "eval.jsonl").read_text().splitlines()[-1])
    protocol = line["protocol"]
    assert protocol["extractor"] == "domain" and protocol["weights"].startswith("domain-")
    assert protocol["extractor_accuracy"] >= 0.9                    # held-out 20% of the folder
    assert line["fid"] > line["fid_floor"] > 0 and line["is_mean"] >= 1
    assert 0 <= line["class_acc"] <= 1 and 0 <= line["class_recall"] <= 1


def test_an_unlabelled_folder_is_told_what_to_use_instead(sprites, tmp_path):
    with pytest.raises(ConfigError, match="has no labels. Put the images in class subfolders and set dataset.labels=folders, "
                                          "or use eval.extractor=inception"):
        run(tmp_path, ["dataset=imagefolder", f"dataset.root={sprites}", "eval.every=2", "eval.extractor=domain"])


def test_the_classifier_is_trained_once_per_data_set(monkeypatch):
    calls = []
    real = domain.train_classifier
    monkeypatch.setattr(domain, "train_classifier", lambda *a, **k: calls.append(1) or real(*a, **k))
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=gen)
    data = ImageSet(images, torch.arange(40) % 2, 2, "noise")
    first, again = domain.domain_extractor(dataset=data), domain.domain_extractor(dataset=data)
    assert len(calls) == 1 and first.weights == again.weights and first.accuracy == again.accuracy
    changed = images.clone()
    changed[0, 0, 0, 0] ^= 1                                         # one pixel of one image
    other = domain.domain_extractor(dataset=ImageSet(changed, data.labels, 2, "noise"))
    assert len(calls) == 2 and other.weights != first.weights


def test_runs_in_parallel_train_the_classifier_once_and_the_others_wait_for_it(monkeypatch):
    """Multirun jobs and test workers share the cache: while one trains, the others wait on its lock."""
    import threading
    import time
    calls = []
    real = domain.train_classifier
    monkeypatch.setattr(domain, "train_classifier", lambda *a, **k: calls.append(1) or time.sleep(0.3) or real(*a, **k))
    gen = torch.Generator().manual_seed(1)
    data = ImageSet(torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=gen), torch.arange(40) % 2, 2, "noise")
    found = []
    jobs = [threading.Thread(target=lambda: found.append(domain.load_classifier(data, progress=False)[2])) for _ in range(3)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert len(calls) == 1 and len(found) == 3 and len(set(found)) == 1

"""ganlab-prepare on generated images: a clean folder of same-size RGB PNGs, a report of what was
skipped, class folders from a (randomly initialised) torchvision classifier, and the offline message."""
import urllib.error

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from ganlab.cli import prepare as cli
from ganlab.data.prepare import clean, folder_name


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(root / f"c{i}.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "sub" / "photo.jpg")
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / "tiny.png")         # too small
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(root / "grey_l.png")        # grey (L)
    Image.fromarray(np.repeat(rng.integers(0, 256, (32, 32, 1), dtype=np.uint8), 3, 2)).save(root / "grey_rgb.png")
    (root / "broken.png").write_bytes(b"\x89PNG not really")                                           # corrupt
    (root / "notes.txt").write_text("not an image")
    return root


def test_prepare_writes_same_size_rgb_pngs_and_reports_what_it_skipped(src, tmp_path, capsys):
    cli.main([str(src), str(tmp_path / "out"), "--size", "16", "--quiet"])
    out = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert out == ["c0.png", "c1.png", "c2.png", "c3.png", "c4.png", "sub/photo.png"]
    for p in (tmp_path / "out").rglob("*.png"):
        with Image.open(p) as im:
            assert (im.mode, im.size) == ("RGB", (16, 16))
    assert capsys.readouterr().out.strip() == (f"wrote 6 16x16 RGB PNGs to {tmp_path / 'out'}; skipped: 1 corrupt, 2 grey, "
                                               f"1 too small; 0 had transparent pixels, composited onto white")


def test_center_crop_takes_the_middle_square(tmp_path):
    a = np.zeros((20, 40, 3), dtype=np.uint8)
    a[:, :, 2] = 255                                    # blue sides ...
    a[:, 10:30] = (255, 0, 0)                           # ... and a red middle square
    Image.fromarray(a).save(tmp_path / "wide.png")
    img, why, _ = clean(tmp_path / "wide.png", 20, "center")
    assert why == "" and (np.asarray(img)[..., 0] == 255).all()
    img, _, _ = clean(tmp_path / "wide.png", 20, "stretch")   # stretched: the blue sides remain
    assert (np.asarray(img)[:, 0, 2] == 255).all()


def transparent_sprites(root):
    """An RGBA sprite whose transparent pixels hide black, a palette one whose transparent colour is
    white, and an RGBA photo that is opaque everywhere."""
    root.mkdir()
    a = np.zeros((16, 16, 4), dtype=np.uint8)
    a[4:12, 4:12] = (200, 30, 30, 255)                  # an opaque red square on alpha 0 over black
    Image.fromarray(a, "RGBA").save(root / "rgba.png")
    p = Image.new("P", (16, 16), 1)
    p.putpalette([30, 30, 200, 255, 255, 255] + [0] * 762)
    p.paste(0, (4, 4, 12, 12))                          # a blue square; index 1 (white) is transparent
    p.save(root / "palette.png", transparency=1)
    o = np.full((16, 16, 4), 255, dtype=np.uint8)
    o[..., :3] = np.random.default_rng(0).integers(0, 256, (16, 16, 3))
    Image.fromarray(o, "RGBA").save(root / "opaque.png")


@pytest.mark.parametrize("background, colour", [(None, (255, 255, 255)), ("black", (0, 0, 0)), ("0,128,0", (0, 128, 0))])
def test_transparency_is_composited_onto_one_background_and_counted(tmp_path, capsys, background, colour):
    transparent_sprites(tmp_path / "src")
    cli.main([str(tmp_path / "src"), str(tmp_path / "out"), "--size", "16", "--quiet"]
             + (["--background", background] if background else []))
    assert capsys.readouterr().out.strip().endswith(f"2 had transparent pixels, composited onto {background or 'white'}")
    for name, square in (("rgba", (200, 30, 30)), ("palette", (30, 30, 200))):
        a = np.asarray(Image.open(tmp_path / "out" / f"{name}.png"))
        assert tuple(a[0, 0]) == colour and tuple(a[8, 8]) == square, name


def test_a_bad_background_is_one_line(tmp_path, capsys):
    transparent_sprites(tmp_path / "src")
    with pytest.raises(SystemExit) as e:
        cli.main([str(tmp_path / "src"), str(tmp_path / "out"), "--size", "16", "--background", "grey"])
    assert e.value.code == 2
    assert capsys.readouterr().err == "ganlab-prepare: error: --background must be white, black or R,G,B with each 0-255, got 'grey'\n"


def test_classify_sorts_into_the_top_class_folders(src, tmp_path, capsys):
    weights = tmp_path / "random.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.get_model("mobilenet_v3_small", weights=None).state_dict(), weights)
    cli.main([str(src), str(tmp_path / "out"), "--size", "16", "--classify", "mobilenet_v3_small",
              "--weights", str(weights), "--top", "1", "--quiet", "--device", "cpu"])
    folders = [p for p in (tmp_path / "out").iterdir()]
    categories = torchvision.models.MobileNet_V3_Small_Weights.DEFAULT.meta["categories"]
    assert len(folders) == 1 and folders[0].is_dir()
    index = int(folders[0].name.split("_", 1)[0])
    assert folders[0].name == folder_name(index, categories[index])
    kept = len(list(folders[0].glob("*.png")))
    out = capsys.readouterr().out
    assert f"{folders[0].name}: {kept}" in out and f"{6 - kept} images of other classes dropped" in out


def test_classify_offline_without_weights_names_the_file(src, tmp_path, monkeypatch, capsys):
    def offline(*a, **k):
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(SystemExit) as e:
        cli.main([str(src), str(tmp_path / "out"), "--size", "16", "--classify", "resnet50"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab-prepare: error: could not load the resnet50 ImageNet (--classify) weights")
    assert "--weights /path/to/resnet50-11ad3fa6.pth" in err
    assert not (tmp_path / "out").exists()              # it stopped before doing any work


def test_bad_input_is_one_line(src, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([str(tmp_path / "nowhere"), str(tmp_path / "out"), "--size", "16"])
    assert e.value.code == 2 and capsys.readouterr().err == f"ganlab-prepare: error: {tmp_path / 'nowhere'}: no such folder\n"


@pytest.mark.parametrize("width,height", [(20000, 20000), (12000, 12000)])
def test_a_decompression_bomb_is_too_large_and_never_decoded(tmp_path, width, height):
    from test_data import header_only_png
    assert clean(header_only_png(tmp_path / "bomb.png", width, height), 16)[:2] == (None, "too large")

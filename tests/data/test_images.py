import numpy as np
import pytest
from PIL import Image

from vlmkit.data.images import ImageError, load_image
from vlmkit.inference.answers import ground


def _pixels(image) -> np.ndarray:
    loaded = load_image(image)
    assert loaded.mode == "RGB"
    return np.asarray(loaded)


def test_sixteen_bit_png_and_uint16_arrays_are_scaled_not_saturated_or_wrapped(tmp_path):
    values = np.array([[0, 257 * 100, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    assert _pixels(tmp_path / "g16.png")[0, :, 0].tolist() == [0, 100, 255]  # was 0, 255, 255
    assert _pixels(values)[0, :, 0].tolist() == [0, 100, 255]  # was wrapped modulo 256
    assert _pixels(np.array([[0, 300, 65535]], np.int32))[0, :, 0].tolist() == [0, 1, 255]


def test_floats_in_zero_one_are_read_as_such_and_others_refused(tmp_path):
    gray = np.array([[0.0, 0.5, 1.0]], np.float32)
    Image.fromarray(gray).save(tmp_path / "f.tif")
    assert _pixels(tmp_path / "f.tif")[0, :, 0].tolist() == [0, 128, 255]  # was black
    assert _pixels(np.stack([gray] * 3, axis=2).astype(np.float64))[0, 1].tolist() == [128, 128, 128]
    with pytest.raises(ImageError, match=r"floats from 0 to 255; float images are read as values in \[0, 1\]"):
        load_image(np.array([[0.0, 255.0]]))
    with pytest.raises(ImageError, match="NaN or infinite"):
        load_image(np.full((4, 4, 3), np.nan))
    with pytest.raises(ImageError, match="int64 values from -1 to 3"):
        load_image(np.array([[-1, 3]]))


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :10] = 255  # white on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = load_image(tmp_path / "phone.jpg")
    assert upright.size == (20, 40)  # width, height as a viewer shows it
    assert np.asarray(upright)[:10].mean() > 200 and np.asarray(upright)[-10:].mean() < 50  # the white went on top


def _shrunk(image: Image.Image, side: int) -> np.ndarray:
    return np.asarray(image.resize((side, side), Image.BILINEAR), float)


def test_a_jpeg_is_decoded_only_as_large_as_its_target_size_needs(coco_sample_dir):
    """Draft mode on the COCO sample's 640x480 photos: decoded at 320x240 for 224 px, and
    once resized to 224 within a grey level or two of the full decode resized."""
    drafted = 0
    for path in sorted((coco_sample_dir / "images").glob("*.jpg")):
        full, small = load_image(path), load_image(path, size=224)
        if min(full.size) >= 2 * 224:
            assert small.size == (full.width // 2, full.height // 2)
            drafted += 1
        else:  # half would be smaller than 224: decoded in full
            assert small.size == full.size
        assert small.mode == "RGB" and np.abs(_shrunk(small, 224) - _shrunk(full, 224)).mean() < 2.0
    assert drafted == 4


def test_a_drafted_jpeg_is_still_turned_upright_and_other_files_are_read_in_full(tmp_path):
    stored = np.zeros((100, 200, 3), np.uint8)
    stored[:, :50] = 255  # white on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    small, full = load_image(tmp_path / "phone.jpg", size=40), load_image(tmp_path / "phone.jpg")
    assert small.size == (50, 100) and full.size == (100, 200)  # decoded at half, then upright
    assert np.asarray(small)[:25].mean() > 200 and np.asarray(small)[-25:].mean() < 50  # the white went on top
    assert np.abs(_shrunk(small, 40) - _shrunk(full, 40)).mean() < 2.0
    assert load_image(tmp_path / "phone.jpg", size=300).size == (100, 200)  # a larger target: the full decode
    Image.fromarray(stored).save(tmp_path / "flat.png")
    assert load_image(tmp_path / "flat.png", size=40).size == (200, 100)  # PNG has no draft mode


def test_alpha_is_composited_on_white_and_grey_becomes_rgb():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 255  # red, fully transparent
    assert _pixels(rgba)[0, 0].tolist() == [255, 255, 255]
    assert _pixels(Image.new("RGBA", (2, 2), (255, 0, 0, 0)))[0, 0].tolist() == [255, 255, 255]
    assert _pixels(Image.new("L", (2, 2), 7))[0, 0].tolist() == [7, 7, 7]
    assert _pixels(np.ones((2, 2), bool))[0, 0].tolist() == [255, 255, 255]


def test_empty_images_bad_shapes_and_bombs_are_refused_with_their_name(tmp_path, monkeypatch):
    with pytest.raises(ImageError, match=r"has no pixels \(shape \(0, 0, 3\)\)"):
        load_image(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ImageError, match="has no pixels"):
        load_image(Image.new("RGB", (0, 0)))
    with pytest.raises(ImageError, match=r"shape \(3, 8, 8, 2\)"):
        load_image(np.zeros((3, 8, 8, 2), np.uint8))
    with pytest.raises(TypeError, match="not NoneType"):
        load_image(None)
    Image.new("RGB", (64, 64)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageError, match=r"big.png: refused as a possible decompression bomb"):
        load_image(tmp_path / "big.png")


def test_ground_refuses_images_it_cannot_read_before_answering(micro_model):
    with pytest.raises(ImageError, match="NaN"):
        ground(micro_model, np.full((32, 32, 3), np.nan), "the red circle")
    with pytest.raises(ImageError, match="no pixels"):
        ground(micro_model, np.zeros((0, 0, 3), np.uint8), "the red circle")

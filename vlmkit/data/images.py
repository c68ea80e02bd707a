"""The one image loader: a path, a PIL image or an array in, an 8-bit RGB PIL image out.

The processor, the visualisations, :func:`vlmkit.evaluation.evaluate.ground` and the COCO loader all
read images here, so an image means the same thing everywhere:

* **files** are opened with PIL and turned upright by their EXIF orientation (a phone photo
  is stored sideways; the box a model returns is in the frame a person sees). PIL's
  decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``) applies, named in the error.
  Given the ``size`` the caller will shrink it to, a JPEG is decoded at the smallest of 1/2,
  1/4 or 1/8 scale that keeps both sides at least ``size`` (PIL's draft mode: the decoder
  skips the detail the resize would throw away; a 640x480 COCO photo for 224 px decodes at
  320x240), before it is turned upright.
* **16-bit** images (PNG ``I;16``, ``uint16`` arrays) are scaled to 8 bits (``/ 257``), not
  clipped to white or wrapped modulo 256.
* **float** images (TIFF ``F``, float arrays) are read as values in ``[0, 1]``; outside that
  range, or with a NaN or infinity, they are refused: guessing the scale would give a
  wrong (black or white) picture silently.
* **alpha** is composited onto white, so transparent pixels do not show whatever colour
  happens to be stored under them.
* an image with no pixels is refused.

Every refusal is an :class:`ImageError` that names the file (or says it was an array).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class ImageError(ValueError):
    """An image that cannot be read, or whose pixel values have no RGB meaning."""


def load_image(image: str | Path | Image.Image | np.ndarray, size: int | None = None) -> Image.Image:
    """``image`` (a file path, a PIL image, or an ``HxW``, ``HxWx3`` or ``HxWx4`` array) as an
    8-bit RGB PIL image; see the module doc for what is converted and what is refused.
    ``size``: the side the caller resizes the image to; a JPEG file is decoded no larger than
    it needs to be for that (draft mode). The image returned is not resized to it."""
    if isinstance(image, (str, Path)):
        return _from_file(Path(image), size)
    if isinstance(image, Image.Image):
        return _from_pil(image, "the PIL image")
    if isinstance(image, np.ndarray) or hasattr(image, "__array__"):
        return _from_array(np.asarray(image), f"the {type(image).__name__}")
    raise TypeError(f"an image is a path, a PIL image or an array, not {type(image).__name__}")


def _from_file(path: Path, size: int | None) -> Image.Image:
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as img:
            if size:
                img.draft("RGB", (size, size))  # JPEG only: other formats ignore it
            upright = ImageOps.exif_transpose(img)
            upright.load()
    except Image.DecompressionBombError as err:
        raise ImageError(f"{path}: refused as a possible decompression bomb ({err}); raise "
                         f"PIL.Image.MAX_IMAGE_PIXELS if you trust the file") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"cannot read image {path}: {err}") from err
    return _from_pil(upright, str(path))


def _from_pil(img: Image.Image, where: str) -> Image.Image:
    if img.width == 0 or img.height == 0:
        raise ImageError(f"{where} has no pixels ({img.width}x{img.height})")
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I") or img.mode == "F":  # 16/32-bit integers and floats: by value
        return _from_array(np.asarray(img), where)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _from_array(array: np.ndarray, where: str) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ImageError(f"{where} has shape {array.shape}; an image array is HxW, HxWx3 or HxWx4")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{where} has no pixels (shape {array.shape})")
    pixels = _to_uint8(array, where)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    if pixels.shape[2] == 4:
        alpha = pixels[:, :, 3:].astype(np.float32) / 255.0
        pixels = np.round(pixels[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def _to_uint8(array: np.ndarray, where: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16 or (np.issubdtype(array.dtype, np.integer) and array.size and array.min() >= 0
                                    and 255 < array.max() <= 65535):
        return np.round(array.astype(np.float64) / 257.0).astype(np.uint8)  # 65535 -> 255
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise ImageError(f"{where} holds {array.dtype} values from {array.min()} to {array.max()}; integer "
                             f"images are 0..255 (8-bit) or 0..65535 (16-bit)")
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError(f"{where} has NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ImageError(f"{where} holds floats from {low:g} to {high:g}; float images are read as values in "
                             f"[0, 1] (divide 0..255 data by 255, or pass it as uint8)")
        return np.round(array * 255.0).astype(np.uint8)
    raise ImageError(f"{where} has dtype {array.dtype}, which is no image type")

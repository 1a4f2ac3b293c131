"""Frame preprocessing: pure functions on frames, and the configured chain applied to every window.

Every function takes and returns uint8 RGB frames, either one frame ``(height, width, 3)`` or a stack
``(n, height, width, 3)``, and never changes its input. :func:`preprocess_window` applies the chain configured
under ``classification.preprocessing`` in config.yaml, always in this order:

1. **crop** to the video's crop box (when ``crop`` is true and a box is given; :func:`mousefear.video.iter_windows`
   usually crops while decoding already);
2. **resize** so that both sides are multiples of the model family's patch grid (:class:`PatchGrid`: 28 for
   Qwen2.5-VL, 32 for Qwen3-VL) and the frame fits ``max_pixels`` (:func:`smart_resize`);
3. the **motion reference** is taken here: grey levels of the resized frames, before any contrast change;
4. **grayscale** (kept as three identical channels);
5. **CLAHE** contrast equalisation (on the grey image, or on the L channel of Lab for colour frames);
6. **motion view** (``difference`` replaces each frame by its change image, ``overlay`` paints changed pixels
   over the frame from step 5).

:func:`preprocessing_record` gives the plain dict recorded with every output made with the settings, including
:data:`PREPROCESSING_VERSION`, which changes whenever the same settings would give different pixels.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:
    from mousefear.core.sections import PreprocessingSettings

#: Version of the preprocessing code; bumped whenever the same settings would give different pixels.
PREPROCESSING_VERSION = 1
#: Side of the model's image patches by default (Qwen2.5-VL: 14-pixel patches merged 2 x 2).
PATCH_FACTOR = 28
#: Smallest image the Qwen2.5-VL processor leaves as it is (it enlarges smaller ones), in pixels.
MIN_PIXELS = 4 * 28 * 28
#: Largest ratio of the long to the short side the model accepts.
MAX_ASPECT_RATIO = 200
#: Change images are multiplied by this gain (clipped at 255) so that small movements are visible.
MOTION_GAIN = 4.0
#: A pixel counts as changed for the overlay when its grey level changes by more than this (0-255).
MOTION_THRESHOLD = 20
#: Colour (RGB) painted over changed pixels by the overlay.
MOTION_COLOR = (255, 0, 0)
#: The fixed order of the steps of :func:`preprocess_window`.
ORDER = ("crop", "resize", "grayscale", "clahe", "motion")


@dataclass(frozen=True)
class PatchGrid:
    """What the resize step must produce for a model family, so that its processor keeps the frames as they are.

    Attributes
    ----------
    factor : int
        Both sides of a frame are multiples of this, in pixels: the patch size times the merge size (Qwen2.5-VL:
        14 x 2 = 28; Qwen3-VL: 16 x 2 = 32). A frame of ``h x w`` pixels then gives ``(h / factor) * (w /
        factor)`` visual tokens.
    min_pixels : int
        Smallest frame area the family's processor keeps (it enlarges smaller frames), in pixels.
    """

    factor: int = PATCH_FACTOR
    min_pixels: int = MIN_PIXELS



def _check_frames(frames: np.ndarray, what: str = "frames") -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or frames.shape[-1] != 3:
        raise ValueError(f"Expected {what} as uint8 RGB (height, width, 3) or (n, height, width, 3), but got "
                         f"{frames.dtype} {frames.shape}")
    return frames


def _per_frame(frames: np.ndarray, fn) -> np.ndarray:
    if frames.ndim == 3:
        return fn(frames)
    if len(frames) == 0:
        return frames.copy()
    return np.stack([fn(f) for f in frames])


# ------------------------------------------------------------------------------------------------------- crop
def crop_frames(frames: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Cut frames to a box.

    Parameters
    ----------
    frames
        (height, width, 3) or (n, height, width, 3) uint8 RGB.
    box
        ``(x, y, width, height)`` in pixels, inside the frame.

    Returns
    -------
    np.ndarray
        (box height, box width, 3) or (n, box height, box width, 3) uint8 RGB, a contiguous copy.
    """
    frames = _check_frames(frames)
    x, y, w, h = (int(c) for c in box)
    height, width = frames.shape[-3:-1]
    if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > width or y + h > height:
        raise ValueError(f"Expected a crop box (x, y, width, height) inside the {width}x{height} frame, "
                         f"but got {tuple(box)}")
    return np.ascontiguousarray(frames[..., y:y + h, x:x + w, :])


# ----------------------------------------------------------------------------------------------------- resize
def smart_resize(height: int, width: int, max_pixels: int, factor: int = PATCH_FACTOR,
                 min_pixels: int = MIN_PIXELS) -> tuple[int, int]:
    """Size a frame is resized to for the model: sides multiples of ``factor``, area within the pixel budget.

    The same rule as the image processor of Qwen2.5-VL and Qwen3-VL (``Qwen2VLImageProcessor``), so that the
    processor leaves our frames as they are:
    each side is rounded to the nearest multiple of ``factor`` (at least ``factor``); if that exceeds
    ``max_pixels`` both sides are scaled by ``sqrt(height * width / max_pixels)`` and rounded down to multiples
    of ``factor``; if it falls below ``min_pixels`` they are scaled up and rounded up. The aspect ratio is kept
    as closely as the grid allows.

    Parameters
    ----------
    height, width
        Size of the frame in pixels.
    max_pixels
        Pixel budget (height x width) of the result.
    factor
        Both sides of the result are multiples of this (28 for Qwen2.5-VL, 32 for Qwen3-VL).
    min_pixels
        Smallest area of the result.

    Returns
    -------
    (int, int)
        ``(new_height, new_width)`` in pixels.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"Expected a frame size > 0, but got {height}x{width} (height x width)")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(f"Expected an aspect ratio below {MAX_ASPECT_RATIO}, but got a {width}x{height} frame")
    if max_pixels < factor * factor:
        raise ValueError(f"Expected max_pixels >= {factor * factor}, but got {max_pixels}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return int(h_bar), int(w_bar)


def resize_frames(frames: np.ndarray, max_pixels: int, factor: int = PATCH_FACTOR,
                  min_pixels: int = MIN_PIXELS) -> np.ndarray:
    """Resize frames to the size :func:`smart_resize` gives.

    Shrinking a side to half or less uses pixel-area averaging (``cv2.INTER_AREA``: no aliasing; halving both
    sides averages 2 x 2 blocks); milder shrinking and enlarging use bilinear interpolation (``cv2.INTER_LINEAR``,
    which at such scales loses no detail and costs a fraction of area averaging at non-integer ratios).
    Frames already of the right size are returned as a copy.

    Parameters
    ----------
    frames
        (height, width, 3) or (n, height, width, 3) uint8 RGB.
    max_pixels, factor, min_pixels
        See :func:`smart_resize`.

    Returns
    -------
    np.ndarray
        (new_height, new_width, 3) or (n, new_height, new_width, 3) uint8 RGB.
    """
    frames = _check_frames(frames)
    height, width = frames.shape[-3:-1]
    new_h, new_w = smart_resize(height, width, max_pixels, factor, min_pixels)
    if (new_h, new_w) == (height, width):
        return frames.copy()
    interp = cv2.INTER_AREA if (2 * new_h <= height or 2 * new_w <= width) else cv2.INTER_LINEAR
    return _per_frame(frames, lambda f: cv2.resize(f, (new_w, new_h), interpolation=interp))


# ------------------------------------------------------------------------------------------- grey and contrast
def grey_levels(frames: np.ndarray) -> np.ndarray:
    """Grey level of every pixel (ITU-R BT.601 luma, ``0.299 R + 0.587 G + 0.114 B``, rounded).

    Parameters
    ----------
    frames
        (height, width, 3) or (n, height, width, 3) uint8 RGB.

    Returns
    -------
    np.ndarray
        (height, width) or (n, height, width) uint8.
    """
    frames = _check_frames(frames)
    return _per_frame(frames, lambda f: cv2.cvtColor(f, cv2.COLOR_RGB2GRAY))


def to_grayscale(frames: np.ndarray) -> np.ndarray:
    """Grey frames kept as three identical channels (see :func:`grey_levels`).

    Parameters
    ----------
    frames
        (height, width, 3) or (n, height, width, 3) uint8 RGB.

    Returns
    -------
    np.ndarray
        Same shape, uint8, R = G = B.
    """
    grey = grey_levels(frames)
    return np.repeat(grey[..., None], 3, axis=-1)


def _is_grey(frame: np.ndarray) -> bool:
    return bool(np.array_equal(frame[..., 0], frame[..., 1]) and np.array_equal(frame[..., 0], frame[..., 2]))


def clahe(frames: np.ndarray, clip_limit: float = 2.0, tile_grid: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (OpenCV's CLAHE).

    Grey frames (R = G = B) are equalised on their grey level and stay grey; colour frames are equalised on the
    L channel of the Lab colour space, so hues are kept.

    Parameters
    ----------
    frames
        (height, width, 3) or (n, height, width, 3) uint8 RGB.
    clip_limit
        Contrast limit (OpenCV's ``clipLimit``; higher = stronger contrast).
    tile_grid
        Tiles per side of the frame; each tile gets its own histogram.

    Returns
    -------
    np.ndarray
        Same shape, uint8 RGB.
    """
    frames = _check_frames(frames)
    if not (clip_limit > 0 and int(tile_grid) >= 1):
        raise ValueError(f"Expected clip_limit > 0 and tile_grid >= 1, but got {clip_limit}, {tile_grid}")
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(int(tile_grid), int(tile_grid)))

    def one(f: np.ndarray) -> np.ndarray:
        if _is_grey(f):
            g = op.apply(np.ascontiguousarray(f[..., 0]))
            return np.repeat(g[..., None], 3, axis=-1)
        lab = cv2.cvtColor(f, cv2.COLOR_RGB2LAB)
        lab[..., 0] = op.apply(np.ascontiguousarray(lab[..., 0]))
        return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)

    return _per_frame(frames, one)


# ------------------------------------------------------------------------------------------------------ motion
def _change(grey: np.ndarray) -> np.ndarray:
    """(n, h, w) int16 absolute change of each frame from its neighbour (frame 0 from frame 1, frame i from i-1)."""
    g = grey.astype(np.int16)
    if len(g) < 2:
        return np.zeros_like(g)
    ref = np.concatenate([g[1:2], g[:-1]])
    return np.abs(g - ref)


def motion_difference(frames: np.ndarray, gain: float = MOTION_GAIN, reference: np.ndarray | None = None
                      ) -> np.ndarray:
    """Change images: how much each pixel's grey level changed from the previous sampled frame.

    Frame ``i`` is compared with frame ``i - 1``; the first frame, which has no predecessor in the window, is
    compared with the next one (so it shows the same change as frame 1). A window of one frame gives a black
    image. The output is ``min(255, round(gain * |change|))`` as grey in three channels: black where nothing
    moved.

    Parameters
    ----------
    frames
        (n, height, width, 3) uint8 RGB, consecutive sampled frames of one window.
    gain
        Multiplier that makes small changes visible.
    reference
        (n, height, width) uint8 grey levels to measure change on (default: those of ``frames``).

    Returns
    -------
    np.ndarray
        (n, height, width, 3) uint8, R = G = B.
    """
    frames = _check_frames(frames)
    if frames.ndim != 4:
        raise ValueError(f"Expected a stack of frames (n, height, width, 3), but got {frames.shape}")
    grey = grey_levels(frames) if reference is None else reference
    diff = np.clip(np.rint(_change(grey).astype(np.float32) * float(gain)), 0, 255).astype(np.uint8)
    return np.repeat(diff[..., None], 3, axis=-1)


def motion_overlay(frames: np.ndarray, threshold: int = MOTION_THRESHOLD, color: tuple[int, int, int] = MOTION_COLOR,
                   reference: np.ndarray | None = None) -> np.ndarray:
    """Frames with the pixels that changed painted in a colour.

    A pixel is changed when its grey level differs by more than ``threshold`` from the same pixel in the
    previous sampled frame (the first frame is compared with the next one, as in :func:`motion_difference`).

    Parameters
    ----------
    frames
        (n, height, width, 3) uint8 RGB, consecutive sampled frames of one window.
    threshold
        Grey-level change (0-255) above which a pixel is painted.
    color
        RGB colour painted.
    reference
        (n, height, width) uint8 grey levels to measure change on (default: those of ``frames``).

    Returns
    -------
    np.ndarray
        (n, height, width, 3) uint8 RGB.
    """
    frames = _check_frames(frames)
    if frames.ndim != 4:
        raise ValueError(f"Expected a stack of frames (n, height, width, 3), but got {frames.shape}")
    grey = grey_levels(frames) if reference is None else reference
    mask = _change(grey) > threshold
    out = frames.copy()
    out[mask] = np.asarray(color, dtype=np.uint8)
    return out


# ------------------------------------------------------------------------------------------------------- chain
def preprocessing_record(settings: PreprocessingSettings, grid: PatchGrid | None = None) -> dict[str, Any]:
    """The settings of the preprocessing chain as recorded with every output made with them (run.json, vector
    files, exemplars' info.json).

    Parameters
    ----------
    settings
        ``project.settings.classification.preprocessing``.
    grid
        The model family's patch grid (default :class:`PatchGrid`: Qwen2.5-VL's); recorded as ``patch_factor``
        and ``min_pixels``.

    Returns
    -------
    dict
        ``version`` (:data:`PREPROCESSING_VERSION`), the keys of ``classification.preprocessing`` (crop,
        max_pixels, grayscale, clahe, clahe_clip_limit, clahe_tile_grid, motion) and the fixed constants the
        chain uses (patch_factor, min_pixels, motion_gain, motion_threshold, motion_color, order): plain Python
        values, JSON-serialisable. Two outputs with equal records were made from the same pixels.
    """
    grid = PatchGrid() if grid is None else grid
    out: dict[str, Any] = {"version": PREPROCESSING_VERSION, **dataclasses.asdict(settings)}
    out.update(patch_factor=grid.factor, min_pixels=grid.min_pixels, motion_gain=MOTION_GAIN,
               motion_threshold=MOTION_THRESHOLD, motion_color=list(MOTION_COLOR), order=list(ORDER))
    return out


def preprocess_window(frames: np.ndarray, settings: PreprocessingSettings,
                      crop_box: tuple[int, int, int, int] | None = None, grid: PatchGrid | None = None) -> np.ndarray:
    """Apply the configured preprocessing chain to the sampled frames of one window.

    The steps run in the fixed order of the module docstring (:data:`ORDER`): crop, resize, grayscale, CLAHE,
    motion view; the motion view measures change on the resized frames before grayscale and CLAHE (contrast
    equalisation adapts to each frame and would show changes that are not there).

    Parameters
    ----------
    frames
        (n, height, width, 3) uint8 RGB, the sampled frames of one window in time order.
    settings
        ``project.settings.classification.preprocessing`` (validated: nothing is checked again here).
    crop_box
        ``(x, y, width, height)`` applied when ``settings.crop`` is true (None = the frames are cropped
        already, as :func:`mousefear.core.video.iter_windows` does).
    grid
        The model family's patch grid (default :class:`PatchGrid`: Qwen2.5-VL's 28-pixel grid).

    Returns
    -------
    np.ndarray
        (n, new_height, new_width, 3) uint8 RGB, sides multiples of ``grid.factor`` within ``max_pixels``.
    """
    frames = _check_frames(frames)
    if frames.ndim != 4:
        raise ValueError(f"Expected a stack of frames (n, height, width, 3), but got {frames.shape}")
    if settings.crop and crop_box is not None:
        frames = crop_frames(frames, crop_box)
    grid = PatchGrid() if grid is None else grid
    out = resize_frames(frames, settings.max_pixels, grid.factor, grid.min_pixels)
    reference = grey_levels(out) if settings.motion != "none" else None
    if settings.grayscale:
        out = to_grayscale(out)
    if settings.clahe:
        out = clahe(out, settings.clahe_clip_limit, settings.clahe_tile_grid)
    if settings.motion == "difference":
        out = motion_difference(out, MOTION_GAIN, reference=reference)
    elif settings.motion == "overlay":
        out = motion_overlay(out, MOTION_THRESHOLD, MOTION_COLOR, reference=reference)
    return out

"""Small JPEG previews of scanned images for the HTML and notebook reports, as `data:` URIs.

Renderers never open files: the caller builds a `Thumbnailer` for the scanned root and passes it in.
Previews are best effort; an image that cannot be previewed gives None and shows as 'no preview'.
"""

from __future__ import annotations

import base64
import io
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from PIL import Image, ImageOps

from leakcheck.fingerprint import DEFAULT_MAX_PIXELS, pillow_limit, quiet_pillow

Thumbnailer = Callable[[str], "str | None"]


def thumbnail_data_uri(
    path: Path, *, size: int = 160, quality: int = 80, max_pixels: int = DEFAULT_MAX_PIXELS
) -> str | None:
    """A JPEG no larger than `size` x `size` pixels as a base64 data URI, or None when the file cannot be shown."""
    try:
        with warnings.catch_warnings(), pillow_limit(max_pixels):
            # The pixel count is checked below; Pillow's own bomb warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            quiet_pillow()
            with Image.open(path) as im:
                if im.width * im.height > max_pixels:
                    return None
                im.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a reduced scale, much faster
                shown = ImageOps.exif_transpose(im)
                shown.thumbnail((size, size))
                shown = _as_rgb(shown)
    # A preview must never stop a report: truncated files, odd modes and decoder errors all land here.
    except Exception:
        return None
    buf = io.BytesIO()
    shown.save(buf, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _as_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if im.mode.startswith(("I", "F")):
        # 16-bit and float images: stretch the value range to 8 bits so the preview is not all black.
        values = im.convert("F")
        extrema = values.getextrema()
        low, high = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]  # floats for mode "F"
        scale = 255.0 / (high - low) if high > low else 0.0
        return values.point(lambda v: (v - low) * scale).convert("L").convert("RGB")
    return im.convert("RGB")


def thumbnailer(root: str | os.PathLike[str], *, size: int = 160, max_pixels: int = DEFAULT_MAX_PIXELS) -> Thumbnailer:
    """A function from a report key (a relative POSIX path under `root`) to its preview, cached per key.
    `max_pixels` is the scan's limit: an image the scan decoded is previewed."""
    base = Path(root)
    cache: dict[str, str | None] = {}

    def thumbnail(key: str) -> str | None:
        if key not in cache:
            rel = PurePosixPath(key)
            # Keys come from the scan and are relative; anything else is not a file under the root.
            inside = not rel.is_absolute() and ".." not in rel.parts
            path = file_of(base, rel.parts) if inside else None
            cache[key] = thumbnail_data_uri(path, size=size, max_pixels=max_pixels) if path is not None else None
        return cache[key]

    return thumbnail


_ESCAPED_BYTE = re.compile(rb"\\x([0-9a-f]{2})")


def file_of(root: Path, parts: tuple[str, ...]) -> Path:
    """The file a key's parts name under `root`. A name that is not UTF-8 is shown in keys with backslash
    escapes (`x\\xff.jpg`, see `sources.folder.display_name`); where no file has the escaped name itself,
    the escapes are turned back into the bytes they stand for."""
    literal = root.joinpath(*parts)
    if "\\x" not in "".join(parts) or literal.exists():
        return literal
    raw = [_ESCAPED_BYTE.sub(lambda m: bytes([int(m.group(1), 16)]), p.encode("utf-8")) for p in parts]
    return root.joinpath(*(os.fsdecode(b) for b in raw))

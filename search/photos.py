"""Photos of the subject: checked by content, never by name, and stored without metadata."""

import io
import uuid

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PHOTO_BYTES = 10 * 1024 * 1024
# Pillow refuses images larger than this many pixels (a decompression bomb guard).
MAX_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def clean_photo(uploaded) -> ContentFile:
    """Return the photo re-encoded without EXIF (no GPS, no camera), or raise ValidationError."""
    if uploaded.size > MAX_PHOTO_BYTES:
        raise ValidationError(
            _("The photo is larger than 10 MB; send a smaller one."), code="photo_too_large"
        )
    uploaded.seek(0)
    head = uploaded.read(MAX_PHOTO_BYTES + 1)
    try:
        with Image.open(io.BytesIO(head)) as probe:
            probe.verify()
        image = Image.open(io.BytesIO(head))
        if image.width * image.height > MAX_PIXELS:
            raise ValidationError(_("The photo has too many pixels."), code="photo_too_many_pixels")
        fmt = image.format
        if fmt not in ALLOWED_FORMATS:
            raise ValidationError(_("Send a JPEG, PNG or WebP photo."), code="photo_format")
        # Apply the camera's rotation before the EXIF that carries it is dropped.
        image = ImageOps.exif_transpose(image)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValidationError(
            _("This file is not a photo (its content is not an image)."), code="photo_not_image"
        ) from exc
    out = io.BytesIO()
    if image.mode == "P" or (fmt == "JPEG" and image.mode not in ("RGB", "L")):
        image = image.convert("RGBA" if fmt != "JPEG" else "RGB")
    # A new image from the pixels alone: Pillow writes back what an opened image carries in
    # .info (JPEG comments, XMP, ICC, EXIF), and a comment can hold a script (a polyglot file).
    pixels = Image.frombytes(image.mode, image.size, image.tobytes())
    pixels.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return ContentFile(out.getvalue(), name=f"{uuid.uuid4().hex}.{ALLOWED_FORMATS[fmt]}")

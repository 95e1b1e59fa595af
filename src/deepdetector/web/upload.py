"""Receive one uploaded file from a ``multipart/form-data`` request, streaming it to disk.

The size limit is enforced while the body streams in (HTTP 413 as soon as it is passed, before
the rest is read), and the type is decided from the first bytes (HTTP 415 for anything that is
not an image or a video). The file is written only to the path the server chose; the client's
file name is kept as text for display and never used as a path.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from deepdetector.web.sniff import SNIFF_BYTES, MediaType, sniff

#: The multipart field that carries the file.
FILE_FIELD = "file"
#: Bytes allowed for the multipart framing and any other (ignored) form fields.
FORM_OVERHEAD = 256 * 1024


class UploadRejected(Exception):
    """The upload is refused; ``status_code`` is the HTTP status, the message is for a person."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class ReceivedUpload:
    """A file fully written to disk and recognised as media."""

    filename: str  # display name only
    size: int
    media: MediaType


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def display_name(raw: str | None, max_len: int = 200) -> str:
    """The client's file name reduced to something safe to show: last path component, no control
    characters, at most ``max_len`` characters. It is only ever displayed, never opened."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", unicodedata.normalize("NFC", name)).strip()
    return name[:max_len] or "upload"


class _FormReceiver:
    """Callbacks for python-multipart's streaming parser, writing the file part to ``dest``."""

    def __init__(self, dest: Path, max_bytes: int) -> None:
        self.dest = dest
        self.max_bytes = max_bytes
        self.size = 0
        self.head = bytearray()
        self.media: MediaType | None = None
        self.filename: str | None = None
        self.files_seen = 0
        self._fd: int | None = None
        self._in_file = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}

    # header parsing ---------------------------------------------------------------------------
    def on_part_begin(self) -> None:
        self._headers = {}
        self._in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b"").decode("latin-1"))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name != FILE_FIELD:
            return  # other fields are ignored (their size still counts against the body limit)
        self.files_seen += 1
        if self.files_seen > 1:
            raise UploadRejected(400, "send one file per scan")
        self.filename = display_name(params.get(b"filename", b"").decode("utf-8", "replace"))
        self._fd = os.open(self.dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._in_file = True

    # file data --------------------------------------------------------------------------------
    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_file or self._fd is None:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise UploadRejected(413, f"the file is larger than this server's limit of {_mb(self.max_bytes)}")
        if self.media is None and len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
            if len(self.head) >= SNIFF_BYTES:
                self._identify()
        os.write(self._fd, chunk)

    def on_part_end(self) -> None:
        if self._in_file:
            if self.media is None:
                self._identify()
            self.close()
            self._in_file = False

    def _identify(self) -> None:
        if not self.head:
            raise UploadRejected(400, "the file is empty")
        self.media = sniff(bytes(self.head))
        if self.media is None:
            raise UploadRejected(415, "this file is not an image or a video in a supported format (JPEG, PNG, WebP, "
                                      "GIF, BMP, TIFF, MP4, MOV, MKV, WebM, AVI, ...)")  # fmt: skip

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n} bytes"


async def receive_upload(request: Request, dest: Path, max_bytes: int) -> ReceivedUpload:
    """Stream the request's ``file`` field into ``dest`` (created here, mode 0600).

    Raises :class:`UploadRejected` (400, 413 or 415). On any failure ``dest`` is removed.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise UploadRejected(415, "send the file as multipart/form-data in a field named 'file'")
    limit = max_bytes + FORM_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadRejected(413, f"the file is larger than this server's limit of {_mb(max_bytes)}")
    receiver = _FormReceiver(dest, max_bytes)
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise UploadRejected(413, f"the request is larger than this server's limit of {_mb(max_bytes)}")
            parser.write(chunk)
        parser.finalize()
        if receiver.files_seen == 0:
            raise UploadRejected(400, "no file was sent: put it in a multipart field named 'file'")
        if receiver.media is None:  # the body ended inside the file part
            raise UploadRejected(400, "the upload was cut off before the file ended")
        return ReceivedUpload(receiver.filename or "upload", receiver.size, receiver.media)
    except BaseException as exc:  # a refused, broken or abandoned upload leaves no file behind
        receiver.close()
        dest.unlink(missing_ok=True)
        if isinstance(exc, MultipartParseError):
            raise UploadRejected(400, "the upload is not valid multipart/form-data") from None
        raise
    finally:
        receiver.close()

"""Provenance fixtures made at test time: C2PA files signed with a certificate chain the test makes,
PNGs with generator text chunks, JPEGs with XMP and EXIF, and pictures carrying Stable Diffusion's
invisible watermark (embedded with the ``invisible-watermark`` package, as SD's reference code does)."""

from __future__ import annotations

import datetime
import io
import struct
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
SDXL_BITS = [int(b) for b in bin(0b101100111110110010010000011110111011000110011110)[2:]]


@lru_cache(maxsize=1)
def signer_pem() -> tuple[bytes, bytes]:
    """(certificate chain PEM: leaf then CA, leaf private key PEM): ES256, made now, valid for a day either side."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DeepDetector tests")])

    now = datetime.datetime.now(datetime.timezone.utc)
    usage = dict(
        content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False
    )
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Test CA"))
        .issuer_name(name("Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("Test Generator"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    pkey = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return chain, pkey


def c2pa_manifest(source_type: str = "trainedAlgorithmicMedia", tool: str = "TestGen", edit: str | None = None) -> dict:
    """A manifest whose first action creates the file with ``source_type``; ``edit`` adds a
    ``c2pa.edited`` action with that digital source type (e.g. generative fill)."""
    actions = [{"action": "c2pa.created", "digitalSourceType": IPTC + source_type, "softwareAgent": {"name": tool}}]
    if edit:
        actions.append({"action": "c2pa.edited", "digitalSourceType": IPTC + edit, "softwareAgent": {"name": tool}})
    return {
        "claim_generator_info": [{"name": tool, "version": "1.0"}],
        "title": "fixture",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }


def encoded(rgb: np.ndarray, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kwargs)
    return buf.getvalue()


def sign_c2pa(path: Path, rgb: np.ndarray, fmt: str = "JPEG", manifest: dict | None = None) -> Path:
    """Write ``rgb`` as ``fmt`` with a C2PA manifest signed by the test certificate."""
    mime = {"JPEG": "image/jpeg", "PNG": "image/png"}[fmt]
    return _sign(path, encoded(rgb, fmt), mime, manifest)


def sign_c2pa_video(path: Path, video: Path, manifest: dict | None = None) -> Path:
    """Write ``video`` (an MP4) to ``path`` with a C2PA manifest signed by the test certificate."""
    return _sign(path, video.read_bytes(), "video/mp4", manifest)


def _sign(path: Path, data: bytes, mime: str, manifest: dict | None) -> Path:
    import c2pa

    chain, key = signer_pem()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
    source, out = io.BytesIO(data), io.BytesIO()
    with c2pa.Builder(manifest or c2pa_manifest()) as builder:
        builder.sign(signer, mime, source, out)
    path.write_bytes(out.getvalue())
    return path


def png_with_text(path: Path, rgb: np.ndarray, texts: dict[str, str], compressed: tuple[str, ...] = (), itxt: tuple[str, ...] = ()) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        if key in itxt:
            info.add_itxt(key, value, zip=key in compressed)
        else:
            info.add_text(key, value, zip=key in compressed)
    Image.fromarray(rgb).save(path, "PNG", pnginfo=info)
    return path


def xmp_packet(fields: str) -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" {fields}/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def jpeg_with_xmp(path: Path, rgb: np.ndarray, packet: str, encoding: str = "utf-8") -> Path:
    """A JPEG whose APP1 segment holds ``packet`` (as Adobe writes XMP)."""
    data = encoded(rgb, "JPEG", quality=90)
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + packet.encode(encoding)
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    path.write_bytes(data[:2] + segment + data[2:])
    return path


def jpeg_with_exif(path: Path, rgb: np.ndarray, tags: dict[int, str | bytes]) -> Path:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[tag] = value
    Image.fromarray(rgb).save(path, "JPEG", exif=exif.tobytes())
    return path


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)


def png_with_raw_chunks(path: Path, rgb: np.ndarray, chunks: list[bytes]) -> Path:
    """A PNG with ``chunks`` (from :func:`png_chunk`) inserted right after IHDR."""
    data = encoded(rgb, "PNG")
    ihdr_end = 8 + 8 + 13 + 4
    path.write_bytes(data[:ihdr_end] + b"".join(chunks) + data[ihdr_end:])
    return path


def watermark(rgb: np.ndarray, payload: str = "StableDiffusionV1") -> np.ndarray:
    """``rgb`` marked as Stable Diffusion's reference code marks it: SD 1.x/2.x scripts encode the
    text on the BGR picture; SDXL through diffusers encodes its 48 bits on the RGB array as if BGR."""
    from imwatermark import WatermarkEncoder

    enc = WatermarkEncoder()
    if payload == "StableDiffusionV1":
        enc.set_watermark("bytes", b"StableDiffusionV1")
        return enc.encode(np.ascontiguousarray(rgb[:, :, ::-1]), "dwtDct")[:, :, ::-1].copy()
    enc.set_watermark("bits", SDXL_BITS)
    return enc.encode(np.ascontiguousarray(rgb), "dwtDct")


def textured(height: int = 512, width: int = 512, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like RGB picture without a face (low-frequency noise, values kept within
    48-208 as in most photos: the watermark encoder wraps around at 0 and 255)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(48, 209, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    import cv2

    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)

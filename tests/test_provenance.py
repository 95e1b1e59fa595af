"""The provenance stage: every declaration found on its fixture, none on clean files, bad input
as warnings (never a crash or a hang), and the verdict policy through the Python API."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from deepdetector import Detector, ScanConfig, Verdict
from deepdetector.errors import ConfigError
from deepdetector.provenance import PROVENANCE_READERS, read_provenance
from deepdetector.provenance import source as source_limits
from deepdetector.provenance.watermark import PAYLOADS, block_bits, decode_bits, find_watermark, haar_ll
from deepdetector.report import to_json, validate_json
from deepdetector.types import Finding, ProvenanceRecord
from deepdetector.verdict.provenance import apply_provenance
from tests.media_factory import blank_photo, write_image, write_video
from tests.provenance_factory import (
    c2pa_manifest,
    encoded,
    jpeg_with_exif,
    jpeg_with_xmp,
    png_chunk,
    png_with_raw_chunks,
    png_with_text,
    sign_c2pa,
    sign_c2pa_video,
    textured,
    watermark,
    xmp_packet,
)

c2pa = pytest.importorskip("c2pa")


def declared(record: ProvenanceRecord) -> list[tuple[str, str, str | None]]:
    return [(f.source, f.trust, f.generator) for f in record.findings if f.declares == "generated"]


# --- C2PA -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,name", [("JPEG", "gen.jpg"), ("PNG", "gen.png")])
def test_c2pa_generated_manifest_is_a_verified_declaration(tmp_path, fmt, name):
    path = sign_c2pa(tmp_path / name, textured(128, 128), fmt)
    rec = read_provenance(path, kind="image")
    assert rec.c2pa == "valid" and rec.generated == "verified" and rec.generator == "TestGen"
    f = next(f for f in rec.findings if f.key == "digitalSourceType")
    assert f.trust == "verified" and f.value.endswith("trainedAlgorithmicMedia")
    signer = next(f for f in rec.findings if f.key == "signer")
    assert "Test Generator" in signer.value and "trust list" in signer.meaning
    assert apply_provenance(Verdict.REAL, rec)[0] is Verdict.FAKE


def test_c2pa_generative_edit_counts_and_capture_does_not(tmp_path):
    fill = sign_c2pa(
        tmp_path / "fill.jpg", textured(128, 128), manifest=c2pa_manifest("digitalCapture", "Editor", edit="compositeWithTrainedAlgorithmicMedia")
    )
    rec = read_provenance(fill)
    assert rec.generated == "verified" and sorted(f.declares for f in rec.findings if f.key == "digitalSourceType") == ["captured", "generated"]
    cam = sign_c2pa(tmp_path / "cam.jpg", textured(128, 128), manifest=c2pa_manifest("digitalCapture", "Camera"))
    rec = read_provenance(cam, kind="image")
    assert rec.c2pa == "valid" and rec.generated is None
    assert [f.declares for f in rec.findings if f.key == "digitalSourceType"] == ["captured"]
    # a capture credential never makes a file real
    for verdict in (Verdict.NO_FACE, Verdict.FAKE, Verdict.REAL):
        assert apply_provenance(verdict, rec) == (verdict, None)


def test_tampered_manifest_is_a_warning_not_a_declaration(tmp_path):
    path = sign_c2pa(tmp_path / "gen.jpg", textured(128, 128))
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF  # a pixel byte changed after signing
    tampered = tmp_path / "tampered.jpg"
    tampered.write_bytes(bytes(data))
    rec = read_provenance(tampered, kind="image")
    assert rec.c2pa == "invalid" and rec.generated == "claimed" and not rec.verified_generated
    assert any("does not validate" in w and "dataHash.mismatch" in w for w in rec.warnings)
    assert apply_provenance(Verdict.NO_FACE, rec) == (Verdict.NO_FACE, None)


def test_stripped_file_has_no_declaration(tmp_path):
    path = sign_c2pa(tmp_path / "gen.jpg", textured(128, 128))
    stripped = write_image(tmp_path / "stripped.jpg", np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(path).convert("RGB")))
    rec = read_provenance(stripped, kind="image")
    assert rec.c2pa is None and rec.generated is None and not rec.warnings


def test_truncated_and_malformed_manifests_are_warnings(tmp_path):
    data = sign_c2pa(tmp_path / "gen.jpg", textured(128, 128)).read_bytes()
    at = data.find(b"jumb")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: at + 300])  # cut inside the JUMBF box
    rec = read_provenance(truncated, kind="image")
    assert rec.c2pa == "unreadable" and rec.generated is None and any("C2PA" in w for w in rec.warnings)
    broken = bytearray(data)
    for i in range(at + 40, at + 2000):  # garble the manifest store's boxes (claim, assertions)
        broken[i] = (broken[i] * 7 + 13) & 0xFF
    malformed = tmp_path / "malformed.jpg"
    malformed.write_bytes(bytes(broken))
    rec = read_provenance(malformed, kind="image")
    assert rec.c2pa in ("unreadable", "invalid") and not rec.verified_generated and rec.warnings


# --- metadata claims --------------------------------------------------------------------------
def test_stable_diffusion_and_comfyui_png_text_are_claims(tmp_path):
    rgb = textured(64, 64)
    sd = png_with_text(
        tmp_path / "sd.png", rgb, {"parameters": "a portrait\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Model: sd_xl_base_1.0"}
    )
    rec = read_provenance(sd, kind="image")
    assert declared(rec) == [("png-text", "claimed", "Stable Diffusion web UI (model sd_xl_base_1.0)")]
    assert rec.generated == "claimed" and apply_provenance(Verdict.REAL, rec) == (Verdict.REAL, None)
    graph = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}})
    comfy = png_with_text(tmp_path / "comfy.png", rgb, {"prompt": graph, "workflow": graph}, compressed=("workflow",), itxt=("workflow",))
    assert declared(read_provenance(comfy, kind="image")) == [("png-text", "claimed", "ComfyUI")] * 2
    caption = png_with_text(tmp_path / "caption.png", rgb, {"prompt": "not a graph, just words"})
    assert read_provenance(caption, kind="image").generated is None


def test_xmp_digital_source_type_is_a_claim_in_utf8_and_utf16(tmp_path):
    rgb = textured(64, 64)
    packet = xmp_packet(
        'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia" xmp:CreatorTool="Adobe Firefly"'
    )
    for encoding in ("utf-8", "utf-16-le"):
        rec = read_provenance(jpeg_with_xmp(tmp_path / f"xmp-{encoding}.jpg", rgb, packet, encoding), kind="image")
        dst = next(f for f in rec.findings if f.key == "DigitalSourceType")
        assert dst.trust == "claimed" and dst.declares == "generated" and dst.generator == "Adobe Firefly"
        assert rec.generated == "claimed" and not rec.verified_generated
    element = xmp_packet("").replace(
        "/></rdf:RDF>",
        "><Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture</Iptc4xmpExt:DigitalSourceType></rdf:Description></rdf:RDF>",
    )
    rec = read_provenance(jpeg_with_xmp(tmp_path / "capture.jpg", rgb, element), kind="image")
    assert [f.declares for f in rec.findings if f.key == "DigitalSourceType"] == ["captured"]


def test_exif_software_naming_a_generator_is_a_claim_and_a_camera_is_not(tmp_path):
    rgb = textured(64, 64)
    rec = read_provenance(jpeg_with_exif(tmp_path / "gen.jpg", rgb, {0x0131: "Adobe Firefly Image 3"}), kind="image")
    assert declared(rec) == [("exif", "claimed", "Adobe Firefly")]
    rec = read_provenance(
        jpeg_with_exif(tmp_path / "cam.jpg", rgb, {0x010F: "Canon", 0x0110: "EOS R5", 0x0131: b"Firmware \xff\xfe 1.0"}), kind="image"
    )
    assert rec.generated is None and {f.key: f.value for f in rec.findings}["Make"] == "Canon"
    assert "Software" in {f.key for f in rec.findings}  # an odd encoding is read, not fatal


def test_video_tags_are_read_and_a_generator_name_is_a_claim(tmp_path):
    import av

    path = write_video(tmp_path / "clip.mp4", n_frames=4, size=(64, 64), face=False)
    with av.open(str(path)) as src, av.open(str(tmp_path / "tagged.mp4"), "w") as dst:
        dst.metadata["comment"] = "made with OpenAI Sora"
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    rec = read_provenance(tmp_path / "tagged.mp4", kind="video")
    assert declared(rec) == [("video-tags", "claimed", "OpenAI Sora")] and "video-tags" in rec.checked
    assert read_provenance(path, kind="video").generated is None


def test_clean_files_declare_nothing(tmp_path, face_rgb):
    files = [
        write_image(tmp_path / "a.jpg", face_rgb),
        write_image(tmp_path / "b.png", face_rgb),
        write_image(tmp_path / "c.webp", textured(256, 256)),
    ]
    for path in files:
        rec = read_provenance(path, kind="image")
        assert rec.generated is None and rec.c2pa is None and not rec.warnings, (path, rec)
        assert {"c2pa", "exif", "xmp"} <= set(rec.checked)
    rec = read_provenance(write_video(tmp_path / "v.mp4", n_frames=3), kind="video")
    assert rec.generated is None and not rec.warnings and "video-tags" in rec.checked


# --- the Stable Diffusion watermark -------------------------------------------------------------
def test_decoder_matches_the_reference_package(face_rgb):
    pywt = pytest.importorskip("pywt")
    maxdct = pytest.importorskip("imwatermark.maxDct")
    x = np.random.default_rng(0).integers(0, 256, (64, 96)).astype(np.uint8)
    assert np.allclose(haar_ll(x), pywt.dwt2(x, "haar")[0])
    marked = watermark(face_rgb)
    noise = np.random.default_rng(1).integers(0, 256, (128, 200, 3)).astype(np.uint8)
    for picture in (marked, face_rgb, noise):  # marked, clean, noise: the same bits as the package
        bgr = np.ascontiguousarray(picture[:, :, ::-1])
        reference = maxdct.EmbedMaxDct(wmLen=136).decode(bgr)
        assert np.array_equal(decode_bits(block_bits(bgr), 136), reference)
    assert np.array_equal(maxdct.EmbedMaxDct(wmLen=136).decode(np.ascontiguousarray(marked[:, :, ::-1])), PAYLOADS["StableDiffusionV1"])


@pytest.mark.parametrize("payload,order", [("StableDiffusionV1", "bgr"), ("SDXL", "rgb")])
def test_watermark_found_on_lossless_file_and_not_on_clean_one(tmp_path, face_rgb, payload, order):
    pytest.importorskip("imwatermark")
    rgb = face_rgb
    marked = write_image(tmp_path / "marked.png", watermark(rgb, payload))
    rec = read_provenance(marked, kind="image")
    f = next(f for f in rec.findings if f.source == "sd-watermark")
    assert f.trust == "verified" and f.key == payload and f.declares == "generated"
    assert find_watermark(watermark(rgb, payload))[0].channel_order == order
    assert apply_provenance(Verdict.NO_FACE, rec)[0] is Verdict.FAKE
    clean = read_provenance(write_image(tmp_path / "clean.png", rgb), kind="image")
    assert clean.generated is None and "sd-watermark" in clean.checked


def test_soft_reading_weighs_blocks_by_their_margin():
    from deepdetector.provenance.watermark import decode_soft

    payload = PAYLOADS["SDXL"]
    signs = np.where(payload, 1.0, -1.0)
    # per bit: two blocks near the boundary voting wrong (score -+0.1 each), one clear block voting right (+-0.9):
    # the hard majority gets every bit wrong, the soft reading every bit right
    scores = np.concatenate([-0.1 * signs, -0.1 * signs, 0.9 * signs])
    hard = decode_bits(scores > 0, len(payload))
    assert not np.any(hard == payload) and np.array_equal(decode_soft(scores, len(payload)), payload)


def test_match_threshold_is_the_binomial_tail():
    import math

    from deepdetector.provenance.watermark import MAX_CHANCE, min_matches

    for n in (48, 136):
        k = min_matches(n)
        tail = lambda m: sum(math.comb(n, j) for j in range(m, n + 1)) / 2**n  # noqa: E731
        assert tail(k) <= MAX_CHANCE < tail(k - 1)
    assert (min_matches(136), min_matches(48)) == (96, 41)


def test_watermark_reader_skips_sizes_stable_diffusion_does_not_make(tmp_path):
    rec = read_provenance(write_image(tmp_path / "odd.png", textured(300, 301)), kind="image")
    assert "multiples of 8" in rec.skipped["sd-watermark"]


# --- bad input: warnings, never a crash or a hang --------------------------------------------
def test_png_with_ten_thousand_text_chunks_is_bounded(tmp_path):
    chunks = [png_chunk(b"tEXt", b"Comment\x00" + str(i).encode()) for i in range(10_000)]
    path = png_with_raw_chunks(tmp_path / "many.png", textured(64, 64), chunks)
    rec = read_provenance(path, kind="image")
    assert any("text chunks" in w for w in rec.warnings) or any("chunks" in w for w in rec.warnings)
    assert rec.generated is None


def test_zip_bomb_text_huge_xmp_and_truncated_chunks_are_warnings(tmp_path):
    bomb = zlib.compress(b"A" * (64 * 1024 * 1024), 9)  # 64 MiB once inflated
    path = png_with_raw_chunks(tmp_path / "bomb.png", textured(64, 64), [png_chunk(b"zTXt", b"parameters\x00\x00" + bomb)])
    rec = read_provenance(path, kind="image")
    assert any("cut" in w for w in rec.warnings)
    assert len(next(f for f in rec.findings if f.key == "parameters").value) <= source_limits.VALUE_CHARS
    huge = xmp_packet('xmp:CreatorTool="x"').replace("</rdf:RDF>", "<a>" + "w" * (3 * 1024 * 1024) + "</a></rdf:RDF>")
    path = png_with_raw_chunks(
        tmp_path / "huge.png", textured(64, 64), [png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + huge.encode())]
    )
    rec = read_provenance(path, kind="image")
    assert any("XMP" in w for w in rec.warnings) and any(f.key == "CreatorTool" for f in rec.findings)
    whole = encoded(textured(64, 64), "PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    read_provenance(cut, kind="image")  # must simply return


@pytest.mark.parametrize(
    "content", [b"", b"\x00" * 10, b"\xff\xd8\xff\xe1\xff\xff" + b"\x00" * 50, b"\x89PNG\r\n\x1a\n\xff\xff\xff\xffiTXt", b"jumbc2pa" * 100]
)
def test_garbage_gives_a_record_not_an_exception(tmp_path, content):
    path = tmp_path / "garbage.jpg"
    path.write_bytes(content)
    rec = read_provenance(path)
    assert isinstance(rec, ProvenanceRecord) and not rec.verified_generated
    json.dumps(rec.to_dict())


def test_a_failing_reader_becomes_a_warning(tmp_path, monkeypatch):
    from deepdetector.provenance.readers.exif import ExifReader

    def boom(self, src):
        raise RuntimeError("boom")

    monkeypatch.setattr(ExifReader, "read", boom)
    rec = read_provenance(write_image(tmp_path / "a.jpg", textured(64, 64)), kind="image")
    assert any(w.startswith("exif: could not be read") and "boom" in w for w in rec.warnings)
    assert "exif" not in rec.checked and "xmp" in rec.checked


def test_missing_file_is_one_warning(tmp_path):
    rec = read_provenance(tmp_path / "nope.jpg")
    assert rec.findings == [] and len(rec.warnings) == 1


def test_readers_are_registered():
    assert set(PROVENANCE_READERS.names()) == {"c2pa", "exif", "png-text", "sd-watermark", "video-tags", "xmp"}


def test_record_round_trips_through_its_dict():
    rec = ProvenanceRecord(
        findings=[Finding("c2pa", "digitalSourceType", "x", "verified", "m", "generated", "G")], warnings=["w"], checked=["c2pa"], c2pa="valid"
    )
    assert ProvenanceRecord.from_dict(rec.to_dict()).to_dict() == rec.to_dict()


# --- through the scanner --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def detector(tiny_model_dir):
    return Detector(ScanConfig(model_path=tiny_model_dir))


def test_verified_declaration_makes_a_faceless_file_fake_with_its_reason(detector, tmp_path):
    path = sign_c2pa(tmp_path / "gen.jpg", blank_photo(128, 128))
    res = detector.scan(path)
    assert res.verdict is Verdict.FAKE and res.probability is None and res.faces == []
    assert res.reasons[0].startswith("provenance: a valid C2PA manifest declares it trainedAlgorithmicMedia")
    assert "no face found" in res.reasons[1] and "provenance" in res.timings
    doc = to_json([res])
    validate_json(doc)
    assert doc["results"][0]["provenance"]["generated"] == "verified"
    off = Detector(ScanConfig(model_path=detector.config.model_path, provenance=False)).scan(path)
    assert off.verdict is Verdict.NO_FACE and off.provenance is None and "provenance" not in off.timings
    validate_json(to_json([off]))


def test_signed_video_is_fake_by_provenance_and_an_edited_one_is_not(detector, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", n_frames=6, size=(160, 120), face=False)
    signed = sign_c2pa_video(tmp_path / "signed.mp4", clip)
    res = detector.scan(signed)
    assert res.media.kind == "video" and res.verdict is Verdict.FAKE and res.provenance.c2pa == "valid"
    assert res.reasons[0].startswith("provenance: a valid C2PA manifest")
    data = bytearray(signed.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 200] ^= 0xFF  # a byte of the coded pictures changed after signing
    (tmp_path / "edited.mp4").write_bytes(bytes(data))
    edited = detector.scan(tmp_path / "edited.mp4")
    assert edited.provenance.c2pa == "invalid" and not edited.provenance.verified_generated
    assert edited.verdict in (Verdict.NO_FACE, Verdict.ERROR)  # no face in the clip: nothing else can make it fake


def test_claims_do_not_move_the_face_models_verdict(tmp_path, tiny_model_dir, face_rgb):
    packet = xmp_packet('Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"')
    path = jpeg_with_xmp(tmp_path / "face.jpg", face_rgb, packet)
    for threshold in (0.0, 1.0):
        on = Detector(model_path=tiny_model_dir, threshold=threshold).scan(path)
        off = Detector(model_path=tiny_model_dir, threshold=threshold, provenance=False).scan(path)
        assert on.verdict is off.verdict and on.provenance.generated == "claimed"
        assert on.reasons == off.reasons and on.reasons[0].startswith("face model")
    validate_json(to_json([on]))


def test_an_unreadable_file_stays_an_error_with_its_provenance(detector, tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    res = detector.scan(path)
    assert res.verdict is Verdict.ERROR and res.provenance is not None and res.reasons == []
    validate_json(to_json([res]))


def test_config_refuses_a_non_boolean_provenance():
    with pytest.raises(ConfigError, match="provenance"):
        ScanConfig(provenance="yes").validate()


# --- outputs ----------------------------------------------------------------------------------------
def _decided(tmp_path, detector):
    return detector.scan(sign_c2pa(tmp_path / "gen<x>.jpg", blank_photo(128, 128)))


def test_csv_html_and_batch_records_carry_provenance(detector, tmp_path):
    import csv
    import io

    from deepdetector.report import render_html, write_csv
    from deepdetector.types import FileResult

    res = _decided(tmp_path, detector)
    stream = io.StringIO()
    write_csv([res], stream)
    row = next(csv.DictReader(io.StringIO(stream.getvalue())))
    assert row["verdict"] == "fake" and row["provenance"] == "verified" and row["provenance_generator"] == "TestGen"
    assert row["c2pa"] == "valid" and row["reasons"].startswith("provenance: a valid C2PA manifest")
    page = render_html([res])
    assert "<h3>Provenance</h3>" in page and "trainedAlgorithmicMedia" in page and "Declared generated, verified" in page
    assert "gen<x>" not in page and "gen&lt;x&gt;" in page  # escaped
    back = FileResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back.to_dict() == res.to_dict()
    off = Detector(ScanConfig(model_path=detector.config.model_path, provenance=False)).scan(tmp_path / "gen<x>.jpg")
    assert next(csv.DictReader(io.StringIO(_csv(off))))["provenance"] == ""


def _csv(result) -> str:
    import io

    from deepdetector.report import write_csv

    stream = io.StringIO()
    write_csv([result], stream)
    return stream.getvalue()


def test_scan_command_reports_provenance_and_can_turn_it_off(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from deepdetector.cli import app

    path = sign_c2pa(tmp_path / "gen.jpg", blank_photo(128, 128))
    runner = CliRunner()
    on = runner.invoke(app, ["scan", str(path), "--model", str(tiny_model_dir), "--json", str(tmp_path / "on.json"), "-q"])
    assert on.exit_code == 0, on.output
    doc = json.loads((tmp_path / "on.json").read_text())
    assert doc["results"][0]["verdict"] == "fake" and doc["results"][0]["provenance"]["c2pa"] == "valid"
    off = runner.invoke(app, ["scan", str(path), "--model", str(tiny_model_dir), "--no-provenance", "--json", str(tmp_path / "off.json"), "-q"])
    assert off.exit_code == 0, off.output
    doc = json.loads((tmp_path / "off.json").read_text())
    assert doc["results"][0]["verdict"] == "no_face" and doc["results"][0]["provenance"] is None


def test_terminal_table_names_the_provenance_reason(detector, tmp_path):
    from rich.console import Console

    from deepdetector.report import print_table

    res = _decided(tmp_path, detector)
    console = Console(record=True, width=200)
    print_table([res], console)
    text = console.export_text()
    assert "provenance " in text and "a valid C2PA manifest declares it trainedAlgorithmicMedia" in text

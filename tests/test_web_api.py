"""REST API of the web service, through FastAPI's test client, with the tiny test model."""

from __future__ import annotations

import copy
import io
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from deepdetector.config import ScanConfig  # noqa: E402
from deepdetector.errors import ConfigError  # noqa: E402
from deepdetector.web import WebSettings, create_app  # noqa: E402
from deepdetector.web.store import ScanStore  # noqa: E402
from tests.media_factory import face_photo, write_image, write_video  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TIMEOUT = 60.0


@pytest.fixture(scope="module")
def jpeg_bytes(tmp_path_factory) -> bytes:
    path = write_image(tmp_path_factory.mktemp("media") / "face.jpg", face_photo(), quality=90)
    return path.read_bytes()


@pytest.fixture(scope="module")
def video_path(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("media") / "clip.mp4", n_frames=12, fps=12)


def make_settings(tmp_path: Path, model_dir: Path, **changes) -> WebSettings:
    settings = WebSettings(
        db_path=tmp_path / "scans.sqlite3",
        workers=1,
        scan=ScanConfig(model_path=model_dir, threads=1, frames=6),
    )
    for key, value in changes.items():
        setattr(settings, key, value)
    return settings


def upload(client: TestClient, data: bytes, name: str = "face.jpg", headers: dict | None = None):
    return client.post("/api/v1/scans", files={"file": (name, data, "application/octet-stream")}, headers=headers or {})


def wait_finished(client: TestClient, scan_id: str, headers: dict | None = None) -> dict:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/scans/{scan_id}", headers=headers or {}).json()
        if body["status"] in ("done", "error"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"scan {scan_id} did not finish: {body}")


def uploads_left(settings: WebSettings) -> list[str]:
    return sorted(p.name for p in settings.uploads_dir.iterdir())


def _comparable(record: dict) -> dict:
    """A scan record without what legitimately differs between two runs of the same file."""
    out = copy.deepcopy(record)
    for key in ("path", "timings"):
        out.pop(key)
    for face in out["faces"]:
        face.pop("heatmap_file")
    return out


# --------------------------------------------------------------------------------------------------
def test_upload_poll_and_result_match_the_scan_json(tmp_path, tiny_model_dir, jpeg_bytes):
    from deepdetector.api import Detector
    from deepdetector.report.json_report import validate_json

    settings = make_settings(tmp_path, tiny_model_dir)
    with TestClient(create_app(settings)) as client:
        r = upload(client, jpeg_bytes, name="../../etc/passwd/portrait.jpg")
        assert r.status_code == 202
        created = r.json()
        assert created["status"] == "queued" and len(created["id"]) == 32
        assert r.headers["location"] == created["url"] == f"/api/v1/scans/{created['id']}"

        scan = wait_finished(client, created["id"])
        assert scan["status"] == "done", scan
        assert scan["filename"] == "portrait.jpg"  # the client's path is reduced to a display name
        assert (scan["media_type"], scan["kind"], scan["size"]) == ("image/jpeg", "image", len(jpeg_bytes))
        result = scan["result"]
        assert result["verdict"] in ("fake", "real") and result["faces"]
        assert scan["verdict"] == result["verdict"] and scan["probability"] == result["probability"]

        # The result is the `deepdetector scan --json` record of the same file, valid against its schema.
        validate_json({"version": 1, "model": result["model"], "results": [result], "skipped": [],
                       "summary": {"files": 1, "fake": int(result["verdict"] == "fake"),
                                   "real": int(result["verdict"] == "real"), "no_face": 0, "error": 0, "skipped": 0}})  # fmt: skip
        local = tmp_path / "same.jpg"
        local.write_bytes(jpeg_bytes)
        expected = Detector(settings.scan).scan(local).to_dict()
        assert result["path"] == "portrait.jpg"  # never the server's own path
        assert _comparable(result) == _comparable(expected)

        # Every face of an image gets a heatmap picture, served as PNG by URL.
        assert len(scan["heatmaps"]) == len(scan["result"]["faces"])
        first = scan["heatmaps"][0]
        assert scan["result"]["faces"][first["face"]]["heatmap_file"] == first["url"]
        # rounded as every probability of the API (#27), and the same as the face's own
        assert first["probability"] == round(first["probability"], 4) == scan["result"]["faces"][first["face"]]["probability"]
        assert result["explanation"] and result["explanation"] == expected["explanation"]  # the page shows this text
        png = client.get(first["url"])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(png.content)).size == (452, 224)
        assert client.get(first["url"].replace("/0.png", "/99.png")).status_code == 404

        # The upload is deleted once scanned; the history lists the scan with its stable page.
        assert uploads_left(settings) == []
        history = client.get("/api/v1/scans").json()
        assert history["total"] == 1 and history["scans"][0]["page"] == f"/scans/{created['id']}"
        page = client.get(history["scans"][0]["page"])
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "default-src 'self'" in page.headers["content-security-policy"]


def test_video_scan_reports_progress_and_timeline(tmp_path, tiny_model_dir, video_path):
    with TestClient(create_app(make_settings(tmp_path, tiny_model_dir))) as client:
        r = upload(client, video_path.read_bytes(), name="clip.mp4")
        assert r.status_code == 202
        scan = wait_finished(client, r.json()["id"])
    assert scan["status"] == "done" and scan["kind"] == "video" and scan["media_type"] == "video/mp4"
    result = scan["result"]
    assert result["media"]["kind"] == "video"
    assert len(result["frames"]) == result["media"]["sampled_frames"] == 6
    assert scan["progress"] == {"done": 6, "total": 6}
    # heatmaps are drawn for the kept (most suspicious) frame of each person
    assert scan["heatmaps"] and all(h["frame_index"] in {f["index"] for f in result["frames"]} for h in scan["heatmaps"])


def test_bad_uploads_are_refused_and_leave_nothing(tmp_path, tiny_model_dir, jpeg_bytes):
    settings = make_settings(tmp_path, tiny_model_dir, workers=0)
    with TestClient(create_app(settings)) as client:
        assert upload(client, b"").status_code == 400
        text = upload(client, b"just some text, not a picture\n" * 20, name="photo.jpg")
        assert text.status_code == 415 and "not an image or a video" in text.json()["detail"]
        assert upload(client, b"%PDF-1.7\n" + b"0" * 2000, name="clip.mp4").status_code == 415
        assert upload(client, b"PK\x03\x04" + b"\0" * 100, name="a.png").status_code == 415
        no_file = client.post("/api/v1/scans", files={"other": ("x.jpg", jpeg_bytes, "image/jpeg")})
        assert no_file.status_code == 400
        not_multipart = client.post("/api/v1/scans", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
        assert not_multipart.status_code == 415
        two = client.post("/api/v1/scans", files=[("file", ("a.jpg", jpeg_bytes)), ("file", ("b.jpg", jpeg_bytes))])
        assert two.status_code == 400
        assert client.get("/api/v1/scans").json()["total"] == 0
        assert uploads_left(settings) == []
        # The type comes from the content, not the name: a JPEG called .txt is accepted as an image.
        ok = upload(client, jpeg_bytes, name="notes.txt")
        assert ok.status_code == 202
        assert client.get(ok.json()["url"]).json()["media_type"] == "image/jpeg"
        bad_id = client.get("/api/v1/scans/not-an-id")
        assert bad_id.status_code == 422
        # the promised sentence, not FastAPI's list of records (those stay under "errors")
        detail = bad_id.json()["detail"]
        assert isinstance(detail, str) and "scan_id" in detail and "'not-an-id'" in detail, detail
        assert bad_id.json()["errors"][0]["loc"][-1] == "scan_id"
        bad_limit = client.get("/api/v1/scans?limit=abc").json()["detail"]
        assert isinstance(bad_limit, str) and "limit" in bad_limit and "'abc'" in bad_limit, bad_limit
        assert client.get("/api/v1/scans/" + "0" * 32).status_code == 404


def _multipart(data: bytes, boundary: str = "deepdetector-test-boundary") -> tuple[bytes, str]:
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'.encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_oversize_upload_is_refused_while_streaming(tmp_path, tiny_model_dir, jpeg_bytes):
    settings = make_settings(tmp_path, tiny_model_dir, workers=0, max_upload_bytes=len(jpeg_bytes) - 1)
    with TestClient(create_app(settings)) as client:
        r = upload(client, jpeg_bytes)
        assert r.status_code == 413 and "limit" in r.json()["detail"]

        # Without a Content-Length (chunked), the limit is enforced on the bytes as they arrive.
        body, content_type = _multipart(jpeg_bytes)
        chunks = iter([body[i : i + 4096] for i in range(0, len(body), 4096)])
        r = client.post("/api/v1/scans", content=chunks, headers={"content-type": content_type})
        assert r.status_code == 413
        assert uploads_left(settings) == [] and client.get("/api/v1/scans").json()["total"] == 0

        # Exactly at the limit is fine.
        body, content_type = _multipart(jpeg_bytes[: settings.max_upload_bytes])
        r = client.post("/api/v1/scans", content=iter([body]), headers={"content-type": content_type})
        assert r.status_code == 202


def test_full_queue_answers_429(tmp_path, tiny_model_dir, jpeg_bytes):
    settings = make_settings(tmp_path, tiny_model_dir, workers=0, queue_size=2)
    with TestClient(create_app(settings)) as client:
        assert [upload(client, jpeg_bytes).status_code for _ in range(2)] == [202, 202]
        r = upload(client, jpeg_bytes)
        assert r.status_code == 429 and r.headers["retry-after"] == "30"
        assert "30 seconds" in r.json()["detail"]  # the message agrees with Retry-After (#27)
        health = client.get("/healthz").json()
        assert (health["queued"], health["queue_capacity"], health["workers"]) == (2, 2, 0)
        scans = client.get("/api/v1/scans").json()["scans"]
        assert [s["status"] for s in scans] == ["queued", "queued"]
        positions = sorted(client.get(s["url"]).json()["queue_position"] for s in scans)
        assert positions == [1, 2]
        assert len(uploads_left(settings)) == 2  # the refused upload left no file


def test_bearer_token_and_page_session(tmp_path, tiny_model_dir, jpeg_bytes):
    token = "s3cret-token-for-tests"
    settings = make_settings(tmp_path, tiny_model_dir, workers=0, token=token)
    with TestClient(create_app(settings)) as client:
        assert upload(client, jpeg_bytes).status_code == 401
        assert client.get("/api/v1/scans").status_code == 401
        assert client.get("/api/v1/scans", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
        r = upload(client, jpeg_bytes, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 202
        assert client.get(r.json()["url"]).status_code == 401
        assert client.get(r.json()["url"], headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # The health check and the page shell hold no scan data and stay open.
        assert client.get("/healthz").json()["auth"] is True
        assert client.get("/").status_code == 200

        # The page signs in once; an HttpOnly cookie (not the token itself) then authorises it.
        assert client.post("/api/v1/session", json={"token": "nope"}).status_code == 401
        signed = client.post("/api/v1/session", json={"token": token})
        assert signed.status_code == 204
        cookie = signed.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and token not in cookie
        assert client.get("/api/v1/scans").json()["total"] == 1
        client.delete("/api/v1/session")
        assert client.get("/api/v1/scans").status_code == 401


def test_public_address_needs_a_token(tmp_path, tiny_model_dir):
    with pytest.raises(ConfigError, match="--token"):
        create_app(make_settings(tmp_path, tiny_model_dir, host="0.0.0.0", workers=0))
    create_app(make_settings(tmp_path, tiny_model_dir, host="0.0.0.0", workers=0, token="long-enough-token"))
    create_app(make_settings(tmp_path, tiny_model_dir, host="0.0.0.0", workers=0, insecure=True))
    create_app(make_settings(tmp_path, tiny_model_dir, host="::1", workers=0))


def test_restart_resumes_queued_and_interrupted_scans(tmp_path, tiny_model_dir, jpeg_bytes, video_path):
    settings = make_settings(tmp_path, tiny_model_dir, workers=0)
    with TestClient(create_app(settings)) as client:  # accepts uploads, analyses nothing
        queued = upload(client, jpeg_bytes, name="queued.jpg").json()["id"]
        interrupted = upload(client, video_path.read_bytes(), name="clip.mp4").json()["id"]
        given_up = upload(client, jpeg_bytes, name="crashes.jpg").json()["id"]
    # What a server killed in the middle of analysing leaves behind: scans marked running.
    store = ScanStore(settings.db_path)
    store.start(interrupted)
    for _ in range(settings.max_attempts):
        store.start(given_up)
    store.close()

    settings.workers = 1
    with TestClient(create_app(settings)) as client:
        done = wait_finished(client, queued)
        resumed = wait_finished(client, interrupted)
        failed = client.get(f"/api/v1/scans/{given_up}").json()
    assert done["status"] == "done" and done["result"]["verdict"] in ("fake", "real")
    assert resumed["status"] == "done" and resumed["result"]["media"]["kind"] == "video"
    assert failed["status"] == "error" and "interrupted" in failed["error"]
    assert uploads_left(settings) == []


def test_openapi_lists_the_endpoints(tmp_path, tiny_model_dir):
    with TestClient(create_app(make_settings(tmp_path, tiny_model_dir, workers=0))) as client:
        schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/api/v1/scans"]) == {"get", "post"}
    assert set(paths["/api/v1/scans/{scan_id}"]) == {"get"}
    assert set(paths["/api/v1/scans/{scan_id}/heatmaps/{n}.png"]) == {"get"}
    assert set(paths["/healthz"]) == {"get"}
    post = paths["/api/v1/scans"]["post"]
    assert "file" in post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"202", "413", "415", "429"} <= set(post["responses"])
    assert "image/png" in paths["/api/v1/scans/{scan_id}/heatmaps/{n}.png"]["get"]["responses"]["200"]["content"]
    assert "result" in schema["components"]["schemas"]["ScanDetail"]["properties"]


def test_unreadable_media_finishes_with_an_error_verdict(tmp_path, tiny_model_dir, jpeg_bytes):
    settings = make_settings(tmp_path, tiny_model_dir)
    with TestClient(create_app(settings)) as client:
        r = upload(client, jpeg_bytes[:600], name="truncated.jpg")  # looks like a JPEG, cannot be decoded
        assert r.status_code == 202
        scan = wait_finished(client, r.json()["id"])
    assert scan["status"] == "done" and scan["verdict"] == "error"
    assert scan["result"]["verdict"] == "error" and scan["result"]["error"]
    assert scan["heatmaps"] == [] and uploads_left(settings) == []


def test_the_page_offers_every_media_type_scan_and_batch_list(tmp_path, tiny_model_dir):
    """#27: the file picker said image/* and video/*, which browsers may not map .ts, .mts or .heic to."""
    from deepdetector.media.kinds import MEDIA_EXTENSIONS

    settings = make_settings(tmp_path, tiny_model_dir, workers=0)
    with TestClient(create_app(settings)) as client:
        for address in ("/", "/scans/" + "0" * 32):
            page = client.get(address)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            accept = page.text.split('id="file-input"', 1)[1].split('accept="', 1)[1].split('"', 1)[0].split(",")
            assert set(accept) == {"image/*", "video/*"} | MEDIA_EXTENSIONS

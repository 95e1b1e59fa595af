"""``deepdetector batch`` end to end on the tiny test model: outputs, duplicates, corrupt files,
resuming after ``kill -9``, ``--min-score``, and a worker dying mid-batch."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from deepdetector.batch import BatchOptions, run_batch
from deepdetector.config import ScanConfig
from tests.media_factory import blank_photo, face_photo, write_image, write_video

REPO = Path(__file__).resolve().parents[1]


def make_archive(root: Path) -> Path:
    """12 files in nested folders: 6 distinct face pictures, a copy of one of them, a picture with
    no face, 2 short videos, a corrupt JPEG and a truncated MP4 (plus a text file that is not listed)."""
    face = np.ascontiguousarray(face_photo()[::2, ::2])  # 256 px: quick to scan on a busy machine
    (root / "photos" / "more").mkdir(parents=True)
    (root / "videos").mkdir()
    variants = {
        "photos/face.jpg": face,
        "photos/mirror.jpg": np.ascontiguousarray(face[:, ::-1]),
        "photos/bright.png": np.clip(face.astype(np.int16) + 40, 0, 255).astype(np.uint8),
        "photos/dark.png": (face * 0.6).astype(np.uint8),
        "photos/more/padded.jpg": np.pad(face, ((32, 32), (32, 32), (0, 0)), constant_values=30),
        "photos/more/shifted.jpg": np.ascontiguousarray(np.roll(face, 40, axis=1)),
    }
    for name, img in variants.items():
        write_image(root / name, img)
    (root / "photos" / "more" / "copy_of_face.jpg").write_bytes((root / "photos" / "face.jpg").read_bytes())
    write_image(root / "photos" / "blank.png", blank_photo())
    write_video(root / "videos" / "clip1.mp4", n_frames=24)
    write_video(root / "videos" / "clip2.mp4", n_frames=30)
    (root / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" + bytes(range(256)) * 4)
    (root / "videos" / "truncated.mp4").write_bytes((root / "videos" / "clip1.mp4").read_bytes()[:700])
    (root / "README.txt").write_text("not media")
    return root


def batch_cmd(source: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "deepdetector.cli",
        "batch",
        str(source),
        "--out",
        str(out),
        "--model",
        str(model),
        "--frames",
        "2",
        "--workers",
        "1",
        *extra,
    ]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def without_timings(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "timings"} for r in rows]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return make_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def reference(archive, tiny_model_dir, tmp_path_factory) -> Path:
    """An uninterrupted run through the command line; returns its output folder."""
    out_dir = tmp_path_factory.mktemp("reference")
    proc = subprocess.run(batch_cmd(archive, out_dir / "results.jsonl", tiny_model_dir), cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 3, proc.stderr  # 3: finished, some files could not be read
    return out_dir


def test_every_file_has_one_row_and_errors_do_not_stop_the_batch(reference, archive):
    rows = read_jsonl(reference / "results.jsonl")
    names = [Path(r["path"]).relative_to(archive).as_posix() for r in rows]
    assert len(rows) == 12 and names == sorted(names) and "README.txt" not in names
    by_name = dict(zip(names, rows))
    for bad in ("photos/broken.jpg", "videos/truncated.mp4"):
        assert by_name[bad]["verdict"] == "error" and by_name[bad]["error"]
    assert by_name["photos/blank.png"]["verdict"] == "no_face"
    assert by_name["videos/clip1.mp4"]["media"]["kind"] == "video" and by_name["videos/clip1.mp4"]["media"]["sampled_frames"] == 2
    scanned = [r for n, r in by_name.items() if n not in ("photos/broken.jpg", "videos/truncated.mp4", "photos/blank.png")]
    assert all(r["verdict"] in ("fake", "real") and 0 <= r["probability"] <= 1 and r["faces"] for r in scanned)
    assert len({r["probability"] for r in scanned}) > 3  # really different files, really scanned


def test_identical_files_are_scanned_once(reference):
    rows = {Path(r["path"]).name: r for r in read_jsonl(reference / "results.jsonl")}
    original, copy = rows["face.jpg"], rows["copy_of_face.jpg"]
    assert original["hash"] == copy["hash"]
    assert {k: v for k, v in copy.items() if k != "path"} == {k: v for k, v in original.items() if k != "path"}
    db = sqlite3.connect(reference / "results.jsonl.job.sqlite")
    assert db.execute("SELECT COUNT(*), MAX(scan_count), MIN(scan_count) FROM scans").fetchone() == (11, 1, 1)  # 12 files, 11 contents


def test_resume_after_kill_gives_the_same_output_and_scans_nothing_twice(reference, archive, tiny_model_dir, tmp_path):
    out = tmp_path / "results.jsonl"
    job = tmp_path / "job.sqlite"
    cmd = batch_cmd(archive, out, tiny_model_dir, "--job", str(job))
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    done_before_kill: dict[str, str] = {}
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if job.exists():
                try:
                    db = sqlite3.connect(f"file:{job}?mode=ro", uri=True, timeout=5)
                    done = dict(db.execute("SELECT hash, result FROM scans WHERE state='done'").fetchall())
                    db.close()
                except sqlite3.OperationalError:  # tables not created yet
                    done = {}
                if len(done) >= 3:
                    os.killpg(proc.pid, signal.SIGKILL)  # the whole run, workers included, without warning
                    proc.wait(timeout=30)
                    break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the batch finished before it could be interrupted"
    assert not out.exists()  # killed before the end: no output yet
    db = sqlite3.connect(job)
    done_before_kill = dict(db.execute("SELECT hash, result FROM scans WHERE state='done'").fetchall())
    unfinished = (
        db.execute("SELECT COUNT(*) FROM scans WHERE state != 'done'").fetchone()[0]
        + db.execute("SELECT COUNT(*) FROM files WHERE state IN ('pending', 'hashing')").fetchone()[0]
    )
    db.close()
    assert 3 <= len(done_before_kill) and unfinished > 0

    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 3, rerun.stderr
    assert without_timings(read_jsonl(out)) == without_timings(read_jsonl(reference / "results.jsonl"))
    db = sqlite3.connect(job)
    assert db.execute("SELECT COUNT(*), MAX(scan_count) FROM scans WHERE state='done'").fetchone() == (11, 1)
    after = dict(db.execute("SELECT hash, result FROM scans").fetchall())
    assert all(after[h] == r for h, r in done_before_kill.items())  # results finished before the kill were kept, not redone


def test_min_score_keeps_only_suspicious_rows_and_rescans_nothing(reference, archive, tiny_model_dir):
    rows = read_jsonl(reference / "results.jsonl")
    probs = sorted(r["probability"] for r in rows if r["probability"] is not None)
    cut = probs[len(probs) // 2]
    out = reference / "suspicious.jsonl"
    summary = run_batch(
        BatchOptions(sources=[archive], out=out, job=reference / "results.jsonl.job.sqlite", min_score=cut,
                     workers=1, config=ScanConfig(model_path=tiny_model_dir, frames=2))
    )  # fmt: skip
    kept = read_jsonl(out)
    assert kept == [r for r in rows if r["probability"] is not None and r["probability"] >= cut]
    assert 0 < len(kept) < len(rows) and summary.rows_written == len(kept)
    assert summary.finished_this_run == 0 and summary.total == 12  # the job was complete: nothing scanned again
    assert summary.counts["error"] == 2 and summary.top[0][1] == probs[-1]


def test_other_settings_on_the_same_job_are_refused(reference, archive, tiny_model_dir):
    cmd = batch_cmd(archive, reference / "results.jsonl", tiny_model_dir)
    cmd[cmd.index("--frames") + 1] = "3"
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "other settings" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_model_is_a_clean_error(archive, tmp_path):
    proc = subprocess.run(batch_cmd(archive, tmp_path / "r.jsonl", tmp_path / "no_model"), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("error:") and "Traceback" not in proc.stderr


def test_a_worker_killed_mid_batch_is_replaced_and_its_work_redone(tiny_model_dir, tmp_path):
    from deepdetector.batch.local_engine import LocalEngine
    from deepdetector.batch.tasks import Task

    img = write_image(tmp_path / "face.jpg", face_photo())
    engine = LocalEngine(ScanConfig(model_path=tiny_model_dir), workers=1)
    engine.start()
    try:
        engine.submit(Task(1, "scan", "h", str(img)))
        os.kill(engine.pids[0], signal.SIGKILL)
        outcomes = []
        deadline = time.monotonic() + 60
        while not outcomes and time.monotonic() < deadline:
            outcomes = engine.poll(0.2)
        assert [(o.task.id, o.crashed) for o in outcomes] == [(1, True)]
        engine.submit(Task(2, "scan", "h", str(img)))  # the replacement worker takes the retry
        outcomes = []
        while not outcomes and time.monotonic() < deadline:
            outcomes = engine.poll(0.2)
        assert [(o.task.id, o.crashed) for o in outcomes] == [(2, False)] and outcomes[0].value["faces"]
    finally:
        engine.close()


def test_min_score_outside_zero_to_one_is_refused(tmp_path):
    """--min-score nan used to write no rows at all, and 2 or -1 were accepted."""
    from typer.testing import CliRunner

    from deepdetector.cli import app

    for value in ("2", "-1", "nan"):
        res = CliRunner().invoke(app, ["batch", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--min-score", value])
        assert res.exit_code == 1 and "--min-score" in res.output and "from 0 to 1" in res.output, (value, res.output)
    assert not (tmp_path / "o.jsonl").exists()


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_leave_quietly_when_the_driver_is_killed(tiny_model_dir, tmp_path):
    """#27: after `kill -9` of the driver, workers ran on, printed BrokenPipeError tracebacks and the
    resource tracker warned of leaked semaphores."""
    root = tmp_path / "videos"
    root.mkdir()
    for i in range(12):
        write_video(root / f"clip{i:02d}.mp4", n_frames=48)
    out, job = tmp_path / "out.jsonl", tmp_path / "job.sqlite"
    cmd = batch_cmd(root, out, tiny_model_dir, "--job", str(job), "--workers", "2", "--frames", "24")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            done = 0
            if job.exists():
                try:
                    db = sqlite3.connect(f"file:{job}?mode=ro", uri=True, timeout=5)
                    done = db.execute("SELECT COUNT(*) FROM scans WHERE state='done'").fetchone()[0]
                    db.close()
                except sqlite3.OperationalError:
                    pass
            if done >= 1:  # workers are running scans
                workers = _children(proc.pid)
                os.kill(proc.pid, signal.SIGKILL)  # the driver alone
                break
            time.sleep(0.01)
        assert workers, "the batch finished or never started scanning"
        _, stderr = proc.communicate(timeout=20)  # end of file once every worker (and helper) has left
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.2)
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}") and "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]]
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr and "leaked" not in stderr, stderr

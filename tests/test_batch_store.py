"""Batch building blocks that need no model: listing sources, the SQLite job store, output writers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from deepdetector.batch.output import write_output
from deepdetector.batch.sources import SourceFile, iter_sources, stat_file, walk_folder
from deepdetector.batch.store import JobStore, JobStoreError
from deepdetector.batch.tasks import Task, Worker, hash_file
from deepdetector.errors import ConfigError
from deepdetector.types import FileResult, Verdict


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- sources ---------------------------------------------------------------------------------
def test_folder_is_walked_recursively_and_filtered_by_extension(tmp_path):
    root = tmp_path / "archive"
    wanted = {_touch(root / "a.jpg"), _touch(root / "sub" / "b.PNG"), _touch(root / "sub" / "deep" / "c.mp4")}
    _touch(root / "notes.txt")
    _touch(root / "sub" / "thumbs.db")
    (root / "empty_dir").mkdir()
    assert set(walk_folder(root)) == {str(p) for p in wanted}
    listed = list(iter_sources([root]))
    assert {f.path for f in listed} == {str(p) for p in wanted} and all(f.size == 1 for f in listed)


def test_folder_walk_leaves_nothing_out_without_a_word(tmp_path, monkeypatch):
    """#27: .ts/.heic files, dangling links and unlistable sub-folders used to vanish from batch outputs."""
    import os

    root = tmp_path / "archive"
    wanted = {_touch(root / "clip.ts"), _touch(root / "photo.heic"), _touch(root / "sub" / "movie.MTS")}
    (root / "gone.jpg").symlink_to(root / "nowhere.jpg")
    (root / "locked").mkdir()
    _touch(root / "locked" / "hidden.jpg")
    real_scandir = os.scandir

    def scandir(path="."):  # as if "locked" had mode 000 (root lists everything)
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    listed = {f.path: f for f in iter_sources([root])}
    assert set(listed) == {str(p) for p in wanted} | {str(root / "gone.jpg"), str(root / "locked")}
    assert listed[str(root / "gone.jpg")].error is None and listed[str(root / "gone.jpg")].size is None  # its row: file not found
    assert "cannot list this folder" in listed[str(root / "locked")].error
    with JobStore(tmp_path / "job.sqlite") as store:
        store.add_files(listed.values())
        store.commit()
        rows = {r.path: r.result for r in store.rows()}
        assert rows[str(root / "locked")]["verdict"] == "error" and "Permission denied" in rows[str(root / "locked")]["error"]
        assert rows[str(root / "locked")]["threshold"] is None
        assert {path for _, path in store.take_files(100)} == {str(p) for p in wanted} | {str(root / "gone.jpg")}


def test_an_output_or_job_that_is_a_source_is_refused(tmp_path):
    """#27: `batch list.csv --out list.csv` would overwrite the manifest."""
    from deepdetector.batch.runner import BatchOptions, check_options

    manifest = _touch(tmp_path / "list.csv", b"path\na.jpg\n")
    link = tmp_path / "link.csv"
    link.symlink_to(manifest)
    for out, job in ((manifest, None), (link, None), (tmp_path / "out.csv", manifest)):
        with pytest.raises(ConfigError, match="is the source"):
            check_options(BatchOptions(sources=[manifest], out=out, job=job))
    assert manifest.read_bytes() == b"path\na.jpg\n"


def test_one_error_is_one_file():
    from types import SimpleNamespace

    from rich.console import Console

    from deepdetector.batch import cli

    summary = SimpleNamespace(interrupted=False, total=1, counts={"error": 1}, scans=0, reused=0, finished_this_run=1, seconds=1.0,
                              files_per_second=1.0, engine="local", workers=1, top=[], errors=[("a.jpg", "file not found")],
                              n_errors=1, rows_written=1, out="o.csv", job="o.csv.job.sqlite")  # fmt: skip
    console = Console(record=True, width=200)
    import rich.console

    real = rich.console.Console
    rich.console.Console = lambda *a, **k: console
    try:
        cli._print_summary(summary, quiet=False)
    finally:
        rich.console.Console = real
    text = console.export_text()
    assert "1 file could not be analysed" in text and "1 file:" in text and "1 files" not in text and "1 rows" not in text


def test_folder_walk_is_lazy(tmp_path):
    for i in range(50):
        _touch(tmp_path / f"d{i % 5}" / f"{i}.jpg")
    it = walk_folder(tmp_path)
    first = next(it)  # a generator: nothing is listed before it is asked for
    assert first.endswith(".jpg") and len(list(it)) == 49


def test_text_list_resolves_relative_paths_against_its_folder(tmp_path):
    _touch(tmp_path / "data" / "one.jpg")
    listing = tmp_path / "lists" / "paths.txt"
    listing.parent.mkdir()
    listing.write_text(f"# my files\n../data/one.jpg\n\n{tmp_path / 'elsewhere' / 'missing.bin'}\n")
    got = list(iter_sources([listing]))
    assert [Path(f.path) for f in got] == [(tmp_path / "data" / "one.jpg").resolve(), tmp_path / "elsewhere" / "missing.bin"]
    assert got[0].size == 1 and got[1].size is None  # a missing file is still listed (it becomes an error row)


def test_manifest_csv_path_column_relative_to_the_csv(tmp_path):
    _touch(tmp_path / "m" / "clips" / "x.mp4")
    manifest = tmp_path / "m" / "manifest.csv"
    manifest.write_text("label,path\nfake,clips/x.mp4\nreal,clips/y.mp4\n")
    assert [Path(f.path) for f in iter_sources([manifest])] == [tmp_path / "m" / "clips" / "x.mp4", tmp_path / "m" / "clips" / "y.mp4"]


def test_manifest_without_path_column_is_refused(tmp_path):
    manifest = tmp_path / "bad.csv"
    manifest.write_text("file,label\na.jpg,real\n")
    with pytest.raises(ConfigError, match="no 'path' column"):
        list(iter_sources([manifest]))


def test_missing_source_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        list(iter_sources([tmp_path / "nope"]))


# --- hashing ---------------------------------------------------------------------------------
def test_hash_is_of_content_only(tmp_path):
    a = _touch(tmp_path / "a.jpg", b"same bytes" * 100_000)
    b = _touch(tmp_path / "other" / "b.png", b"same bytes" * 100_000)
    c = _touch(tmp_path / "c.jpg", b"other bytes")
    assert hash_file(str(a)) == hash_file(str(b)) != hash_file(str(c))


def test_worker_reports_unreadable_files_as_errors(tmp_path):
    worker = Worker.__new__(Worker)  # hashing needs no detector
    out = worker.run(Task(1, "hash", 1, str(tmp_path / "gone.jpg")))
    assert out.error == "file not found" and out.value is None


# --- job store -------------------------------------------------------------------------------
def _files(tmp_path: Path, names: list[str]) -> list[SourceFile]:
    return [stat_file(str(_touch(tmp_path / n, n.encode()))) for n in names]


def test_store_dedups_by_hash_and_resumes(tmp_path):
    job = tmp_path / "job.sqlite"
    with JobStore(job) as store:
        store.check_identity({"sources": ["a"]})
        store.add_files(_files(tmp_path, ["a.jpg", "b.jpg", "c.jpg"]))
        taken = store.take_files(10)
        assert len(taken) == 3 and store.take_files(10) == []
        (ia, pa), (ib, pb), (ic, pc) = taken
        assert store.set_hash(ia, "h1", pa) == "scan"
        assert store.set_hash(ib, "h1", pb) == "wait"  # same content, being scanned for a.jpg
        assert store.set_hash(ic, "h2", pc) == "scan"
        assert [h for h, _ in store.take_scans(10)] == ["h1", "h2"]
        assert store.set_result("h1", {"path": pa, "verdict": "fake", "probability": 0.9, "timings": {"total": 0.1}}) == 2
        store.commit()
        # killed here: h2 was running when the process died (simulated by not closing cleanly)
    with JobStore(job) as store:
        store.check_identity({"sources": ["a"]})
        assert store.recover() == 1
        assert store.take_files(10) == []
        assert [h for h, _ in store.take_scans(10)] == ["h2"]
        store.set_result("h2", {"path": pc, "verdict": "real", "probability": 0.2})
        rows = list(store.rows())
        assert [Path(r.path).name for r in rows] == ["a.jpg", "b.jpg", "c.jpg"]
        assert rows[1].result["path"] == rows[1].path and rows[1].result["verdict"] == "fake"  # reused, with its own path
        assert [Path(r.path).name for r in store.rows(min_score=0.5)] == ["a.jpg", "b.jpg"]
        assert store.verdict_counts() == {"fake": 2, "real": 1}
        assert store.scan_stats() == {"scans": 2, "reused": 1, "max_scan_count": 1}
        assert store.top_suspicious(1)[0][1] == 0.9


def test_store_refuses_a_job_with_other_settings(tmp_path):
    job = tmp_path / "job.sqlite"
    with JobStore(job) as store:
        store.check_identity({"sources": ["a"], "settings": {"frames": 32}})
        store.add_files(_files(tmp_path, ["a.jpg", "b.jpg"]))
        (fid, path), _ = store.take_files(2)
        store.set_hash(fid, "h1", path)
        store.take_scans(1)
        store.set_result("h1", {"path": path, "verdict": "real", "probability": 0.1})
    with JobStore(job) as store, pytest.raises(JobStoreError, match="settings differ"):
        store.check_identity({"sources": ["a"], "settings": {"frames": 8}})


def test_a_job_that_finished_nothing_can_change_settings(tmp_path):
    job = tmp_path / "job.sqlite"
    with JobStore(job) as store:  # e.g. a first run that could not load its detector
        store.check_identity({"sources": ["a"], "settings": {"detector": "typo"}})
        store.add_files(_files(tmp_path, ["a.jpg"]))
    with JobStore(job) as store:
        store.check_identity({"sources": ["b"], "settings": {"detector": "yunet"}})  # starts afresh
        assert store.progress().total == 0
        store.check_identity({"sources": ["b"], "settings": {"detector": "yunet"}})


def test_store_is_locked_to_one_run(tmp_path):
    job = tmp_path / "job.sqlite"
    with JobStore(job):
        with pytest.raises(JobStoreError, match="another process"):
            JobStore(job)
    JobStore(job).close()  # free again once the first run ends


def test_store_uses_wal(tmp_path):
    JobStore(tmp_path / "job.sqlite").close()
    assert sqlite3.connect(tmp_path / "job.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_changed_file_is_hashed_again(tmp_path):
    with JobStore(tmp_path / "job.sqlite") as store:
        (f,) = _files(tmp_path, ["a.jpg"])
        store.add_files([f])
        ((fid, path),) = store.take_files(1)
        store.set_hash(fid, "h1", path)
        store.add_files([f])  # listed again, unchanged: keeps its state
        assert store.take_files(1) == []
        store.add_files([SourceFile(f.path, (f.size or 0) + 5, f.mtime)])
        assert store.take_files(1) == [(fid, path)]


def test_unreadable_file_is_an_error_row(tmp_path):
    with JobStore(tmp_path / "job.sqlite") as store:
        store.add_files([SourceFile(str(tmp_path / "gone.jpg"), None, None)])
        ((fid, _),) = store.take_files(1)
        store.set_file_error(fid, "file not found")
        (row,) = store.rows()
        assert row.result["verdict"] == "error" and row.result["error"] == "file not found" and row.hash is None
        assert store.verdict_counts() == {"error": 1} and store.errors() == [(str(tmp_path / "gone.jpg"), "file not found")]


# --- output ----------------------------------------------------------------------------------
def _done_store(tmp_path: Path) -> JobStore:
    store = JobStore(tmp_path / "job.sqlite")
    store.add_files(_files(tmp_path, ["a.jpg", "b.jpg"]) + [SourceFile(str(tmp_path / "c.jpg"), None, None)])
    (ia, pa), (ib, pb), (ic, _) = store.take_files(10)
    record = FileResult(path=pa, verdict=Verdict.FAKE, probability=0.8, threshold=0.5, scores={"swap": 0.8}).to_dict()
    store.set_hash(ia, "h1", pa)
    store.set_result("h1", record)
    store.set_hash(ib, "h2", pb)
    store.set_result("h2", {**record, "path": pb, "verdict": "no_face", "probability": None, "scores": {}})
    store.set_file_error(ic, "file not found")
    store.commit()
    return store


def test_jsonl_output_with_min_score(tmp_path):
    with _done_store(tmp_path) as store:
        assert write_output(store, tmp_path / "all.jsonl") == 3
        assert write_output(store, tmp_path / "sus.jsonl", min_score=0.5) == 1
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert [r["verdict"] for r in rows] == ["fake", "no_face", "error"] and rows[0]["hash"] == "h1"
    (sus,) = [json.loads(line) for line in (tmp_path / "sus.jsonl").read_text().splitlines()]
    assert sus["path"].endswith("a.jpg") and sus["probability"] == 0.8


def test_csv_and_parquet_outputs(tmp_path):
    import pyarrow.parquet as pq

    with _done_store(tmp_path) as store:
        write_output(store, tmp_path / "r.csv")
        write_output(store, tmp_path / "r.parquet")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0].startswith("path,verdict,probability") and len(lines) == 4 and ",fake,0.8," in lines[1]
    table = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert [r["verdict"] for r in table] == ["fake", "no_face", "error"]
    assert table[0]["probability"] == 0.8 and dict(table[0]["scores"]) == {"swap": 0.8} and json.loads(table[0]["result"])["verdict"] == "fake"


def test_bad_output_suffix(tmp_path):
    with _done_store(tmp_path) as store, pytest.raises(ConfigError, match="--out must end in"):
        write_output(store, tmp_path / "r.xlsx")


def test_record_round_trips_to_file_result():
    import numpy as np

    from deepdetector.types import Box, Cue, FaceResult, MediaInfo, TrackResult

    mesh = np.arange(468 * 3, dtype=np.float32).reshape(468, 3) / 7
    res = FileResult(
        path="x.mp4", verdict=Verdict.FAKE, probability=0.7, threshold=0.5, face_threshold=0.34,
        media=MediaInfo(path="x.mp4", kind="video", width=64, height=48, fps=24.0, sampled_frames=2),
        faces=[FaceResult(0, 0.0, 1, Box(1, 2, 30, 40), Box(0, 0, 50, 50), 0.9, 0.7, {"swap": 0.7}, landmarks=mesh)],
        tracks=[TrackResult(1, 0.7, Verdict.FAKE, 1, 0, 0, {"swap": 0.7})],
        scores={"swap": 0.7}, model="m v1", timings={"total": 0.5},
        evidence=[Cue("face_classifier", 0.4, "its score", "probability", effect=0.2),
                  Cue("mouth_jitter", 0.01, "lips", "eye dist.", real_range=(0.007, 0.026), effect=-0.1, words="w"),
                  Cue("blinks_per_minute", None, "blinks", "/min", reason="too short")],
    )  # fmt: skip
    assert FileResult.from_dict(res.to_dict()).to_dict() == res.to_dict()


# --- the driver loop, with a stand-in engine (no model needed) --------------------------------
class _FakeEngine:
    """Hashes for real; "scans" by returning the file's size as its probability; crashes on poison files."""

    name = "fake"
    workers = 1
    capacity = 3

    def __init__(self) -> None:
        self.pending: list = []
        self.scanned: list[str] = []
        self.started = False

    def start(self) -> None:
        self.started = True

    def submit(self, task) -> None:
        self.pending.append(task)

    def poll(self, timeout: float) -> list:
        from deepdetector.batch.tasks import Outcome

        out = []
        for task in self.pending:
            if task.kind == "hash":
                out.append(Worker.__new__(Worker).run(task))
            elif "poison" in task.path:
                out.append(Outcome(task, crashed=True, error="worker process died (exit code -9)"))
            else:
                self.scanned.append(task.path)
                record = FileResult(path=task.path, verdict=Verdict.FAKE, probability=Path(task.path).stat().st_size / 100).to_dict()
                out.append(Outcome(task, value=record))
        self.pending = []
        return out

    def close(self) -> None:
        pass


def test_driver_dedups_retries_crashes_then_records_an_error(tmp_path, tiny_model_dir):
    from deepdetector.batch import BatchOptions, run_batch
    from deepdetector.config import ScanConfig

    src = tmp_path / "src"
    for name, data in {"a.jpg": b"1" * 10, "b.jpg": b"1" * 10, "c.jpg": b"2" * 20, "poison.jpg": b"3" * 30}.items():
        _touch(src / name, data)
    options = BatchOptions(sources=[src], out=tmp_path / "r.jsonl", config=ScanConfig(model_path=tiny_model_dir))
    engine = _FakeEngine()
    summary = run_batch(options, engine=engine)
    assert sorted(Path(p).name for p in engine.scanned) in (["a.jpg", "c.jpg"], ["b.jpg", "c.jpg"])  # a and b are one content
    rows = {Path(json.loads(line)["path"]).name: json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()}
    assert rows["a.jpg"]["probability"] == rows["b.jpg"]["probability"] == 0.1 and rows["c.jpg"]["probability"] == 0.2
    assert rows["poison.jpg"]["verdict"] == "error" and "died on this file 2 times" in rows["poison.jpg"]["error"]
    assert summary.counts == {"fake": 3, "error": 1} and summary.scans == 3 and summary.reused == 1
    crashes, attempts = (
        sqlite3.connect(tmp_path / "r.jsonl.job.sqlite").execute("SELECT crashes, attempts FROM scans WHERE path LIKE '%poison%'").fetchone()
    )
    assert (crashes, attempts) == (2, 2)
    # run again: the job is complete, nothing is handed to the engine
    again = _FakeEngine()
    assert run_batch(options, engine=again).finished_this_run == 0 and not again.started

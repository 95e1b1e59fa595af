"""`deepdetector soup`: the uniform weight average of fine-tuning runs of one seed, calibrated like a training run."""

from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from deepdetector import Detector, ScanConfig  # noqa: E402
from deepdetector.cli import app  # noqa: E402
from deepdetector.errors import ConfigError  # noqa: E402
from deepdetector.model.card import ModelCard  # noqa: E402
from deepdetector.training.card_document import model_card_markdown, soup_commands  # noqa: E402
from deepdetector.training.soup import check_ingredients, read_ingredient, run_soup  # noqa: E402
from deepdetector.training.train import TrainConfig, run_training  # noqa: E402
from tests.media_factory import write_labelled_faces  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, face_rgb):
    """Three tiny fine-tuning runs on one folder (random initial weights): seed 0 twice (other learning rates), and seed 1 on the same split."""
    root = tmp_path_factory.mktemp("soup")
    data = write_labelled_faces(root / "faces", face_rgb)
    out = {}
    for key, seed, lr in (("a", 0, 3e-4), ("b", 0, 3e-3), ("other_seed", 1, 3e-4)):
        cfg = TrainConfig(
            data=[str(data)],
            out=str(root / key / "model"),
            cache_dir=str(root / "cache"),
            run_dir=str(root / key / "run"),
            input_size=64,
            cache_size=80,
            epochs=2,
            steps_per_epoch=2,
            pairs=1,
            synthetic=1,
            supervised=1,
            workers=0,
            threads=1,
            pretrained=False,
            progress=False,
            freeze_blocks=2,
            seed=seed,
            split_seed=0,
            lr=lr,
            version="1",
        )
        run_training(cfg, log=lambda s: None)
        out[key] = root / key
    out["root"] = root
    return out


def test_soup_is_the_average_of_the_checkpoints_and_ships_a_working_model(runs, tmp_path):
    a, b = runs["a"], runs["b"]
    card = run_soup(
        [a / "model", b / "model"], out=tmp_path / "model", run_dir=tmp_path / "run", version="2", threads=1, progress=False, log=lambda s: None
    )
    sa = torch.load(a / "run" / "best.pt", map_location="cpu")
    sb = torch.load(b / "run" / "best.pt", map_location="cpu")
    soup = torch.load(tmp_path / "run" / "best.pt", map_location="cpu")
    assert soup.keys() == sa.keys()
    moved = 0
    for k, v in soup.items():
        if v.is_floating_point():
            assert torch.allclose(v, (sa[k] + sb[k]) / 2, atol=1e-6), k
            moved += int(not torch.equal(sa[k], sb[k]))
        else:
            assert torch.equal(v, sa[k]), k
    assert moved > 0  # the two ingredients really differ, so the average is not one of them
    # a model the scanner accepts, with a card that names its ingredients
    assert card["version"] == "2" and card["name"] == "deepdetector-lite0"
    loaded = ModelCard.load(tmp_path / "model")
    loaded.verify()
    ings = card["training"]["soup"]["ingredients"]
    assert [i["model"] for i in ings] == [str(a / "model"), str(b / "model")]
    assert ings[1]["settings"]["lr"] == 3e-3 and ings[0]["checkpoint_sha256"] != ings[1]["checkpoint_sha256"]
    assert card["training"]["split"] == json.loads((a / "model" / "model_card.json").read_text())["training"]["split"]
    assert card["thresholds"] and 0.0 <= card["threshold"] <= 1.0
    res = Detector(ScanConfig(model_path=tmp_path / "model")).scan(runs["root"] / "faces" / "real" / "r0.png")
    assert res.probability is not None
    # the card's commands rebuild it: both training runs into runs/soup-K, then the soup of those folders
    cmds = soup_commands(card)
    assert len(cmds) == 3
    assert cmds[0].startswith("deepdetector train ") and cmds[0].endswith("--out runs/soup-1/model --run-dir runs/soup-1/run")
    assert "--lr 0.003" in cmds[1] and "--lr 0.0003" in cmds[0]
    assert cmds[2] == (
        "deepdetector soup runs/soup-1/model runs/soup-2/model --version 2 --name deepdetector-lite0 --out runs/soup/model --run-dir runs/soup/run"
    )
    # the ONNX file is the averaged network (the trainer's parity check on the soup's own export)
    assert card["training"]["onnx_parity_max_abs_diff"] < 1e-4
    text = model_card_markdown(card)
    assert "A model soup" in text and cmds[2] in text


def test_soup_of_random_networks_of_other_seeds_is_refused(runs, tmp_path):
    """Without ImageNet weights (the tiny runs: --no-pretrained) each seed starts from another random network."""
    with pytest.raises(ConfigError, match="differ in seed"):
        run_soup(
            [runs["a"] / "model", runs["other_seed"] / "model"],
            out=tmp_path / "m",
            run_dir=tmp_path / "r",
            version="2",
            progress=False,
            log=lambda s: None,
        )
    assert not (tmp_path / "m").exists()


def test_pretrained_runs_of_other_seeds_may_be_averaged_but_not_other_splits_or_networks(runs):
    """From ImageNet weights a seed only draws the head and the batches: those runs share their start."""
    ing = [read_ingredient(runs[k] / "model") for k in ("a", "other_seed")]
    for i in ing:
        i.settings["pretrained"] = True
    check_ingredients(ing)  # seeds 0 and 1, one split (--split-seed 0): accepted
    ing[1].settings["split_seed"] = None  # seed 1's own split
    with pytest.raises(ConfigError, match="differ in split_seed: 0 and 1"):
        check_ingredients(ing)
    ing[1].settings["split_seed"] = 0
    ing[1].settings["backbone"] = "efficientnet-lite1"
    with pytest.raises(ConfigError, match="differ in backbone"):
        check_ingredients(ing)


def test_soup_refuses_a_checkpoint_that_is_not_its_cards_network(runs, tmp_path):
    """A run folder trained on after the export (or reused by another run) no longer holds the card's network."""
    b = _copy_ingredient(runs["b"], tmp_path / "b")
    shutil.copy(runs["a"] / "run" / "best.pt", b / "run" / "best.pt")
    with pytest.raises(ConfigError, match="is not the network"):
        run_soup([runs["a"] / "model", b / "model"], out=tmp_path / "m", run_dir=tmp_path / "r", version="2", progress=False, log=lambda s: None)


def test_soup_refuses_ingredients_validated_on_other_groups(runs, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(runs["b"] / "model", b)
    card = json.loads((b / "model_card.json").read_text())
    card["training"]["split"]["validation_groups"] = card["training"]["split"]["validation_groups"][:-1]
    (b / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ConfigError, match="other groups"):
        run_soup([runs["a"] / "model", b], out=tmp_path / "m", run_dir=tmp_path / "r", version="2", progress=False, log=lambda s: None)


def test_soup_command_errors_are_one_clear_line(runs, tmp_path):
    one = runner.invoke(app, ["soup", str(runs["a"] / "model"), "--version", "2", "--out", str(tmp_path / "m")])
    assert one.exit_code == 1 and "at least two ingredients" in one.output
    missing = runner.invoke(app, ["soup", str(runs["a"] / "model"), str(tmp_path / "nope"), "--version", "2", "--out", str(tmp_path / "m")])
    assert missing.exit_code == 1 and "cannot read its model card" in missing.output
    same = runner.invoke(app, ["soup", str(runs["a"] / "model"), str(runs["a"] / "model"), "--version", "2", "--out", str(tmp_path / "m")])
    assert same.exit_code == 1 and "same network" in same.output
    for res in (one, missing, same):  # a clean exit, not an exception caught by the runner
        assert isinstance(res.exception, SystemExit)
    assert not (tmp_path / "m").exists()


def _copy_ingredient(src, dst, edit=None):
    """A copy of a tiny run (model folder and run folder) whose card points at the copied run folder."""
    shutil.copytree(src, dst)
    card = json.loads((dst / "model" / "model_card.json").read_text())
    card["training"]["settings"]["run_dir"] = str(dst / "run")
    if edit:
        edit(card)
    (dst / "model" / "model_card.json").write_text(json.dumps(card))
    return dst


def test_soup_never_writes_over_an_ingredient(runs, tmp_path):
    a, b = _copy_ingredient(runs["a"], tmp_path / "a"), _copy_ingredient(runs["b"], tmp_path / "b")
    before = {p: p.read_bytes() for p in (a / "model" / "deepdetector.onnx", a / "model" / "model_card.json", b / "run" / "best.pt")}
    for out, run_dir, what in ((a / "model", tmp_path / "r", "--out"), (tmp_path / "m", b / "run", "--run-dir")):
        with pytest.raises(ConfigError, match=f"{what} .*\\(an ingredient's"):
            run_soup([a / "model", b / "model"], out=out, run_dir=run_dir, version="2", progress=False, log=lambda s: None)
    assert all(p.read_bytes() == v for p, v in before.items())


def test_a_copy_of_the_same_network_is_not_a_second_ingredient(runs, tmp_path):
    copy = _copy_ingredient(runs["a"], tmp_path / "copy")
    with pytest.raises(ConfigError, match="same network .*identical weights"):
        check_ingredients([read_ingredient(runs["a"] / "model"), read_ingredient(copy / "model")])


@pytest.mark.parametrize(
    "damage, message",
    [
        ("corrupt card", "cannot read its model card"),
        ("no training section", "not a model card written by"),
        ("probe", "only fine-tuned networks"),
        ("soup", "is itself a soup"),
        ("no run folder", "names no run folder"),
        ("truncated checkpoint", "cannot be read as a torch checkpoint"),
    ],
)
def test_bad_ingredients_are_refused_with_a_clear_error(runs, tmp_path, damage, message):
    edits = {
        "no training section": lambda c: c.pop("training"),
        "probe": lambda c: c["training"]["settings"].update(method="probe"),
        "soup": lambda c: c["training"].update(soup={"ingredients": []}),
        "no run folder": lambda c: c["training"]["settings"].update(run_dir=None),
    }
    b = _copy_ingredient(runs["b"], tmp_path / "b", edits.get(damage))
    if damage == "corrupt card":
        (b / "model" / "model_card.json").write_text("{not json")
    if damage == "truncated checkpoint":
        data = (b / "run" / "best.pt").read_bytes()
        (b / "run" / "best.pt").write_bytes(data[: len(data) // 3])
    res = runner.invoke(
        app,
        [
            "soup",
            str(runs["a"] / "model"),
            str(b / "model"),
            "--version",
            "2",
            "--out",
            str(tmp_path / "m"),
            "--run-dir",
            str(tmp_path / "r"),
            "--no-progress",
        ],
    )
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
    assert message in res.output
    assert not (tmp_path / "m").exists()


def test_cards_older_than_taps_are_read_as_final_features_only(runs, tmp_path):
    b = _copy_ingredient(runs["b"], tmp_path / "b", lambda c: c["training"]["settings"].pop("taps"))
    assert read_ingredient(b / "model").settings["taps"] == []

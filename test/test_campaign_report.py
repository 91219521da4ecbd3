"""The campaign's tables come from its run folders and land in the docs' generated blocks."""

from __future__ import annotations

import json
from pathlib import Path

from fanet_training import run_state
from fanet_training.campaign_report import main


def _run(root: Path, name: str, config: dict, history: list[dict]) -> None:
    (root / name).mkdir(parents=True)
    run_state.write_json(root / name / "config.json", {"model": "fanet", "epochs": 40, **config})
    run_state.write_json(root / name / "state.json",
                         {"epoch": history[-1]["epoch"], "history": history})


def test_tables_show_each_recipe_and_its_last_held_out_figures(tmp_path: Path, capsys) -> None:
    campaign = tmp_path / "campaign"
    scored = {"epoch": 40, "seconds": 31.0, "val_miou": 0.49, "holdout_miou": 0.341,
              "holdout_iou_pole": 0.003}
    _run(campaign, "recipe_a", {"augment": "legacy"},
         [{"epoch": 39, "seconds": 25.0}, scored])
    _run(campaign, "recipe_d", {"augment": "street", "aux_loss_weight": 0.4,
                                "class_weighting": "sqrt-median-frequency", "ohem": None},
         [{"epoch": 5, "seconds": 24.0, "val_miou": 0.3, "holdout_miou": 0.25}])
    _run(campaign, "fanet_final", {"augment": "street", "epochs": 150}, [{"epoch": 3}])
    _run(campaign, "fanet_ema", {"augment": "street", "ema": 0.999},
         [{"epoch": 20, "holdout_miou": 0.402, "holdout_raw_miou": 0.395}])
    (campaign / "RUNNING").write_text("123 fanet_final")
    degraded = {"results": {"clean": {"mean_iou": 0.34}, "dark": {"mean_iou": 0.30},
                            "blur": {"mean_iou": 0.26}}}
    (campaign / "recipe_a" / "robustness.json").write_text(json.dumps(degraded))
    docs = tmp_path / "training.md"
    docs.write_text("a\n<!-- campaign-recipes:start -->\nold\n<!-- campaign-recipes:end -->\n"
                    "<!-- campaign-runs:start -->\n<!-- campaign-runs:end -->\n")
    assert main([str(campaign), "--docs", str(docs)]) == 0
    text = docs.read_text()
    assert "old" not in text
    assert ("| `recipe_a` | fanet | `--augment legacy` | 40 / 40 | 28 | 40 | 49.0 | **34.1** "
            "| 34.1 | 28.0 | 0.3 | - | - | - | - |") in text
    assert ("`--augment street --aux-loss-weight 0.4 --class-weighting sqrt-median-frequency`"
            in text)
    runs = text[text.index("campaign-runs:start"):]
    assert "| `fanet_final` | fanet | `--augment street` | 3 / 150 | - | - |" in runs
    assert "recipe_a" not in runs
    # an --ema run: the average's figure (what ships), the raw weights' beside it
    assert "| `--augment street --ema 0.999` | 20 / 40 | - | 20 | - | **40.2** (raw 39.5) |" in runs
    assert main([str(tmp_path)]) == 2
    assert "no run" in capsys.readouterr().err


def test_a_recipe_names_its_optimiser_and_schedule_where_they_are_not_the_campaigns() -> None:
    """recipe_u (SGD) showed as recipe_t with another weight decay before."""
    from fanet_training.campaign_report import recipe

    sgd = {"augment": "street", "optimizer": "sgd", "learning_rate": 0.045,
           "end_learning_rate": 0.00225, "weight_decay": 0.0225}
    assert recipe(sgd) == ("--augment street --optimizer sgd --learning-rate 0.045 "
                           "--end-learning-rate 0.00225 --weight-decay 0.0225")
    adam = {"augment": "street", "optimizer": "adam", "learning_rate": 0.002,
            "end_learning_rate": 0.0001, "weight_decay": 0.5}
    assert recipe(adam) == "--augment street --weight-decay 0.5"

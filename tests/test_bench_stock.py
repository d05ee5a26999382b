"""The stock side of `make bench` is what `rasa init` writes, and stays trained between runs."""
from __future__ import annotations

import sys
from pathlib import Path

import rasa
import yaml
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.utils.io import read_config_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import rasa_bench  # noqa: E402


def test_stock_config_is_rasa_inits_with_its_defaults_and_rasa_leaves_the_file_alone(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(rasa_bench.stock_config(), sort_keys=False), encoding="utf-8")
    written = path.read_text()
    config, _, to_configure = DefaultV1Recipe.auto_configure(str(path), read_config_file(str(path)))
    # Nothing for Rasa to fill in, so it does not rewrite the file at training (a rewritten file
    # changes the fingerprint and the next bench trains stock again, for over 30 minutes).
    assert to_configure == set() and path.read_text() == written
    # ... and it is exactly what Rasa makes of `rasa init`'s file.
    init = read_config_file(str(Path(rasa.__file__).parent / "cli" / "initial_project" / "config.yml"))
    expected = DefaultV1Recipe.complete_config(init, {"pipeline", "policies"})
    assert (config["pipeline"], config["policies"], config["language"]) == (
        expected["pipeline"], expected["policies"], expected["language"])

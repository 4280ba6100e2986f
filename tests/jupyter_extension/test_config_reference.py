"""``docs/configuration.md`` is generated from the traits, and the committed page is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jupyter_extension import config_reference
from jupyter_extension.app import TerrariumApp

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"


def test_the_committed_page_is_the_generated_one() -> None:
    committed = PAGE.read_text(encoding="utf-8")
    assert committed == config_reference.render(), (
        f"docs/configuration.md is stale: run `{config_reference.COMMAND}` to regenerate it"
    )


def test_every_configurable_trait_has_its_row() -> None:
    page = config_reference.render()
    for name in TerrariumApp.class_traits(config=True):
        assert f"| `{name}` |" in page, name
        assert f"`--TerrariumApp.{name}=" in page, name


def test_every_computed_default_is_spelled_out() -> None:
    """A ``@default`` of Terrarium's own would otherwise show as just *computed*."""
    generators = TerrariumApp.__dict__.get("_trait_default_generators", {})
    own = TerrariumApp.class_own_traits(config=True)
    computed = {name for name in generators if name in own}
    assert computed <= set(config_reference.COMPUTED_DEFAULTS)


def test_no_path_of_this_checkout_leaks_into_the_page() -> None:
    assert str(ROOT) not in config_reference.render()


def test_the_module_prints_the_page() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "jupyter_extension.config_reference"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert printed == config_reference.render()

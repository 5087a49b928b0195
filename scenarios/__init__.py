"""Deterministic, labelled synthetic traffic for testing and demoing Rasd."""

from scenarios.generator import (
    PLATFORMS,
    Scenario,
    ScenarioBuilder,
    VariantGroup,
    orthographic_variant,
    write_jsonl,
)
from scenarios.presets import PRESETS

__all__ = [
    "PLATFORMS",
    "PRESETS",
    "Scenario",
    "ScenarioBuilder",
    "VariantGroup",
    "orthographic_variant",
    "write_jsonl",
]

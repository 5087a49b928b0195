"""Detector settings and the watchlist, loadable from one TOML file.

```toml
watched  = ["#الفلوجة_تتحرر"]            # tags our side cares about (hijack targets)
official = ["#قمةبغداد_استقراروتنمية"]   # official campaign tags (fragmentation)

[tags]      # detectors.tags.TagStageConfig fields
allowed_lateness = 20.0
[emerging]  # detectors.emerging.EmergingConfig
fire_score = 6.0
[campaign]  # detectors.campaign.CampaignConfig
[outage]    # detectors.outage.OutageConfig
[variants]  # detectors.variants.VariantConfig
```
Unknown sections or fields are an error, so a typo never silently falls back
to a default.

>>> cfg = DetectorConfig.from_dict({"watched": ["#a"], "emerging": {"fire_score": 7.5}})
>>> cfg.watched, cfg.tags.emerging.fire_score
(['#a'], 7.5)
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from detectors.campaign import CampaignConfig
from detectors.outage import OutageConfig
from detectors.tags import TagStageConfig
from detectors.variants import VariantConfig

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass(slots=True)
class DetectorConfig:
    watched: list[str] = field(default_factory=list)
    official: list[str] = field(default_factory=list)
    platform_shards: int = 4
    tags: TagStageConfig = field(default_factory=TagStageConfig)
    outage: OutageConfig = field(default_factory=OutageConfig)
    variants: VariantConfig = field(default_factory=VariantConfig)

    @property
    def campaign(self) -> CampaignConfig:
        return self.tags.campaign

    @classmethod
    def from_dict(cls, data: dict) -> "DetectorConfig":
        cfg = cls()
        sections: dict[str, DataclassInstance] = {
            "tags": cfg.tags, "emerging": cfg.tags.emerging, "campaign": cfg.tags.campaign,
            "outage": cfg.outage, "variants": cfg.variants,
        }
        for name, value in data.items():
            if name in sections:
                _apply(sections[name], value, name)
            elif name in ("watched", "official"):
                if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                    raise ValueError(f"{name} must be a list of hashtags")
                setattr(cfg, name, [t if t.startswith("#") else "#" + t for t in value])
            elif name == "platform_shards":
                setattr(cfg, name, int(value))
            else:
                raise ValueError(f"unknown setting {name!r}")
        return cfg

    @classmethod
    def load(cls, path: str | Path | None) -> "DetectorConfig":
        if path is None:
            return cls()
        with open(path, "rb") as fh:
            return cls.from_dict(tomllib.load(fh))


def _apply(target: DataclassInstance, values: dict, section: str) -> None:
    if not isinstance(values, dict):
        raise ValueError(f"[{section}] must be a table")
    known = {f.name for f in dataclasses.fields(target)}
    for name, value in values.items():
        if name not in known:
            raise ValueError(f"unknown setting {section}.{name}")
        setattr(target, name, value)

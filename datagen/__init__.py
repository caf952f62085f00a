"""A deterministic, seeded generator of the landing zone (``python -m datagen --help``)."""

from datagen.config import GeneratorConfig
from datagen.generator import generate_landing_zone

__all__ = ["GeneratorConfig", "generate_landing_zone"]

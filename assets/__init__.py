"""The asset graph, a module per layer: bronze, silver, gold, features, reports."""

import warnings

from dagster import BetaWarning, PreviewWarning

# Single-run backfill policies and partitioned asset checks are what make a
# range backfill one Spark job with per-range checks; we opt in deliberately.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

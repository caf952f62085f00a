"""New-file sensors for the landing zone (see the ingestion issue); none are defined yet."""

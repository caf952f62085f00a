"""Sensors: the landing sensor feeds bronze; the automation sensor keeps everything below it fresh."""

"""Indicators of the cellule part (issue 13, item 1): see `indicators.definitions`."""

INDICATORS = []

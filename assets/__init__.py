"""The asset graph, a module per layer: bronze, silver, gold, features, reports."""

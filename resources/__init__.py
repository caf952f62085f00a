"""Resources swapped per environment: Spark, Delta tables, the landing zone, settings, jars."""

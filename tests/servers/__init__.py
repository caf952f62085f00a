"""Real servers the `servers` tests start on loopback and stop by PID (one module per server kind)."""

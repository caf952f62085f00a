"""Real servers for tests: started on 127.0.0.1 free ports, stopped by PID."""

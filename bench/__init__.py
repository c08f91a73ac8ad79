"""Side-by-side benchmark of devrun against `docker compose watch` (run as `python -m bench`)."""

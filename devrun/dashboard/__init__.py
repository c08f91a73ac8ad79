"""The dashboard page: static files served by the running `up` (no build step)."""

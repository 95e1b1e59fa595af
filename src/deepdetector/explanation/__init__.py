"""explanation stage."""

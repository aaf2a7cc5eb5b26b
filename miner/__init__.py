"""Static mining of torch and tensorflow calls from code (never executed)."""

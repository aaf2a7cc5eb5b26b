"""seamfuzz mutator stage."""

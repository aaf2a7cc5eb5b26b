"""seamfuzz runner stage."""

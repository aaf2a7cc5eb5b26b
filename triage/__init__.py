"""seamfuzz triage stage."""

"""lang layer of bpfscope (see DESIGN.md)."""

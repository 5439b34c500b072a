"""attach layer of bpfscope (see DESIGN.md)."""

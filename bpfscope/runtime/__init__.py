"""runtime layer of bpfscope (see DESIGN.md)."""

"""output layer of bpfscope (see DESIGN.md)."""

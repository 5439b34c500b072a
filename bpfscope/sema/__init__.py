"""sema layer of bpfscope (see DESIGN.md)."""

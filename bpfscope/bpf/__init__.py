"""bpf layer of bpfscope (see DESIGN.md)."""

"""codegen layer of bpfscope (see DESIGN.md)."""

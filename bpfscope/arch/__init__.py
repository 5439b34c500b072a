"""Architecture facts: registers and instruction encoding of x86-64."""

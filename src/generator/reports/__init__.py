"""The plan as people read it: the terminal table, markdown for the docs and the diff of two plans."""

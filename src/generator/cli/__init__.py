"""The `betagen` command line."""

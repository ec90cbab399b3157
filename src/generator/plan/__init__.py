"""The plan engine: answers -> sizing -> priced lines -> verdict.

Pure (data in, data out) and dependent only on pydantic, PyYAML and the standard library, so copier's
hooks can load it inside copier's own environment.
"""

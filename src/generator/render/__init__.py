"""The render path over copier's public API (new projects, updates, examples, the demo), and the plan
engine of each template version (engine_loader) with its interface to the hooks (context).
"""

"""The process-wide installation: `install()`, the patch of each stack, threads, processes, `run`.

Built on the integrations: each stack's patch sends through that stack's own adapter
(`beta_middleware.requests`, `._httpx`, `.anthropic`). docs/design.md draws the layers.
"""

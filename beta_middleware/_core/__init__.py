"""The core: beta names, scopes, the header rules and the API's refusals; no HTTP stack.

Every integration (`beta_middleware.requests`, `.httpx`, `.httpx2`, `.anthropic`), the
process-wide installation (`beta_middleware._install`) and the command line build on
these modules; none of them imports anything above it. docs/design.md draws the layers.
"""

"""Demo relying parties ("KOTRA sites") for kotra-idp.

They talk to the provider only over HTTP, like any third-party site would.
Run one with ``python -m clients.demo_site --site 1`` (or ``--site 2``).
"""

"""Use cases. No Flask imports: each takes the database session and its collaborators."""

"""Pages: the login tabs, consent, and the interaction that resumes the authorization request."""

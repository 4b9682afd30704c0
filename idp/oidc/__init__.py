"""Authlib glue: the authorization server, its grants, discovery, keys and logout."""

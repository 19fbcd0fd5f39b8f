"""Talking to partner cities: message signing and the HTTP client."""

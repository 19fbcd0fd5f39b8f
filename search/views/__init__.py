from .home import home

__all__ = ["home"]

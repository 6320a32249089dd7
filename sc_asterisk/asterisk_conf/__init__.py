"""Asterisk configuration rendering (one renderer for the lab and production)."""
from .render import NodeConfig, SipEndpoint, render, write

__all__ = ["NodeConfig", "SipEndpoint", "render", "write"]

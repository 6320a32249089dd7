"""Telecom room: carrier trunks and Asterisk nodes as the engineer manages them (add, edit,
remove, apply to a node, test a trunk, check a node). Knows nothing of campaigns."""

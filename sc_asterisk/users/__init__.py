"""Accounts of the console and the HTTP API: users, roles, passwords, API tokens, sessions.

The CLI (``sc-asterisk user``) and the web room call the same functions here.
"""

"""The web room: the HTTP API (``/api/v1``) and, later, the console. Routes, auth, templates;
every rule lives in the service rooms the CLI calls too."""

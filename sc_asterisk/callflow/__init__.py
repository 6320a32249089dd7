"""Call-flow room: what a callee hears and what is recorded. Knows nothing of AMI."""

"""Lab room: a real Asterisk in a debootstrapped root, and SIPp callees. No campaign logic."""

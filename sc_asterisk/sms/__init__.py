"""SMS: encoding and part counting, text templates, inbound STOP, the SMPP transport.

Self-contained for now: nothing here knows campaigns' rules or the dialer (see README, "SMS (in
progress)").
"""

"""The load peer: stands in for Asterisk towards an unchanged controller, as SIPp stands in for
callees. It speaks real AMI (``ami.py``: login, Originate, Ping, CoreShowChannels and the
events Asterisk sends for a call) and real FastAGI (``agi.py``: it opens the call flow's session
on the controller the Originate names and answers its commands), with call timings drawn from
``calls.CallModel`` and compressed in time. ``rehearsal.py`` drives controllers against it on
PostgreSQL (``make bench-scale``).

Nothing here is shipped in the wheel: it is a bench tool.
"""

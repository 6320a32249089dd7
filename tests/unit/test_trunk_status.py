"""Parsing `pjsip show ...` output, on text recorded from the lab's Asterisk 22."""
from sc_asterisk.telecom.pjsip_status import (command_text, parse_contacts, parse_endpoint_state,
                                              parse_registrations)

ENDPOINT = """
 Endpoint:  <Endpoint/CID.....................................>  <State.....>  <Channels.>
    I/OAuth:  <AuthId/UserName...........................................................>
        Aor:  <Aor............................................>  <MaxContact>
      Contact:  <Aor/ContactUri..........................> <Hash....> <Status> <RTT(ms)..>
  Transport:  <TransportId........>  <Type>  <cos>  <tos>  <BindAddress..................>
   Identify:  <Identify/Endpoint.........................................................>
        Match:  <criteria.........................>
    Channel:  <ChannelId......................................>  <State.....>  <Time.....>
        Exten: <DialedExten...........>  CLCID: <ConnectedLineCID.......>
==========================================================================================

 Endpoint:  sc-reg                                               Not in use    0 of inf
    OutAuth:  sc-reg-auth/acme
        Aor:  sc-reg                                             0
      Contact:  sc-reg/sip:127.0.0.1:55099                 7d06fc7915 Avail         0.671
   Identify:  sc-reg-identify/sc-reg
        Match: 127.0.0.1/32
"""

CONTACTS = """
  Contact:  <Aor/ContactUri..............................> <Hash....> <Status> <RTT(ms)..>
==========================================================================================

  Contact:  lab/sip:127.0.0.1:55070                        89d145afe8 NonQual        -nan
  Contact:  sc-plain/sip:127.0.0.1:55098                   8ee8de6f44 Unavail        -nan
  Contact:  sc-reg/sip:127.0.0.1:55099                     7d06fc7915 Avail         0.671

Objects found: 3
"""

REGISTRATIONS = """
 <Registration/ServerURI..............................>  <Auth....................>  <Status.......>
==========================================================================================

 sc-reg-reg/sip:127.0.0.1:55099                          sc-reg-auth                 Registered        (exp. 3587s)
 other-reg/sip:[2001:db8::1]:5061;transport=tls          other-auth                  Unregistered
 bad-reg/sip:192.0.2.1:5060                              bad-auth                    Rejected          (exp. -12s)

Objects found: 3
"""


def test_contacts_status_and_rtt():
    contacts = parse_contacts(CONTACTS)
    assert [(c.aor, c.status, c.rtt_ms) for c in contacts] == [
        ("lab", "NonQual", None), ("sc-plain", "Unavail", None), ("sc-reg", "Avail", 0.671)]
    assert contacts[2].uri == "sip:127.0.0.1:55099"
    assert [c.settled for c in contacts] == [False, True, True]


def test_endpoint_view_gives_state_and_contact():
    assert parse_endpoint_state(ENDPOINT, "sc-reg") == "Not in use"
    assert parse_endpoint_state(ENDPOINT, "other") is None
    [contact] = parse_contacts(ENDPOINT)   # the header line with <...> is not a contact
    assert contact.aor == "sc-reg" and contact.rtt_ms == 0.671


def test_registrations_by_name():
    regs = parse_registrations(REGISTRATIONS)
    assert set(regs) == {"sc-reg-reg", "other-reg", "bad-reg"}
    assert regs["sc-reg-reg"].status == "Registered" and regs["sc-reg-reg"].expires_s == 3587
    assert regs["other-reg"].status == "Unregistered" and regs["other-reg"].expires_s is None
    assert regs["other-reg"].server_uri == "sip:[2001:db8::1]:5061;transport=tls"
    assert regs["bad-reg"].status == "Rejected"


def test_command_output_list_or_text():
    assert command_text(["a", "b"]) == "a\nb"
    assert command_text("x") == "x" and command_text(None) == ""


def test_a_fresh_registration_is_waited_for_until_the_registrar_answers(monkeypatch):
    """`trunk test` right after `trunk apply`: the transient Unregistered is not the answer."""
    import asyncio

    from sc_asterisk.telecom import probe

    line = " bad-reg/sip:127.0.0.1:5060   bad-auth   {}"
    answers = iter(["Unregistered", "Unregistered", "Rejected", "Registered"])
    asked = []

    async def fake_cli(_ami, command):
        asked.append(command)
        return line.format(next(answers))

    monkeypatch.setattr(probe, "cli", fake_cli)
    state = asyncio.run(probe.wait_registration(None, "bad", timeout=5))
    assert state.status == "Rejected" and len(asked) == 3
    # A registrar that never answers: the last state is returned once the wait is over.
    answers = iter(["Unregistered"] * 1000)
    state = asyncio.run(probe.wait_registration(None, "bad", timeout=0.3))
    assert state.status == "Unregistered"

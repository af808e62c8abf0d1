# SPDX-License-Identifier: GPL-3.0-or-later
"""API replies recorded from FreeSWITCH 1.10.12 on the rendered configuration (tests/harness/office.py).

Recorded with `Office.esl(...)`: STATUS_IDLE right after start, STATUS_IN_CALL during a phone-to-phone
call, GATEWAYS with three trunks: `carrier` (no registration), `backup` (registered to a sipp
registrar) and `dead` (registering to a port where nothing answers). Passwords show as yes/no.
"""

from __future__ import annotations

STATUS_IDLE = (
    "UP 0 years, 0 days, 0 hours, 0 minutes, 24 seconds, 390 milliseconds, 938 microseconds\n"
    "FreeSWITCH (Version 1.10.12-release  64bit) is ready\n"
    "0 session(s) since startup\n"
    "0 session(s) - peak 0, last 5min 0 \n"
    "0 session(s) per Sec out of max 1000, peak 0, last 5min 0 \n"
    "1000 session(s) max\n"
    "min idle cpu 0.00/30.17\n"
    "Current Stack Size/Max 240K/8192K\n"
)

STATUS_IN_CALL = (
    "UP 0 years, 0 days, 0 hours, 0 minutes, 27 seconds, 378 milliseconds, 26 microseconds\n"
    "FreeSWITCH (Version 1.10.12-release  64bit) is ready\n"
    "2 session(s) since startup\n"
    "2 session(s) - peak 2, last 5min 2 \n"
    "0 session(s) per Sec out of max 1000, peak 2, last 5min 2 \n"
    "1000 session(s) max\n"
    "min idle cpu 0.00/20.17\n"
    "Current Stack Size/Max 240K/8192K\n"
)

COUNT_ZERO = "\n0 total.\n"
CALLS_IN_CALL = "\n1 total.\n"  # `show calls count` during that call (`show channels count` said 2)
REGISTRATIONS_ONE = "\n1 total.\n"  # `show registrations count` with desk101-1 registered

GATEWAYS = """<?xml version="1.0" encoding="ISO-8859-1"?>
<gateways>
  <gateway>
    <name>dead</name>
    <profile>external</profile>
    <scheme>Digest</scheme>
    <realm>127.0.0.1</realm>
    <username>acct2</username>
    <password>yes</password>
    <from>&lt;sip:acct2@127.0.0.1&gt;</from>
    <contact>&lt;sip:gw+dead@127.0.0.1:38573;transport=udp;gw=dead&gt;</contact>
    <exten>acct2</exten>
    <to>sip:acct2@127.0.0.1:36063</to>
    <proxy>sip:127.0.0.1:36063</proxy>
    <context>public</context>
    <expires>600</expires>
    <freq>600</freq>
    <ping>0</ping>
    <pingfreq>0</pingfreq>
    <pingmin>0</pingmin>
    <pingcount>0</pingcount>
    <pingmax>0</pingmax>
    <pingtime>0.00</pingtime>
    <pinging>0</pinging>
    <state>FAIL_WAIT</state>
    <status>DOWN</status>
    <uptime-usec>0</uptime-usec>
    <calls-in>0</calls-in>
    <calls-out>0</calls-out>
    <failed-calls-in>0</failed-calls-in>
    <failed-calls-out>0</failed-calls-out>
    <retry>28s</retry>
  </gateway>
  <gateway>
    <name>carrier</name>
    <profile>external</profile>
    <scheme>Digest</scheme>
    <realm>127.0.0.1</realm>
    <username>FreeSWITCH</username>
    <password>no</password>
    <from>&lt;sip:FreeSWITCH@127.0.0.1&gt;</from>
    <contact>&lt;sip:gw+carrier@127.0.0.1:38573;transport=udp;gw=carrier&gt;</contact>
    <exten>FreeSWITCH</exten>
    <to>sip:FreeSWITCH@127.0.0.1:53007</to>
    <proxy>sip:127.0.0.1:53007</proxy>
    <context>public</context>
    <expires>3600</expires>
    <freq>3600</freq>
    <ping>0</ping>
    <pingfreq>0</pingfreq>
    <pingmin>0</pingmin>
    <pingcount>0</pingcount>
    <pingmax>0</pingmax>
    <pingtime>0.00</pingtime>
    <pinging>0</pinging>
    <state>NOREG</state>
    <status>UP</status>
    <uptime-usec>3981083</uptime-usec>
    <calls-in>0</calls-in>
    <calls-out>0</calls-out>
    <failed-calls-in>0</failed-calls-in>
    <failed-calls-out>0</failed-calls-out>
  </gateway>
  <gateway>
    <name>backup</name>
    <profile>external</profile>
    <scheme>Digest</scheme>
    <realm>127.0.0.1</realm>
    <username>acct</username>
    <password>yes</password>
    <from>&lt;sip:acct@127.0.0.1&gt;</from>
    <contact>&lt;sip:gw+backup@127.0.0.1:38573;transport=udp;gw=backup&gt;</contact>
    <exten>acct</exten>
    <to>sip:acct@127.0.0.1:60921</to>
    <proxy>sip:127.0.0.1:60921</proxy>
    <context>public</context>
    <expires>600</expires>
    <freq>600</freq>
    <ping>0</ping>
    <pingfreq>0</pingfreq>
    <pingmin>0</pingmin>
    <pingcount>0</pingcount>
    <pingmax>0</pingmax>
    <pingtime>0.00</pingtime>
    <pinging>0</pinging>
    <state>REGED</state>
    <status>UP</status>
    <uptime-usec>1978358</uptime-usec>
    <calls-in>0</calls-in>
    <calls-out>0</calls-out>
    <failed-calls-in>0</failed-calls-in>
    <failed-calls-out>0</failed-calls-out>
  </gateway>
</gateways>
"""

# `sofia xmlstatus gateway carrier`: a single gateway element, no <gateways> around it (trimmed here to
# the elements the parser reads).
ONE_GATEWAY = """<?xml version="1.0" encoding="ISO-8859-1"?>
  <gateway>
    <name>carrier</name>
    <profile>external</profile>
    <state>NOREG</state>
    <status>UP</status>
    <calls-in>0</calls-in>
    <calls-out>0</calls-out>
    <failed-calls-in>0</failed-calls-in>
    <failed-calls-out>0</failed-calls-out>
  </gateway>
"""

ERR_NO_REPLY = "-ERR no reply\n"  # an API command that failed (recorded from `api strftime %s`)

OFFICE_REPLIES = {
    "status": STATUS_IN_CALL,
    "show calls count": CALLS_IN_CALL,
    "show registrations count": REGISTRATIONS_ONE,
    "sofia xmlstatus gateway": GATEWAYS,
}

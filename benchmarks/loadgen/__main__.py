"""XMPP load generator: ``python -m benchmarks.loadgen SCENARIO [options]``.

It drives any XMPP server (xmppd, Prosody, ejabberd...) over plain RFC 6120/6121 client streams: asyncio on
uvloop (when installed), raw sockets, a minimal client of its own. It is built not to be the bottleneck: after
negotiation, received bytes are only cut into top-level elements and searched with bytes.find; it reports the CPU
it used itself so that a run can be checked for that.

Accounts are ``{prefix}{i}@{domain}`` with the password ``{prefix}{i}-secret`` (prefix ``bench`` by default),
i from 0. Create them with the ``register`` scenario (XEP-0077) or with the server's own tools.

Common options (every scenario)
-------------------------------
``--host 127.0.0.1 --port 5222 --domain localhost``
    Where the server listens, and its XMPP domain.
``--tls starttls|direct|plain``
    STARTTLS (default), direct TLS (XEP-0368: give the direct TLS port), or no TLS at all. Certificates are not
    verified (servers under test use self-signed ones).
``--mech SCRAM-SHA-1|SCRAM-SHA-256|PLAIN``
    The SASL mechanism (default SCRAM-SHA-1); the server's signature is checked with SCRAM.
``--server-pid PID``
    A server process to measure (repeatable, or a comma list): CPU is the sum of utime + stime of
    /proc/PID/stat over the measured window, in seconds; memory is VmRSS of /proc/PID/status, in bytes.
``--source-addresses 127.0.0.1,127.0.0.2,...``
    Local addresses to connect from, round robin per connection (many sessions without running out of
    ephemeral ports).
``--prefix bench``
    The account name prefix.
``--scram-cache FILE``
    A JSON file caching SCRAM SaltedPassword values per (password, salt, iterations, hash), as real clients do;
    read at start, written at the end. Without it the client's PBKDF2 dominates the generator's CPU in logins.
``--timeout 30``
    Seconds allowed for one login (connect to bind) or one request.
``--json FILE``
    Write the result dict as JSON. A one-line summary is always printed on standard output (error samples also
    go to standard error).

Exit status: 0 when a result was produced (look at ``errors``), 2 when the run is impossible as asked (e.g.
more sessions than file descriptors: the JSON then has ``"impossible": true``), 1 on an unexpected failure of
the generator itself (still reported in ``errors``/``error_samples``).

Common result keys
------------------
``scenario`` (the subcommand), ``errors`` (int: failed logins, stream errors, SASL failures, timeouts,
unexpected closes, bounced stanzas...), ``error_samples`` (list of str, at most 10), ``gen_cpu_s`` (the
generator's user + system CPU seconds over the measured window, from getrusage; all processes with --procs),
``gen_cpu_fraction`` (gen_cpu_s / wall_s: near 1.0, the generator may be the bottleneck; with --procs K it
may reach K), ``server_cpu_s`` (null without --server-pid), ``wall_s`` (the measured window). Also
``event_loop``, ``tls``, ``mech``.

Scenarios
---------
``register --accounts N [--concurrency 50] [--offset 0]``
    Creates accounts offset..offset+N-1 with XEP-0077 in-band registration (after STARTTLS, before
    authentication); an account that exists already (``conflict``) is no error.
    Keys: ``accounts``, ``created``, ``existed``, ``rate`` (registrations per second).

``login --logins N [--concurrency 50] [--offset 0] [--accounts A]``
    N full logins (connect, TLS as chosen, SASL, resource binding), each followed by a clean close, C at a time.
    Login j uses account offset + j mod A (A defaults to N) with its own resource.
    Keys: ``logins`` (successful), ``rate`` (logins per second over the window), ``latency_ms`` {``p50``,
    ``p99``, ``max``} (connect to bind result), ``server_cpu_s``, ``logins_per_server_cpu_s``, ``concurrency``.

``idle --sessions N [--concurrency 100] [--hold S] [--offset 0] [--procs K]``
    Logs in N sessions (accounts offset..offset+N-1) with initial presence and keeps them open. The server's
    RSS is read before any connects and again 2 s after all are up. Then they are held S seconds (default 0)
    and closed. One process holds at most its RLIMIT_NOFILE of connections (the soft limit is raised to the hard
    one); ``--procs K`` splits the sessions over K generator processes, each with its own event loop, and RSS is
    read only when all of them are up. A limit that makes N impossible ends the run with status 2 and a message
    saying how many processes are needed.
    Keys: ``sessions`` (up), ``rss_before``, ``rss_after``, ``rss_per_session`` ((after - before) / sessions up),
    ``setup_s`` (time to bring all up; also the measured window), ``procs``, ``nofile_limit``.

``msg --pairs P --duration D [--window W | --rate R] [--warmup 2] [--concurrency 50] [--offset 0]``
    2P online sessions with initial presence (accounts offset..offset+2P-1); pair i is (2i, 2i+1), and both
    send ``<message type='chat' to='peer's full JID' id='...'><body>`` 100 bytes ``</body></message>`` to each
    other. The body carries the sender, a sequence number and the send time (perf_counter_ns), from which the
    receiver measures latency and finds losses and duplicates. Window mode (the default, W=10): each sender has
    at most W messages in flight (freed when the peer receives one). Rate mode: R messages per second in all,
    paced evenly round all senders. First each sender's first message is sent alone and delivered (servers may
    do once-per-session work on a first stanza); then comes the warm-up, not measured; the window lasts D
    seconds after it; then sending stops and the generator waits up to 10 s for the messages still on their way.
    Keys: ``mode`` ("window" or "rate"), ``pairs``, ``sent`` (sent in the window), ``delivered`` (received in
    the window), ``lost`` (sent in the window, never received), ``duplicates``, ``reordered`` (received after a
    later one of the same sender), ``rate`` (delivered per second), ``per_server_cpu_s`` (delivered / server CPU
    seconds), ``latency_ms`` {``p50``, ``p90``, ``p99``, ``max``} (of the messages received in the window),
    ``window`` or ``target_rate``, ``warmup_s``, ``duration_s``, ``unexpected_messages`` (without a token of
    this run: e.g. kept offline from an earlier one).

``presence --users N --roster R --duration D [--inflight 20] [--concurrency 50] [--offset 0]``
    Setup (not measured): users in groups of R+1, everyone in a group subscribed to everyone else both ways
    (roster set, subscribe, subscribed; each round waits until the rosters show it), skipped for groups whose
    rosters say so already; then all users send initial presence, and the generator waits until it has reached
    all contacts. Measured, for D seconds: users go offline and online again (``<presence type='unavailable'/>``
    then ``<presence/>`` on the same stream), at most ``--inflight`` at a time; a toggle ends when every online
    contact has received the user's available presence again.
    Keys: ``users``, ``roster``, ``delivered`` (presence stanzas received by all users in the window), ``rate``
    (per second), ``per_server_cpu_s``, ``toggles`` (completed in the window), ``inflight``, ``groups_set_up``,
    ``subscribed_users``.

``offline --recipients K --messages M [--window 1000] [--concurrency 50] [--offset 500000] [--no-register]``
    The sender is account ``offset``, the recipients offset+1..offset+K (registered first unless
    --no-register; existing ones are fine). Each recipient first logs in and out once to empty its queue. The
    sender then sends M messages to the recipients' bare JIDs, round robin, with a ping after every 100 and after
    the last, at most ``--window`` messages ahead of the answered pings. Then all recipients log in with
    initial presence and receive their stored messages.
    Keys: ``recipients``, ``messages``, ``stored_rate`` (M / time to the last ping's answer), ``store_s``,
    ``backlog_s`` (first recipient login to last message received), ``backlog_rate``, ``delivered``, ``lost``,
    ``duplicates``, ``reordered``, ``drained_before`` (left over from earlier runs), ``stale`` (messages of an
    earlier run received in the backlog phase), ``store_server_cpu_s``,
    ``backlog_server_cpu_s``, ``stored_per_server_cpu_s``; the common keys cover both phases.
"""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

"""An XMPP load generator for any server (xmppd, Prosody, ejabberd): ``python -m benchmarks.loadgen``.

The command line and the JSON result keys are described in ``__main__.py``.
"""

"""Feature modules: one file per specification, declared through ``xmppd.modules.api``."""

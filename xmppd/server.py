"""The composition root: storage, hosts and their modules, TLS, listeners; start and graceful stop."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from xmppd import __version__
from xmppd.config import Config
from xmppd.errors import StreamError
from xmppd.host import Host
from xmppd.modules import loader
from xmppd.modules.register import Register, answer_before_auth
from xmppd.routing.router import Router
from xmppd.routing.sessions import SessionTable
from xmppd.session import C2SEnvironment, ClientSession
from xmppd.storage import Storage, open_storage
from xmppd.stream.c2s import C2SConfig
from xmppd.transport import tls
from xmppd.transport.limits import AuthThrottle
from xmppd.transport.tcp import Connection
from xmppd.xml.element import Element

log = logging.getLogger(__name__)


@dataclass
class Listeners:
    """The ports actually bound (after start)."""

    c2s: list[tuple[str, int]] = field(default_factory=list)
    c2s_direct_tls: list[tuple[str, int]] = field(default_factory=list)


class Server:
    """One xmppd process."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.sessions = SessionTable()
        self.hosts: dict[str, Host] = {}
        self.router = Router(self.hosts, self.sessions)
        self.storage: Storage | None = None
        self.listeners = Listeners()
        self.clients: set[ClientSession] = set()
        self._servers: list[asyncio.Server] = []
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        """Open storage (migrating it), load every host's modules, and listen."""
        config = self.config
        # The data directory holds the TLS key and the accounts' SCRAM keys: its owner only.
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.storage = await open_storage(config.storage_url)
        await self.load_hosts(self.storage)
        if not config.tls.certificate and tls.ensure_self_signed(
            config.certificate_path, config.key_path, config.server.hosts
        ):
            log.info("generated a self-signed certificate in %s", config.certificate_path)
        tls_context = tls.server_context(config.certificate_path, config.key_path)
        c2s = config.c2s
        env = C2SEnvironment(
            stream_config=C2SConfig(
                hosts=frozenset(config.server.hosts),
                tls_available=True,
                tls_required=c2s.tls_required,
                plain_allowed=c2s.plain_auth,
                max_stanza_size=c2s.max_stanza_size,
                max_auth_failures=c2s.max_auth_failures,
                scram_iterations=config.auth.scram_iterations,
                extra_features=_stream_features(self.hosts.values()),
                server_secret=await _server_secret(self.storage),
                registration_hosts=_registration_hosts(self.hosts.values()),
            ),
            hosts=self.hosts,
            router=self.router,
            sessions=self.sessions,
            tls_context=tls_context,
            certificate_der=tls.load_cert_der(config.certificate_path),
            throttle=AuthThrottle(config.auth.failure_delay, config.auth.max_failure_delay),
            auth_timeout=c2s.auth_timeout,
            rate_limit=c2s.rate_limit,
            rate_burst=c2s.rate_burst,
            max_send_buffer=c2s.max_send_buffer,
            on_close=self.clients.discard,
            registrar=answer_before_auth,
        )
        loop = asyncio.get_running_loop()

        def session_factory(direct_tls: bool) -> Callable[[Connection], ClientSession]:
            # One per listener, shared by its connections (a closure per connection would cost each of them).
            def make_session(connection: Connection) -> ClientSession:
                session = ClientSession(env, connection, direct_tls=direct_tls)
                self.clients.add(session)
                return session

            return make_session

        plain_session, direct_tls_session = session_factory(False), session_factory(True)
        max_send_buffer = c2s.max_send_buffer
        for interface in c2s.interfaces:
            if c2s.port:
                server = await loop.create_server(
                    lambda: Connection(plain_session, max_send_buffer=max_send_buffer),
                    interface,
                    c2s.port,
                    reuse_address=True,
                )
                self._servers.append(server)
                self.listeners.c2s.extend(_bound(server))
            if c2s.direct_tls_port:
                server = await loop.create_server(
                    lambda: Connection(direct_tls_session, max_send_buffer=max_send_buffer),
                    interface,
                    c2s.direct_tls_port,
                    ssl=tls_context,
                    reuse_address=True,
                    ssl_handshake_timeout=30.0,
                )
                self._servers.append(server)
                self.listeners.c2s_direct_tls.extend(_bound(server))
        log.info(
            "xmppd %s serving %s: c2s %s, direct TLS %s, storage %s",
            __version__,
            ", ".join(config.server.hosts),
            _describe(self.listeners.c2s),
            _describe(self.listeners.c2s_direct_tls),
            config.storage_url.split("?")[0],
        )

    async def load_hosts(self, storage: Storage) -> None:
        """Make every configured host on ``storage``, with its modules loaded; nothing listens yet.

        ``start`` begins with this; ``xmppd user del`` does only this, so that the modules learn of the deletion.
        """
        self.storage = storage
        config = self.config
        for name in config.server.hosts:
            host = Host(
                name,
                storage,
                self.router,
                self.sessions,
                f"xmppd {__version__}",
                scram_iterations=config.auth.scram_iterations,
            )
            self.hosts[name] = host
            await loader.load(host, config.server.modules, config.modules)

    async def unload_hosts(self) -> None:
        """Unload every host's modules and wait for the routing under way (``storage`` stays open)."""
        # First what is under way (the presence broadcasts of the sessions just closed), while the modules it
        # needs are still there; then what unloading causes.
        await self.router.drain()
        for host in self.hosts.values():
            await loader.unload_all(host)
        await self.router.drain()

    async def stop(self) -> None:
        """Stop listening, close every stream with system-shutdown, unload modules, close storage."""
        for server in self._servers:
            server.close()
        for session in list(self.clients):
            session.close(StreamError("system-shutdown"))
        for session in list(self.clients):
            session.connection.flush()
        # Let the closing tags reach the clients.
        deadline = asyncio.get_running_loop().time() + 2.0
        while self.clients and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for session in list(self.clients):
            session.connection.abort()
        for server in self._servers:
            await server.wait_closed()
        await self.unload_hosts()
        if self.storage is not None:
            await self.storage.close()
        self._stopped.set()
        log.info("stopped")

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


def _stream_features(hosts: Iterable[Host]) -> tuple[Element, ...]:
    """The stream features the enabled modules declare (every host's: the features list is one per server)."""
    declared = dict.fromkeys(
        feature for host in hosts for module in host.modules.values() for feature in module.stream_features
    )
    return tuple(Element(name, ns) for ns, name in declared)


def _registration_hosts(hosts: Iterable[Host]) -> frozenset[str]:
    """The hosts whose register module lets anyone register in-band (XEP-0077 section 3.1)."""
    return frozenset(
        host.name
        for host in hosts
        if isinstance(module := host.modules.get(Register.name), Register) and module.registration_open
    )


async def _server_secret(storage: Storage) -> bytes:
    """The server's persistent secret (made on first start; kept in storage, so every node shares it)."""
    secret = await storage.keyval.get("", "", "server", "secret")
    if secret is None:
        secret = secrets.token_bytes(32)
        await storage.keyval.set("", "", "server", "secret", secret)
    return secret


def _bound(server: asyncio.Server) -> list[tuple[str, int]]:
    return [sock.getsockname()[:2] for sock in server.sockets]


def _describe(addresses: list[tuple[str, int]]) -> str:
    return ", ".join(f"{a}:{p}" for a, p in addresses) or "off"

"""XEP-0077: In-Band Registration.

Three uses of ``jabber:iq:register`` (the XEP's section numbers):

- 3.1, registration with a server: before authenticating, a client asks for the form (username and password)
  and sends it back; the account is created with SCRAM keys and the client then logs in with it. Off unless
  ``allow_registration`` is set. The c2s stream accepts these IQs before authentication only where this module
  opens registration (``C2SConfig.registration_hosts``) and hands them over as ``RegistrationRequested``; the
  session calls ``answer_before_auth`` and gives the reply back to the stream.
- 3.2, cancellation: a logged-in user sends ``<remove/>``; the result goes out, then ``Host.delete_account``
  removes the account (its contacts are unsubscribed, every store forgets it) and closes its sessions with a
  ``not-authorized`` stream error.
- 3.3, password change: a logged-in user sends its own username and a new password.

Password change and cancellation stay available when registration is off, so the ``jabber:iq:register`` disco
feature, which says that the protocol is spoken (section 11, "e.g., to determine if password changes are
possible in-band"), is advertised whenever the module is enabled; whether new accounts may be registered is
what the stream feature says (section 8).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from xmppd.accounts import check_password, create_account, set_password
from xmppd.config import option
from xmppd.errors import JIDError, StanzaError, StorageError
from xmppd.jid import prep_localpart
from xmppd.modules.api import IqRequest, Module, Spec, To, iq_handler
from xmppd.storage.accounts import AccountExists
from xmppd.xml.element import Element
from xmppd.xml.ns import NS_REGISTER
from xmppd.xml.stanza import error_reply, reply

if TYPE_CHECKING:
    from xmppd.host import Host

INSTRUCTIONS: Final = "Choose a username and password to register with this server."
REGISTERED_INSTRUCTIONS: Final = (
    "You are registered. Send your username and a new password to change it, or remove to delete the account."
)


class AddressLimit:
    """At most ``limit`` registrations from one address in any ``period`` seconds (XEP-0077 section 3.1.1).

    Plain values: callers pass ``now`` (``time.monotonic()``). At most ``max_addresses`` addresses are tracked;
    past that, those with nothing in the current period are forgotten, then the least recent half.
    """

    def __init__(self, limit: int, period: float, max_addresses: int = 100_000) -> None:
        self.limit = limit
        self.period = period
        self.max_addresses = max_addresses
        self._stamps: dict[str, deque[float]] = {}

    def reserve(self, address: str, now: float) -> bool:
        """Count a registration from ``address`` now; False (and nothing counted) when it is over the limit."""
        stamps = self._stamps.get(address)
        if stamps is None:
            if len(self._stamps) >= self.max_addresses:
                self._expire(now)
            stamps = self._stamps[address] = deque()
        while stamps and now - stamps[0] >= self.period:
            stamps.popleft()
        if len(stamps) >= self.limit:
            return False
        stamps.append(now)
        return True

    def release(self, address: str, stamp: float) -> None:
        """Take back the registration counted at ``stamp``: it did not create an account."""
        stamps = self._stamps.get(address)
        if stamps is not None and stamp in stamps:
            stamps.remove(stamp)

    def _expire(self, now: float) -> None:
        for address in [a for a, s in self._stamps.items() if not s or now - s[-1] >= self.period]:
            del self._stamps[address]
        if len(self._stamps) >= self.max_addresses:
            newest = sorted(self._stamps.items(), key=lambda item: item[1][-1])[len(self._stamps) // 2 :]
            self._stamps = dict(newest)


class Register(Module):
    name = "register"
    spec = Spec(
        "XEP-0077",
        version="2.5",
        status="partial",
        note="no data forms (section 4, optional); errors carry no legacy codes (section 9)",
    )
    features = (NS_REGISTER,)

    @dataclass(frozen=True, slots=True)
    class Config:
        allow_registration: bool = False
        """Let anyone create an account in-band before logging in (XEP-0077 section 3.1), over TLS only. Logged-in
        users may change their password and delete their account in-band either way."""
        max_registrations_per_address: int = option(3, minimum=1, maximum=1_000_000)
        """Accounts one IP address may register in-band within ``registration_period``; more are refused with
        not-acceptable (XEP-0077 section 3.1.1)."""
        registration_period: float = option(3600.0, minimum=1, maximum=366 * 86400)
        """Seconds over which ``max_registrations_per_address`` counts."""

    def __init__(self, host: Host, config: Config) -> None:
        super().__init__(host, config)
        self.limit = AddressLimit(config.max_registrations_per_address, config.registration_period)

    @property
    def registration_open(self) -> bool:
        """Whether new accounts may be registered in-band (the c2s stream then offers it)."""
        return bool(self.config.allow_registration)

    # -- before authentication (section 3.1) ----------------------------------------------------------------

    async def answer_before_auth(self, iq: Element, address: str) -> Element:
        """The reply to a ``jabber:iq:register`` get or set from a client that has not authenticated."""
        try:
            payload = await self._before_auth(iq, address)
        except StanzaError as error:
            return error_reply(iq, error)
        return reply(iq, payload)

    async def _before_auth(self, iq: Element, address: str) -> Element | None:
        if not self.registration_open:
            # Section 3.1: a host that does not support in-band registration MUST answer service-unavailable.
            raise StanzaError("service-unavailable", "in-band registration is closed")
        query = iq.find("query", NS_REGISTER)
        assert query is not None  # the stream hands over nothing else
        if iq.attrs.get("type") == "get":
            # Section 3.1: the host MUST tell an unregistered entity the required fields; a server SHOULD take
            # an entity that has not authenticated as unregistered (3.1.1).
            form = Element("query", NS_REGISTER)
            form.add("instructions", text=INSTRUCTIONS)
            form.add("username")
            form.add("password")
            return form
        if _wants_removal(query):
            # Section 3.2: a remove "without a 'from' address because the entity is not registered".
            raise StanzaError("unexpected-request", "log in to delete your account")
        username = query.child_text("username", NS_REGISTER)
        password = query.child_text("password", NS_REGISTER)
        if not username or not password:
            # Section 3.1: every field the form asked for MUST be provided, and an empty password is none.
            raise StanzaError("not-acceptable", "a username and a password are required")
        try:
            local = prep_localpart(username)
        except JIDError:
            raise StanzaError("not-acceptable", "this username is not allowed") from None
        try:
            check_password(password)
        except ValueError:
            raise StanzaError("not-acceptable", "this password is not allowed") from None
        now = time.monotonic()
        if not self.limit.reserve(address, now):
            # Section 3.1.1: a server MAY answer not-acceptable to an entity that registers too many times.
            self.log.warning("in-band registration refused: too many from %s", address)
            raise StanzaError("not-acceptable", "too many registrations from your address; try again later")
        try:
            await self._create(local, password)
        except BaseException:
            self.limit.release(address, now)
            raise
        self.log.info("registered %s@%s in-band from %s", local, self.host.name, address)
        return None

    async def _create(self, username: str, password: str) -> None:
        accounts = self.host.storage.accounts
        try:
            # Checked first so that a taken name costs no key derivation; create() still refuses a race's loser.
            if await accounts.get(self.host.name, username) is not None:
                raise AccountExists(self.host.name, username)
            await create_account(
                self.host.storage, self.host.name, username, password, self.host.scram_iterations
            )
        except AccountExists:
            # Section 3.1: the desired username is in use by another entity.
            raise StanzaError("conflict", "this username is taken") from None
        except StorageError:
            self.log.exception("in-band registration of %s@%s failed", username, self.host.name)
            raise StanzaError("internal-server-error") from None

    # -- logged-in users (sections 3.1, 3.2 and 3.3) ----------------------------------------------------------

    @iq_handler("get", NS_REGISTER, "query", to=(To.HOST, To.BARE))
    async def get(self, request: IqRequest) -> Element:
        """Section 3.1: a registered entity gets ``<registered/>`` and what is on file (never the password)."""
        username = self._registered_sender(request)
        if username is None:
            # Entities that logged in elsewhere cannot register here in-band: as if it were not supported.
            raise StanzaError("service-unavailable")
        query = Element("query", NS_REGISTER)
        query.add("registered")
        query.add("instructions", text=REGISTERED_INSTRUCTIONS)
        query.add("username", text=username)
        query.add("password")  # section 3.1: MAY be empty (only SCRAM keys are kept)
        return query

    @iq_handler("set", NS_REGISTER, "query", to=(To.HOST, To.BARE))
    async def set(self, request: IqRequest) -> None:
        """Cancellation (section 3.2) or password change (section 3.3) by the account itself."""
        username = self._registered_sender(request)
        if _wants_removal(request.payload):
            await self._remove(request, username)
        else:
            await self._change_password(request, username)

    async def _remove(self, request: IqRequest, username: str | None) -> None:
        if len(request.payload.elements()) != 1:
            # Section 3.2: <remove/> MUST be the only child element of <query/>.
            raise StanzaError("bad-request", "<remove/> comes alone")
        if username is None or await self.host.storage.accounts.get(self.host.name, username) is None:
            # Section 3.2: the entity was not registered.
            raise StanzaError("registration-required")
        self.log.info("%s@%s deletes its account in-band", username, self.host.name)
        # Section 3.2: the result first (the router sends it when this handler returns), then every session of
        # the account ends with a not-authorized stream error. Host.delete_account does that and the rest (the
        # contacts' subscriptions cancelled, every store wiped) in its own task, which starts after the result.
        self.host.router.spawn(self.host.delete_account(username))

    async def _change_password(self, request: IqRequest, username: str | None) -> None:
        if username is None:
            raise StanzaError("service-unavailable")
        query = request.payload
        given = query.child_text("username", NS_REGISTER)
        password = query.child_text("password", NS_REGISTER)
        if not given or not password:
            # Section 3.3: we require the username; an empty password MUST NOT replace the existing one.
            # (Error replies never echo the request: section 3.3 says they SHOULD NOT carry the password.)
            raise StanzaError("bad-request", "a username and a new password are required")
        try:
            own = prep_localpart(given) == username
        except JIDError:
            own = False
        if not own:
            raise StanzaError("bad-request", "you may change your own password only")
        try:
            changed = await set_password(
                self.host.storage, self.host.name, username, password, self.host.scram_iterations
            )
        except ValueError:
            raise StanzaError("bad-request", "this password is not allowed") from None
        if not changed:
            raise StanzaError("registration-required")
        self.log.info("%s@%s changed its password in-band", username, self.host.name)

    def _registered_sender(self, request: IqRequest) -> str | None:
        """The account of this host that sent ``request`` about itself; None when the sender has none here."""
        sender = request.sender
        if request.to.local is not None and request.to != sender.bare():
            # Another account's registration is its own business: the account looks absent (as RFC 6121
            # section 8.5.1 has unknown accounts answer).
            raise StanzaError("service-unavailable")
        if sender.local is None or sender.domain != self.host.name:
            return None
        return sender.local


def _wants_removal(query: Element) -> bool:
    return query.find("remove", NS_REGISTER) is not None


async def answer_before_auth(host: Host, iq: Element, address: str) -> Element:
    """What the c2s session calls for ``RegistrationRequested``: ``host``'s answer to ``iq`` from ``address``."""
    module = host.modules.get(Register.name)
    if not isinstance(module, Register):
        # Section 3.1: no in-band registration here.
        return error_reply(iq, StanzaError("service-unavailable"))
    return await module.answer_before_auth(iq, address)

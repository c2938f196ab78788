"""TLS for the transports: the self-signed default certificate, the server context, channel bindings.

Channel bindings (RFC 5056) let SCRAM-*-PLUS prove that the SASL exchange ran inside this very TLS connection.
``channel_bindings()`` returns the types a connection supports, keyed by their registered names:

- ``tls-server-end-point`` (RFC 5929 section 4.1): a hash of our own certificate. Always available when the
  certificate's signature algorithm names a single hash.
- ``tls-exporter`` (RFC 9266): 32 bytes of TLS 1.3 keying material. Offered only on TLS 1.3 connections.
- ``tls-unique`` is never offered: it is not defined for TLS 1.3 (RFC 8446 section C.5, RFC 9266 section 1).

Why ctypes, and how it is guarded
---------------------------------
The ``ssl`` module (CPython 3.11 to 3.13) has no API for TLS keying material exporters, and we want no extra
dependency for it. So ``tls-exporter`` calls OpenSSL's ``SSL_export_keying_material`` through ctypes, from the
same libssl that the ``_ssl`` extension module is linked against (dlsym through ``_ssl``'s own handle, which
searches its dependencies; on Linux, the ``libssl`` already mapped into the process as a fallback). The ``SSL *``
it needs is a private field of ``_ssl._SSLSocket`` (``ssl_object._sslobj``): in CPython 3.11 to 3.13 that C
struct is ``PyObject_HEAD; PyObject *Socket; SSL *ssl; PySSLContext *ctx; ...`` and ``PySSLContext`` starts with
``PyObject_HEAD; SSL_CTX *ctx``. Reading private memory is only safe if that layout is right, so:

1. it is attempted only on CPython 3.11 to 3.13, and only when the library's ``OpenSSL_version_num()`` equals
   ``ssl.OPENSSL_VERSION_NUMBER`` (the same OpenSSL that ``_ssl`` runs);
2. every read stays inside the object (``__basicsize__`` is checked), and before any OpenSSL call receives the
   candidate ``SSL *``, the neighbouring ``ctx`` field must equal ``id(ssl_object.context)``; then
   ``SSL_get_SSL_CTX(ssl)`` must return the ``SSL_CTX *`` of that context;
3. once per process, lazily, a self-test runs two TLS 1.3 handshakes in memory (``ssl.MemoryBIO``, throwaway
   self-signed certificate) and requires ``SSL_version() == TLS1_3_VERSION``, ``SSL_is_server()`` to match each
   side, both ends of a connection to export the same 32 bytes, and the two connections to export different ones.

If any of this fails, one warning is logged and only ``tls-server-end-point`` is offered from then on. When the
``ssl`` module grows an exporter API, use it instead and delete the ctypes part. To support a newer CPython,
check ``PySSLSocket`` and ``PySSLContext`` in its ``Modules/_ssl.c`` and widen ``_LAYOUT_VERSIONS``.
"""

from __future__ import annotations

import ctypes
import datetime
import ipaddress
import logging
import os
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from xmppd.errors import ConfigError

log = logging.getLogger(__name__)

#: XEP-0368 section 4: the ALPN protocol name for client-to-server direct TLS.
ALPN_XMPP_CLIENT: Final = "xmpp-client"
#: RFC 9266 section 2: exporter label and length; the context is zero-length.
EXPORTER_LABEL: Final = b"EXPORTER-Channel-Binding"
EXPORTER_LENGTH: Final = 32
CERTIFICATE_LIFETIME: Final = datetime.timedelta(days=3652)  # ten years

_TLS1_3_VERSION: Final = 0x0304
_LAYOUT_VERSIONS: Final = ((3, 11), (3, 12), (3, 13))  # CPython versions whose _ssl struct layout we know
_HEAD: Final = object.__basicsize__  # sizeof(PyObject): PyObject_HEAD, whatever the build
_POINTER: Final = ctypes.sizeof(ctypes.c_void_p)
_SSL_OFFSET: Final = _HEAD + _POINTER  # PySSLSocket.ssl
_CTX_OFFSET: Final = _HEAD + 2 * _POINTER  # PySSLSocket.ctx
_SSL_CTX_OFFSET: Final = _HEAD  # PySSLContext.ctx


# -- certificates -------------------------------------------------------------------------------------------


def ensure_self_signed(cert_path: Path, key_path: Path, hosts: Sequence[str]) -> bool:
    """Create a self-signed certificate and its key for ``hosts`` unless they exist; never overwrite.

    The key is EC P-256, written unencrypted as PKCS#8 PEM with mode 0600. The certificate is valid for ten
    years, names the first host as CN and every host as a DNS subjectAltName (``localhost`` also gets
    127.0.0.1 and ::1), and is a server leaf: CA false, digitalSignature, serverAuth.

    Returns True when it generated the pair and False when both files already existed. Raises ``ConfigError``
    when only one of the two exists (generating a pair would overwrite it) or when a file cannot be written.
    """
    cert_exists, key_exists = cert_path.exists(), key_path.exists()
    if cert_exists and key_exists:
        return False
    if cert_exists or key_exists:
        present, missing = (cert_path, key_path) if cert_exists else (key_path, cert_path)
        raise ConfigError(
            [f"tls: {missing} is missing but {present} exists; remove it to generate a new self-signed pair"]
        )
    key_pem, cert_pem = _self_signed_pem(hosts)
    try:
        key_path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        _write_new_file(key_path, key_pem, 0o600)
        try:
            _write_new_file(cert_path, cert_pem, 0o644)
        except BaseException:
            key_path.unlink(missing_ok=True)  # ours: it did not exist a moment ago
            raise
    except OSError as exc:
        raise ConfigError([f"tls: cannot write {exc.filename or cert_path}: {exc.strerror or exc}"]) from exc
    return True


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: fail rather than overwrite, even if the file appeared since we looked.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        with os.fdopen(fd, "wb") as file:
            os.chmod(path, mode)  # created at most this permissive; make it exactly this
            file.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _self_signed_pem(hosts: Sequence[str]) -> tuple[bytes, bytes]:
    names = list(dict.fromkeys(host.strip().rstrip(".").lower() for host in hosts if host.strip()))
    if not names:
        raise ValueError("a self-signed certificate needs at least one host name")
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name.strip("[]"))))
            continue
        except ValueError:
            pass
        try:
            alt_names.append(x509.DNSName(name if name.isascii() else name.encode("idna").decode("ascii")))
        except UnicodeError as exc:
            raise ConfigError([f"tls: cannot put host {name!r} in a certificate: {exc}"]) from exc
        if name == "localhost":
            alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
            alt_names.append(x509.IPAddress(ipaddress.ip_address("::1")))
    # The CN is limited to 64 characters (RFC 5280 appendix A.1); without one the subject is empty and the
    # subjectAltName extension must then be critical (RFC 5280 section 4.2.1.6).
    has_cn = len(names[0]) <= 64
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])] if has_cn else [])
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))  # tolerate a peer's clock running a little late
        .not_valid_after(now + CERTIFICATE_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=not has_cn)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def load_cert_der(cert_path: Path) -> bytes:
    """The DER encoding of the first certificate in the PEM file ``cert_path`` (our own, the chain's leaf)."""
    try:
        certificates = x509.load_pem_x509_certificates(cert_path.read_bytes())
    except OSError as exc:
        raise ConfigError([f"tls: cannot load certificate {cert_path}: {exc.strerror or exc}"]) from exc
    except ValueError as exc:
        raise ConfigError([f"tls: cannot load certificate {cert_path}: {exc}"]) from exc
    return certificates[0].public_bytes(serialization.Encoding.DER)


# -- the server context -------------------------------------------------------------------------------------


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A TLS server context for client connections (STARTTLS and XEP-0368 direct TLS).

    TLS 1.2 at least, OpenSSL's and Python's secure default ciphers, no compression, no renegotiation, one TLS 1.3
    session ticket per handshake. ALPN ``xmpp-client`` is selected when the client offers it; a client offering no
    ALPN, or only other protocols, still completes the handshake. Raises ``ConfigError`` when the certificate
    chain or key cannot be loaded, including an encrypted key (the server never prompts for a passphrase).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols([ALPN_XMPP_CLIENT])
    # TLS 1.3 session tickets: OpenSSL sends two per handshake, for clients that open connections in parallel; an
    # XMPP client keeps one, so one ticket still lets it resume, and each one less saves its encryption per login.
    context.num_tickets = 1
    try:
        context.load_cert_chain(cert_path, key_path, password=_refuse_passphrase)
    except ssl.SSLError as exc:
        raise ConfigError([f"tls: cannot load certificate {cert_path}: {exc.reason or exc}"]) from exc
    except OSError as exc:
        raise ConfigError([f"tls: cannot load certificate {cert_path}: {exc.strerror or exc}"]) from exc
    except ValueError as exc:
        raise ConfigError([f"tls: cannot load certificate {cert_path}: {exc}"]) from exc
    return context


def _refuse_passphrase() -> str:
    # Without a callback OpenSSL would prompt on the terminal and hang the server.
    raise ValueError("the private key is encrypted; xmppd needs an unencrypted key (mode 0600)")


# -- channel bindings ---------------------------------------------------------------------------------------


def channel_bindings(ssl_object: ssl.SSLObject | ssl.SSLSocket, cert_der: bytes) -> dict[str, bytes]:
    """The channel bindings of an established server-side connection whose certificate is ``cert_der``.

    Returns ``{"tls-exporter": ..., "tls-server-end-point": ...}`` with only the types this connection
    supports: ``tls-exporter`` on TLS 1.3 when the exporter is usable (see the module docstring),
    ``tls-server-end-point`` when the certificate's signature algorithm defines it. Never ``tls-unique``.
    """
    bindings: dict[str, bytes] = {}
    exporter = tls_exporter(ssl_object)
    if exporter is not None:
        bindings["tls-exporter"] = exporter
    try:
        bindings["tls-server-end-point"] = server_end_point(cert_der)
    except ValueError as exc:
        log.debug("no tls-server-end-point: %s", exc)
    return bindings


class ChannelBindings(Mapping[str, bytes]):
    """``channel_bindings()`` of one connection, with ``tls-exporter``'s data computed when first looked up.

    The types are known at once (they are advertised in the stream features); the exporter's data are needed only
    by a client that picks a -PLUS mechanism with it, so the others do not pay for it. A type whose data turn out
    to be unavailable (the exporter failing on this connection) is then missing: ``get`` gives None.
    """

    __slots__ = ("_ssl_object", "_values")

    def __init__(self, ssl_object: ssl.SSLObject | ssl.SSLSocket, cert_der: bytes) -> None:
        self._ssl_object: ssl.SSLObject | ssl.SSLSocket | None = None
        values: dict[str, bytes | None] = {}
        if ssl_object.version() == "TLSv1.3" and tls_exporter_supported():
            values["tls-exporter"] = None  # computed on first lookup
            self._ssl_object = ssl_object
        try:
            values["tls-server-end-point"] = server_end_point(cert_der)
        except ValueError as exc:
            log.debug("no tls-server-end-point: %s", exc)
        self._values = values

    def __getitem__(self, name: str) -> bytes:
        value = self._values[name]
        if value is None:
            ssl_object, self._ssl_object = self._ssl_object, None
            value = tls_exporter(ssl_object) if ssl_object is not None else None
            if value is None:
                del self._values[name]
                raise KeyError(name)
            self._values[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        return name in self._values  # without computing it (Mapping's own would)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@lru_cache(maxsize=16)
def server_end_point(cert_der: bytes) -> bytes:
    """RFC 5929 section 4.1: the hash of the server certificate ``cert_der``.

    The hash is the one of the certificate's signature algorithm, except that MD5 and SHA-1 become SHA-256.
    Raises ``ValueError`` when that algorithm uses no single hash (Ed25519, Ed448) or an unknown one: the
    binding is undefined then.
    """
    certificate = x509.load_der_x509_certificate(cert_der)
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm as exc:
        raise ValueError(f"tls-server-end-point: unsupported signature algorithm: {exc}") from exc
    if algorithm is None:
        raise ValueError("tls-server-end-point is undefined for a signature algorithm without a single hash")
    if isinstance(algorithm, hashes.MD5 | hashes.SHA1):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(cert_der)
    return digest.finalize()


def tls_exporter(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> bytes | None:
    """RFC 9266: the ``tls-exporter`` binding of a TLS 1.3 connection (either side), or None.

    None when the connection is not (yet) TLS 1.3 or the exporter is unavailable in this process.
    """
    if ssl_object.version() != "TLSv1.3":
        return None
    exporter = _exporter()
    return None if exporter is None else exporter.export(ssl_object)


def tls_exporter_supported() -> bool:
    """Whether ``tls-exporter`` can be offered in this process; runs the one-time self-test (call at startup)."""
    return _exporter() is not None


@dataclass(slots=True)
class _Exporter:
    """OpenSSL functions resolved through ctypes, and the guarded way to reach an ``SSL *``."""

    export_keying_material: Callable[..., int]
    ssl_version: Callable[[int], int]
    ssl_is_server: Callable[[int], int]
    ssl_get_ssl_ctx: Callable[[int], int | None]
    warned: bool = field(default=False)

    def ssl_pointer(self, ssl_object: ssl.SSLObject | ssl.SSLSocket) -> int | None:
        """The ``SSL *`` behind ``ssl_object``, or None when any layout check fails."""
        inner: object = getattr(ssl_object, "_sslobj", None)
        inner_type = type(inner)
        if inner_type.__module__ != "_ssl" or inner_type.__name__ != "_SSLSocket":
            return None
        if inner_type.__basicsize__ < _CTX_OFFSET + _POINTER:
            return None
        context: object = getattr(inner, "context", None)
        if (
            not isinstance(context, ssl.SSLContext)
            or type(context).__basicsize__ < _SSL_CTX_OFFSET + _POINTER
        ):
            return None
        # Reads within the objects' own memory: safe whatever the layout; the values prove or refute it.
        if _read_pointer(inner, _CTX_OFFSET) != id(context):
            return None
        ssl_pointer = _read_pointer(inner, _SSL_OFFSET)
        ssl_ctx_pointer = _read_pointer(context, _SSL_CTX_OFFSET)
        if not ssl_pointer or not ssl_ctx_pointer or self.ssl_get_ssl_ctx(ssl_pointer) != ssl_ctx_pointer:
            return None
        return ssl_pointer

    def export(self, ssl_object: ssl.SSLObject | ssl.SSLSocket) -> bytes | None:
        pointer = self.ssl_pointer(ssl_object)
        if pointer is None:
            if not self.warned and getattr(ssl_object, "_sslobj", None) is not None:
                self.warned = True
                log.warning(
                    "tls-exporter: cannot reach the SSL object of a connection; not offering it there"
                )
            return None
        if self.ssl_version(pointer) != _TLS1_3_VERSION:
            return None
        return self.export_raw(pointer)

    def export_raw(self, pointer: int) -> bytes | None:
        out = ctypes.create_string_buffer(EXPORTER_LENGTH)
        # RFC 9266 section 2: a zero-length (present, not absent) context.
        result = self.export_keying_material(
            pointer, out, EXPORTER_LENGTH, EXPORTER_LABEL, len(EXPORTER_LABEL), b"", 0, 1
        )
        return out.raw if result == 1 else None


def _read_pointer(obj: object, offset: int) -> int:
    return ctypes.c_void_p.from_address(id(obj) + offset).value or 0


_exporter_lock = threading.Lock()
_exporter_state: list[_Exporter | None] = []  # empty until the self-test has run


def _exporter() -> _Exporter | None:
    if _exporter_state:
        return _exporter_state[0]
    with _exporter_lock:
        if not _exporter_state:
            exporter: _Exporter | None = None
            try:
                exporter = _load_exporter()
                problem = _self_test(exporter)
            except Exception as exc:  # anything at all: fall back, never break a connection
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                log.warning(
                    "tls-exporter channel binding unavailable (%s); offering tls-server-end-point", problem
                )
                exporter = None
            _exporter_state.append(exporter)
    return _exporter_state[0]


def _load_exporter() -> _Exporter:
    if sys.implementation.name != "cpython" or sys.version_info[:2] not in _LAYOUT_VERSIONS:
        raise RuntimeError(f"unknown _ssl layout on {sys.implementation.name} {sys.version_info[:2]}")
    import _ssl  # noqa: PLC0415  (only needed here)

    candidates = [path for path in [getattr(_ssl, "__file__", None)] if path] + _mapped_libssl()
    noload = getattr(os, "RTLD_NOLOAD", 0)  # only what the process already has: never load another OpenSSL
    for path in candidates:
        try:
            library = ctypes.PyDLL(path, mode=noload | ctypes.RTLD_LOCAL)  # PyDLL: the GIL stays held
            version_num = library.OpenSSL_version_num
            export = library.SSL_export_keying_material
            version = library.SSL_version
            is_server = library.SSL_is_server
            get_ssl_ctx = library.SSL_get_SSL_CTX
        except (OSError, AttributeError):
            continue
        version_num.argtypes = []
        version_num.restype = ctypes.c_ulong
        if version_num() != ssl.OPENSSL_VERSION_NUMBER:
            continue
        export.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_int,
        ]
        export.restype = ctypes.c_int
        for function in (version, is_server):
            function.argtypes = [ctypes.c_void_p]
            function.restype = ctypes.c_int
        get_ssl_ctx.argtypes = [ctypes.c_void_p]
        get_ssl_ctx.restype = ctypes.c_void_p
        return _Exporter(export, version, is_server, get_ssl_ctx)
    raise RuntimeError("SSL_export_keying_material not found in the OpenSSL that _ssl uses")


def _mapped_libssl() -> list[str]:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = (line.split(maxsplit=5)[-1] for line in maps.splitlines() if line.count(" ") >= 5)
    return list(dict.fromkeys(path for path in paths if Path(path).name.startswith("libssl")))


def _self_test(exporter: _Exporter) -> str | None:
    """Two in-memory TLS 1.3 handshakes; None when the exporter behaves, else what went wrong."""
    with tempfile.TemporaryDirectory(prefix="xmppd-tls-") as directory:
        cert_path, key_path = Path(directory) / "cert.pem", Path(directory) / "key.pem"
        ensure_self_signed(cert_path, key_path, ["localhost"])
        server = server_context(cert_path, key_path)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE  # a throwaway certificate; nothing here is secret
    client.minimum_version = ssl.TLSVersion.TLSv1_3
    results: list[bytes] = []
    for _ in range(2):
        for side in _handshake_in_memory(client, server):
            pointer = exporter.ssl_pointer(side)
            if pointer is None:
                return "the _ssl object layout is not the expected one"
            if exporter.ssl_version(pointer) != _TLS1_3_VERSION:
                return "SSL_version() disagrees with the handshake"
            if bool(exporter.ssl_is_server(pointer)) != side.server_side:
                return "SSL_is_server() disagrees with the handshake"
            value = exporter.export_raw(pointer)
            if value is None:
                return "SSL_export_keying_material() failed"
            results.append(value)
    if results[0] != results[1] or results[2] != results[3]:
        return "the two ends of a connection export different values"
    if results[0] == results[2] or results[0] == bytes(EXPORTER_LENGTH):
        return "two connections export the same value"
    return None


def _handshake_in_memory(
    client: ssl.SSLContext, server: ssl.SSLContext
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client_side = client.wrap_bio(client_in, client_out, server_side=False)
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    pending = [client_side, server_side]
    for _ in range(8):
        for side in list(pending):
            try:
                side.do_handshake()
                pending.remove(side)
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if not pending:
            return client_side, server_side
    raise RuntimeError("the in-memory TLS handshake did not complete")

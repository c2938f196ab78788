"""The register and login scenarios."""

from __future__ import annotations

from .client import register_account
from .common import Context, open_session_timed, run_pool
from .metrics import Window, latency_ms, per_cpu


async def register(ctx: Context, accounts: int, concurrency: int, offset: int = 0) -> dict[str, object]:
    """XEP-0077: create accounts offset .. offset + accounts - 1 (an existing account is no error)."""
    created = existed = 0

    async def job(j: int) -> None:
        nonlocal created, existed
        index = offset + j
        try:
            if await register_account(ctx.settings, index):
                created += 1
            else:
                existed += 1
        except Exception as exc:
            ctx.errors.add_exception(f"register {ctx.settings.bare_jid(index)}", exc)

    window = Window(ctx.server_pids)
    window.start()
    await run_pool(accounts, concurrency, job)
    window.stop()
    return {
        "scenario": "register",
        "accounts": accounts,
        "created": created,
        "existed": existed,
        "rate": round((created + existed) / window.wall, 2) if window.wall > 0 else None,
        **window.result(),
    }


async def login(
    ctx: Context, logins: int, concurrency: int, offset: int = 0, accounts: int | None = None
) -> dict[str, object]:
    """`logins` full logins (connect, TLS, SASL, bind) each followed by a clean close, `concurrency` at once.

    Login j uses account offset + j % accounts (accounts defaults to logins), with its own resource."""
    pool = accounts if accounts and accounts > 0 else logins
    latencies: list[int] = []

    async def job(j: int) -> None:
        index = offset + j % pool
        conn, elapsed = await open_session_timed(ctx, index, f"lg{j}")
        if conn is None:
            return
        latencies.append(elapsed)
        await conn.close()

    window = Window(ctx.server_pids)
    window.start()
    await run_pool(logins, concurrency, job)
    window.stop()
    ok = len(latencies)
    return {
        "scenario": "login",
        "logins": ok,
        "rate": round(ok / window.wall, 2) if window.wall > 0 else None,
        "latency_ms": latency_ms(latencies, (50, 99)),
        "logins_per_server_cpu_s": per_cpu(ok, window.server_cpu),
        "concurrency": concurrency,
        **window.result(),
    }

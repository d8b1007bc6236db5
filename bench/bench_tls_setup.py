"""Connection set-up time of security profiles 2 and 3 over loopback, next to plain TCP / ws://.

Two measures per profile, each over fresh connections to a server on 127.0.0.1 built from the demo PKI
(`security.demo_pki`, EC P-256 by default) with the station's contexts from `security.tls`:

* tls: TCP connect + TLS handshake, until the first application byte the server writes after the handshake
  (so with TLS 1.3 the server's check of the client certificate in profile 3 is inside the figure);
* ws:  the OCPP-J connection the station opens: TCP + TLS + HTTP upgrade (`websockets` connect, subprotocol
  ocpp1.6, Basic authentication header in profiles 1 and 2), until the WebSocket is open.

Run: .venv/bin/python bench/bench_tls_setup.py [--connections 300] [--key EC_P256|RSA_2048] [--tls12]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from ocpp_station.security.demo_pki import init_demo_pki, load_authority
from ocpp_station.security.pki import KeyType, build_csr, generate_key, write_private_key
from ocpp_station.security.tls import WHITEPAPER_CIPHERS_TLS12, profile2_context, profile3_context


def server_context(pki_dir: Path, *, mutual: bool, tls12: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki_dir / "central_system.pem", pki_dir / "central_system.key")
    if tls12:
        # A00.FR.317: the Central System supports the four whitepaper suites; with an RSA certificate the
        # station's list leaves only TLS_RSA_WITH_AES_*_GCM, which Python's default server list lacks.
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(":".join(WHITEPAPER_CIPHERS_TLS12))
    if mutual:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki_dir / "central_system_root.pem")
    return context


async def tcp_tls_times(context: ssl.SSLContext | None, server_ssl: ssl.SSLContext | None, count: int) -> list[float]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"!")
        await writer.drain()
        await reader.read()  # until the client closes
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ssl)
    port = server.sockets[0].getsockname()[1]
    times = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname="localhost" if context else None
            )
            await reader.readexactly(1)
            times.append(time.perf_counter() - start)
            writer.close()
            await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()
    return times


async def ws_times(
    context: ssl.SSLContext | None, server_ssl: ssl.SSLContext | None, count: int, basic: bool
) -> list[float]:
    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    headers = {}
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(b"CP-0001:0123456789abcdef0123").decode()
    times = []
    async with serve(handler, "127.0.0.1", 0, ssl=server_ssl, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        uri = f"{'wss' if context else 'ws'}://localhost:{port}/ocpp/CP-0001"
        for _ in range(count):
            start = time.perf_counter()
            async with connect(
                uri,
                ssl=context,
                subprotocols=[Subprotocol("ocpp1.6")],
                additional_headers=headers,
                host="127.0.0.1",
                port=port,
                server_hostname="localhost" if context else None,
            ):
                times.append(time.perf_counter() - start)
    return times


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(label: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(
        f"{label:<34} n={len(ms):<5} p50 {percentile(ms, 0.5):7.2f} ms   p99 {percentile(ms, 0.99):7.2f} ms"
        f"   mean {statistics.fmean(ms):7.2f} ms"
    )


async def main(count: int, key_type: KeyType, tls12: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pki = init_demo_pki(Path(tmp) / "pki", key_type=key_type)
        cpo = load_authority(pki.central_system_root, pki.central_system_root_key)
        station_key = generate_key(key_type)
        chain = Path(tmp) / "station.pem"
        chain.write_text(cpo.sign_csr(build_csr(station_key, serial_number="CP-0001", cpo_name="Demo CPO")))
        write_private_key(Path(tmp) / "station.key", station_key)
        roots = [pki.central_system_root.read_text()]
        p2 = profile2_context(roots)
        p3 = profile3_context(roots, chain, Path(tmp) / "station.key")
        one_way = server_context(pki.directory, mutual=False, tls12=tls12)
        mutual = server_context(pki.directory, mutual=True, tls12=tls12)

        runs: list[tuple[str, Callable[[int], Awaitable[list[float]]]]] = [
            ("tcp, no TLS (profile 0/1)", lambda n: tcp_tls_times(None, None, n)),
            ("tls profile 2 (server auth)", lambda n: tcp_tls_times(p2, one_way, n)),
            ("tls profile 3 (mutual)", lambda n: tcp_tls_times(p3, mutual, n)),
            ("ws:// open (profile 1)", lambda n: ws_times(None, None, n, basic=True)),
            ("wss:// open (profile 2)", lambda n: ws_times(p2, one_way, n, basic=True)),
            ("wss:// open (profile 3)", lambda n: ws_times(p3, mutual, n, basic=False)),
        ]
        print(f"{count} connections each, {key_type.value} keys, {'TLS 1.2' if tls12 else 'TLS 1.3'}, loopback")
        for label, run in runs:
            await run(10)  # warm-up: first-use costs stay out of the figures
            report(label, await run(count))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--key", choices=[k.value for k in KeyType], default=KeyType.EC_P256.value)
    parser.add_argument("--tls12", action="store_true", help="cap the server at TLS 1.2 (the whitepaper's suites)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.connections, KeyType(arguments.key), arguments.tls12))
    sys.exit(0)

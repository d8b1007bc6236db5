"""ocpp-station: the charging-station side of OCPP 1.6-J.

Layers (docs/DESIGN.md): `protocol` (OCPP-J framing and schemas) and `station` (the pure station: the hub, its
profiles, schedule maths, connector state) do no I/O; `hardware` holds the hardware ports and their
implementations; `stores` the store implementations; `shell` the asyncio shells (link, runtime, control API,
file transfer, CLI); `tools` the conformance harness and the fuzzer.
"""

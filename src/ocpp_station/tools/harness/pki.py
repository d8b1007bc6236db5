"""The tester's PKI for the Security cases (OCTT document §2.24): the harness is Central System AND Certificate
Authority (TC_074, TC_077: "the tool shall take on the role of both Central System and Certificate Authority
Server"). One throw-away demo PKI per case (`security.demo_pki.init_demo_pki`): the CPO root that signs the
server certificate and the station's CSRs, the manufacturer root and its firmware signing key.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ocpp_station.security.demo_pki import CertificateAuthority, DemoPki, init_demo_pki, load_authority
from ocpp_station.security.pki import PrivateKey, read_private_key
from ocpp_station.security.tls import server_context

CPO_NAME = "OCTT CPO"  # <The configured Vendor Name>: CpoName of TC_074 / TC_077
# <Configured AuthorizationKey>: 20 bytes, hex (TC_085: 20 to 40 hex characters, at least 16 bytes).
AUTHORIZATION_KEY = "4f435454436f6e666967757265644b6579303031"


class Tls(StrEnum):
    NONE = "none"  # ws:// (security profiles 0 and 1)
    SERVER = "server"  # wss://, server certificate only (profile 2)
    MUTUAL = "mutual"  # wss://, a client certificate required (profile 3)
    # ws:// and wss:// on one port, a client certificate asked for but optional: TC_083 upgrades from 1 to 2 or
    # from 2 to 3 against it.
    EITHER = "either"


@dataclass(frozen=True, slots=True)
class SecuritySetup:
    """How a Security case's bench is set up before the station is powered on."""

    profile: int  # the SecurityProfile the station runs with
    tls: Tls
    enrol: bool = False  # a Charge Point certificate signed by the harness CA is installed (profile 3)
    manufacturer_root: bool = False  # the harness's ManufacturerRootCertificate is installed (TC_080, TC_081)


@dataclass(frozen=True, slots=True)
class HarnessPki:
    files: DemoPki
    cpo: CertificateAuthority
    maker: CertificateAuthority
    signing_key: PrivateKey
    signing_certificate: str  # PEM

    @classmethod
    def create(cls, directory: Path) -> HarnessPki:
        files = init_demo_pki(directory, cpo_name=CPO_NAME, manufacturer="OCTT Manufacturer")
        return cls(
            files,
            load_authority(files.central_system_root, files.central_system_root_key),
            load_authority(files.manufacturer_root, files.manufacturer_root_key),
            read_private_key(files.firmware_signing_key),
            files.firmware_signing_certificate.read_text(encoding="ascii"),
        )

    def server_context(self, tls: Tls) -> ssl.SSLContext | None:
        if tls is Tls.NONE:
            return None
        roots = [] if tls is Tls.SERVER else [self.cpo.pem]
        return server_context(
            self.files.central_system_certificate,
            self.files.central_system_key,
            client_roots=roots,
            require_client=tls is Tls.MUTUAL,
        )

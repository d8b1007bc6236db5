"""A throw-away PKI for the demo, the harness and the tests: the CPO root that signs the Central System's
server certificate and the stations' CSRs, and the manufacturer root that signs the firmware signing key.

`init_demo_pki(DIR)` is what `ocpp-station pki init DIR` runs; `sign_firmware_image` is what
`ocpp-station firmware-image --sign KEY --cert CERT` runs. Never use these keys in production: they are
written unencrypted (owner-only) so that a demo needs no passphrase.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ocpp_station.security.firmware_signature import SignatureStatus, verify_signature
from ocpp_station.security.pki import (
    KeyType,
    PrivateKey,
    certificate_pem,
    generate_key,
    parse_certificate,
    public_key_der,
    read_private_key,
    write_private_key,
)

DAY = timedelta(days=1)
# A00.FR.701 asks for fast expiration of the Central System certificate in the field; a demo server
# certificate that lapses after a day would only make the demo fail tomorrow, so these last a year.
DEFAULT_VALIDITY = 365 * DAY


def _name(common_name: str, organization: str) -> x509.Name:
    # A00.FR.509: O = the owner's organization; A00.FR.510/511: CN = FQDN or serial number.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def _key_usage(*, ca: bool, key_agreement: bool = False) -> x509.KeyUsage:
    # A00.FR.512: key usage restricted to what the certificate is for.
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=key_agreement,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: PrivateKey

    @classmethod
    def new_root(
        cls,
        common_name: str,
        organization: str,
        *,
        key_type: KeyType = KeyType.EC_P256,
        not_before: datetime | None = None,
        validity: timedelta = 10 * DEFAULT_VALIDITY,
    ) -> CertificateAuthority:
        key = generate_key(key_type)
        start = not_before or datetime.now(UTC) - DAY
        name = _name(common_name, organization)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())  # A00.FR.508
            .not_valid_before(start)
            .not_valid_after(start + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key)

    @property
    def pem(self) -> str:
        return certificate_pem(self.certificate)

    def issue(
        self,
        subject: x509.Name,
        public_key: object,
        *,
        ca: bool = False,
        server_names: Sequence[str] = (),
        client: bool = False,
        code_signing: bool = False,
        not_before: datetime | None = None,
        validity: timedelta = DEFAULT_VALIDITY,
        serial_number: int | None = None,
    ) -> x509.Certificate:
        """A certificate for `public_key` signed by this CA (A00.FR.505: ECDSA or RSA with SHA-256)."""
        start = not_before or datetime.now(UTC) - DAY
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(serial_number or x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + validity)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(_key_usage(ca=ca, key_agreement=not ca), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.certificate.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        usages = [
            oid
            for wanted, oid in (
                (bool(server_names), ExtendedKeyUsageOID.SERVER_AUTH),
                (client, ExtendedKeyUsageOID.CLIENT_AUTH),
                (code_signing, ExtendedKeyUsageOID.CODE_SIGNING),
            )
            if wanted
        ]
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        if server_names:
            names = x509.SubjectAlternativeName([_general_name(n) for n in server_names])
            builder = builder.add_extension(names, critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def sign_csr(self, csr_pem: str, *, validity: timedelta = DEFAULT_VALIDITY) -> str:
        """The CA side of SignCertificate → CertificateSigned (A02 steps 6–8): a client certificate with the
        CSR's subject, returned as the PEM certificateChain (leaf only: this CA is the installed root)."""
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
        if not csr.is_signature_valid:
            raise ValueError("the CSR's signature does not verify")
        certificate = self.issue(csr.subject, csr.public_key(), client=True, validity=validity)
        return certificate_pem(certificate)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_public(path: Path, text: str) -> None:
    path.write_text(text, encoding="ascii")


@dataclass(frozen=True, slots=True)
class DemoPki:
    """The files `init_demo_pki` wrote."""

    directory: Path
    central_system_root: Path  # install as CentralSystemRootCertificate on the station
    central_system_root_key: Path  # the CA key: signs the stations' CSRs
    central_system_certificate: Path  # the server certificate chain (server cert + root)
    central_system_key: Path
    manufacturer_root: Path  # install as ManufacturerRootCertificate on the station
    manufacturer_root_key: Path
    firmware_signing_certificate: Path  # FirmwareType.signingCertificate
    firmware_signing_key: Path


def init_demo_pki(
    directory: Path,
    *,
    server_names: Sequence[str] = ("localhost", "127.0.0.1"),
    cpo_name: str = "Demo CPO",
    manufacturer: str = "Demo Manufacturer",
    key_type: KeyType = KeyType.EC_P256,
) -> DemoPki:
    """Create DIR with the demo PKI as PEM files, every private key 0600."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    cpo = CertificateAuthority.new_root(f"{cpo_name} Root CA", cpo_name, key_type=key_type)
    server_key = generate_key(key_type)
    # A00.FR.510: CN = the server's FQDN; the SANs cover localhost and 127.0.0.1 (A00.FR.511 note).
    server = cpo.issue(_name(server_names[0], cpo_name), server_key.public_key(), server_names=server_names)
    maker = CertificateAuthority.new_root(f"{manufacturer} Root CA", manufacturer, key_type=key_type)
    signing_key = generate_key(key_type)
    # L01 remark: no intermediate certificates between the manufacturer root and the signing certificate.
    signing_name = _name(f"{manufacturer} Firmware Signing", manufacturer)
    signing = maker.issue(signing_name, signing_key.public_key(), code_signing=True)

    pki = DemoPki(
        directory,
        directory / "central_system_root.pem",
        directory / "central_system_root.key",
        directory / "central_system.pem",
        directory / "central_system.key",
        directory / "manufacturer_root.pem",
        directory / "manufacturer_root.key",
        directory / "firmware_signing.pem",
        directory / "firmware_signing.key",
    )
    _write_public(pki.central_system_root, cpo.pem)
    write_private_key(pki.central_system_root_key, cpo.key)
    _write_public(pki.central_system_certificate, certificate_pem(server) + cpo.pem)
    write_private_key(pki.central_system_key, server_key)
    _write_public(pki.manufacturer_root, maker.pem)
    write_private_key(pki.manufacturer_root_key, maker.key)
    _write_public(pki.firmware_signing_certificate, certificate_pem(signing))
    write_private_key(pki.firmware_signing_key, signing_key)
    return pki


def load_authority(certificate_path: Path, key_path: Path) -> CertificateAuthority:
    certificate = parse_certificate(certificate_path.read_text(encoding="ascii"))
    return CertificateAuthority(certificate, read_private_key(key_path))


# --- firmware signing (L01) -----------------------------------------------------------------------------------


def sign_firmware(image: bytes, key: PrivateKey) -> str:
    """The base64 FirmwareType.signature over the whole image with SHA-256 (L01.FR.04): RSA-PSS for an RSA
    key (salt as long as the digest, what `openssl dgst -sigopt rsa_padding_mode:pss` makes), ECDSA (DER)
    for an EC key."""
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        signature = key.sign(image, pss, hashes.SHA256())
    else:
        signature = key.sign(image, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode("ascii")


@dataclass(frozen=True, slots=True)
class SignedFirmware:
    signature: str  # FirmwareType.signature
    signing_certificate: str  # FirmwareType.signingCertificate (PEM)


def sign_firmware_image(image: Path, key_path: Path, certificate_path: Path) -> SignedFirmware:
    """`firmware-image --sign KEY --cert CERT`: sign the image and check the signature with the certificate,
    so a key that does not belong to the certificate fails here rather than on every station."""
    key = read_private_key(key_path)
    certificate = parse_certificate(certificate_path.read_text(encoding="ascii"))
    if public_key_der(key) != public_key_der(certificate):
        raise ValueError(f"{key_path} is not the key of {certificate_path}")
    data = image.read_bytes()
    signature = sign_firmware(data, key)
    if verify_signature(data, signature, certificate).status is not SignatureStatus.SIGNATURE_VERIFIED:
        raise ValueError("the new signature does not verify")  # pragma: no cover - a cryptography bug
    return SignedFirmware(signature, certificate_pem(certificate))

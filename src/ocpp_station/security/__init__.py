"""Pure building blocks of the OCPP 1.6 Security Whitepaper (edition 3) for the security profile.

Nothing here touches the network, the station or its store: keys, CSRs and certificate chains (`pki`), the
root-certificate store logic (`certificates`), signed firmware (`firmware_signature`), client TLS contexts
(`tls`), security events (`events`) and a demo PKI (`demo_pki`).
"""

"""The central-system-side conformance harness: OCTT 1.6's role, with the station under test.

`csms.ScriptedCsms` is the scripted Central System, `states` the reusable/memory/configuration states
of the OCTT test case document, `cases` the cases (immutable registry), `runner.certify` the run with
the certificate-shaped report.
"""

"""Tools around the station: the conformance harness (OCTT role) and the schema-aware fuzzer."""
